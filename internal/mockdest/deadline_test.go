package mockdest

import (
	"runtime"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

// hugeHeader is a frame header announcing the largest payload mockdest
// accepts.
func hugeHeader(seq uint64) []byte {
	return wire.AppendHeader(nil, wire.Header{Seq: seq, Count: 1, PayloadLen: wire.DefaultMaxPayload, Reason: wire.ReasonSize})
}

// TestFrameTimeout: a frame that has started but does not arrive whole
// within the frame timeout closes its connection and is counted; a
// connection idle between frames for longer stays open, and a frame sent
// in pieces that arrives in time is recorded.
func TestFrameTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	s := startServer(t, Config{FrameTimeout: timeout})

	idle, stalled, slow := dial(t, s), dial(t, s), dial(t, s)
	f := frame(wire.Header{Seq: 1}, seqMsgs(0, 1, 3)...)
	write(t, stalled, f[:wire.HeaderSize+10])
	start := time.Now()
	write(t, slow, f[:10])
	time.Sleep(timeout / 3)
	write(t, slow, f[10:wire.HeaderSize+10])
	time.Sleep(timeout / 3)
	write(t, slow, f[wire.HeaderSize+10:])
	if a := readAcks(t, slow, 1)[0]; a != (wire.Ack{Seq: 1, Status: wire.AckOK}) {
		t.Errorf("slow frame: got %+v want ok for seq 1", a)
	}
	expectClosed(t, stalled)
	if el := time.Since(start); el < timeout*9/10 {
		t.Errorf("stalled frame's connection closed after %v, want ≥ %v", el, timeout)
	}
	waitFor(t, "the stalled frame counted", func() bool { return s.Snapshot().FramesTimedOut == 1 })

	// idle has sent nothing for longer than the timeout: it is still open.
	time.Sleep(timeout - time.Since(start) + timeout/2)
	write(t, idle, frame(wire.Header{Seq: 2}, seqMsgs(1, 1, 2)...))
	if a := readAcks(t, idle, 1)[0]; a != (wire.Ack{Seq: 2, Status: wire.AckOK}) {
		t.Errorf("idle connection: got %+v want ok for seq 2", a)
	}
	snap := s.Snapshot()
	if snap.FramesTimedOut != 1 || snap.Batches != 2 || snap.ProtocolErrors != 0 {
		t.Errorf("got %d timed out, %d batches, %d protocol errors; want 1 2 0",
			snap.FramesTimedOut, snap.Batches, snap.ProtocolErrors)
	}
}

// TestHeadersAloneCostLittle: many connections each sending only a header
// that announces 64 MiB make mockdest allocate a small, bounded amount per
// connection, not the announced payloads; the frame timeout then closes
// them.
func TestHeadersAloneCostLittle(t *testing.T) {
	const conns = 30
	s := startServer(t, Config{FrameTimeout: 300 * time.Millisecond})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range conns {
		write(t, dial(t, s), hugeHeader(uint64(i+1)))
	}
	// (Polling the counter itself: a Snapshot would allocate.)
	waitFor(t, "every announced frame timed out", func() bool { return s.framesTimedOut.Load() == conns })
	runtime.ReadMemStats(&after)
	// Per connection: the 256 KiB read buffer and the first 64 KiB of
	// payload buffer, plus the connection's own bookkeeping.
	const limit = conns * (frameReadBuffer + 64<<10 + 64<<10)
	if got := after.TotalAlloc - before.TotalAlloc; got > limit {
		t.Errorf("%d headers announcing %d MiB each: allocated %d MiB, want ≤ %d MiB",
			conns, wire.DefaultMaxPayload>>20, got>>20, limit>>20)
	}
}
