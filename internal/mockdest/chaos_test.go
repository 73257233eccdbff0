package mockdest

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

// TestNack: a nacked frame is not recorded, and neither is anything after
// it on that connection (the relay resends it all on a new one).
func TestNack(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{NackRate: 1})
	c := dial(t, s)
	write(t, c, frame(wire.Header{Seq: 1}, seqMsgs(0, 1, 5)...))
	write(t, c, frame(wire.Header{Seq: 2}, seqMsgs(0, 6, 9)...))
	if a := readAcks(t, c, 1)[0]; a != (wire.Ack{Seq: 1, Status: wire.AckNack}) {
		t.Errorf("got %+v want a nack of seq 1", a)
	}
	waitFor(t, "the frame after the nack ignored", func() bool { return s.Snapshot().Misbehaviour.FramesIgnored == 1 })
	snap := s.Snapshot()
	if snap.Misbehaviour.Nacks != 1 || snap.Batches != 0 || snap.Messages != 0 || snap.Streams.Distinct != 0 {
		t.Errorf("got nacks %d batches %d messages %d distinct %d, want 1 0 0 0",
			snap.Misbehaviour.Nacks, snap.Batches, snap.Messages, snap.Streams.Distinct)
	}
}

// TestNackFraction sends frames as the relay does, reconnecting and
// resending after a nack: about the configured fraction is nacked, every
// frame is recorded once and in order.
func TestNackFraction(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{NackRate: 0.3, Seed: 7})
	const n = 300
	c := dial(t, s)
	attempts, nacks := 0, 0
	for i := 1; i <= n; {
		write(t, c, frame(wire.Header{Seq: uint64(i)}, seqMsgs(0, uint64(i), uint64(i))...))
		attempts++
		if readAcks(t, c, 1)[0].Status == wire.AckNack {
			nacks++
			c.Close()
			c = dial(t, s)
			continue
		}
		i++
	}
	snap := s.Snapshot()
	frac := float64(nacks) / float64(attempts)
	if frac < 0.2 || frac > 0.4 || snap.Misbehaviour.Nacks != uint64(nacks) || snap.Batches != n {
		t.Errorf("got %d of %d frames nacked (%.2f), %d counted, %d batches recorded; want ≈ 0.3, consistent, %d",
			nacks, attempts, frac, snap.Misbehaviour.Nacks, snap.Batches, n)
	}
	if st := snap.Streams; st.Distinct != n || st.Reordered != 0 || st.Duplicates != 0 || st.Missing != 0 {
		t.Errorf("streams: %+v; want %d distinct in order", st, n)
	}
}

func TestNoAck(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{NoAckRate: 1})
	c := dial(t, s)
	write(t, c, frame(wire.Header{Seq: 1}, seqMsgs(0, 1, 5)...))
	write(t, c, frame(wire.Header{Seq: 2}, seqMsgs(0, 6, 9)...))
	waitFor(t, "second frame ignored", func() bool { return s.Snapshot().Misbehaviour.FramesIgnored == 1 })
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	var b [1]byte
	_, err := c.Read(b[:])
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("read: got %v, want a timeout (no acknowledgement)", err)
	}
	snap := s.Snapshot()
	if snap.Misbehaviour.AcksDropped != 1 || snap.Batches != 1 || snap.Messages != 5 {
		t.Errorf("got acks dropped %d batches %d messages %d, want 1 1 5 (first recorded, second ignored)",
			snap.Misbehaviour.AcksDropped, snap.Batches, snap.Messages)
	}
}

func TestCloseRate(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{CloseRate: 1})
	c := dial(t, s)
	write(t, c, frame(wire.Header{Seq: 1}, seqMsgs(0, 1, 5)...))
	expectClosed(t, c)
	snap := s.Snapshot()
	if snap.Misbehaviour.ConnsClosed != 1 || snap.Batches != 0 {
		t.Errorf("got conns closed %d batches %d, want 1 0", snap.Misbehaviour.ConnsClosed, snap.Batches)
	}
}

func TestCloseRateAcksEarlierFrames(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{CloseRate: 0.5, Seed: 3})
	c := dial(t, s)
	var seq uint64
	acked := 0
	for {
		seq++
		write(t, c, frame(wire.Header{Seq: seq}, seqMsgs(0, seq, seq)...))
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var scratch [wire.AckSize]byte
		a, err := wire.ReadAck(c, &scratch)
		if err != nil {
			break // closed on this frame
		}
		if a.Seq != seq {
			t.Fatalf("ack: got seq %d want %d", a.Seq, seq)
		}
		acked++
	}
	snap := s.Snapshot()
	if snap.Batches != uint64(acked) || snap.Misbehaviour.ConnsClosed != 1 {
		t.Errorf("got %d batches recorded, %d acked, %d closes; want recorded = acked, 1 close",
			snap.Batches, acked, snap.Misbehaviour.ConnsClosed)
	}
}

func TestAckDelay(t *testing.T) {
	t.Parallel()
	const delay = 80 * time.Millisecond
	s := startServer(t, Config{AckDelay: delay, AckJitter: 20 * time.Millisecond, Seed: 5})
	c := dial(t, s)
	start := time.Now()
	const n = 30
	for i := range n {
		write(t, c, frame(wire.Header{Seq: uint64(i + 1)}, seqMsgs(0, uint64(i+1), uint64(i+1))...))
	}
	first := readAcks(t, c, 1)
	if el := time.Since(start); el < delay {
		t.Errorf("first ack after %v, want ≥ %v", el, delay)
	}
	acks := append(first, readAcks(t, c, n-1)...)
	for i, a := range acks {
		if a.Seq != uint64(i+1) || a.Status != wire.AckOK {
			t.Fatalf("ack %d: got %+v want seq %d ok, in order", i, a, i+1)
		}
	}
	// One after another they would take n × delay = 2.4 s; the tight bound
	// is TestAckDelayTiming's.
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("%d delayed acks took %v: they should overlap, not add up", n, el)
	}
	snap := s.Snapshot()
	if snap.Misbehaviour.AcksDelayed != n || snap.Batches != n {
		t.Errorf("got acks delayed %d batches %d, want %d %d", snap.Misbehaviour.AcksDelayed, snap.Batches, n, n)
	}
}

func TestAckDelayDrainsAtEOF(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{AckDelay: 30 * time.Millisecond})
	c := dial(t, s)
	write(t, c, frame(wire.Header{Seq: 1}, seqMsgs(0, 1, 1)...))
	write(t, c, frame(wire.Header{Seq: 2}, seqMsgs(0, 2, 2)...))
	_ = c.(*net.TCPConn).CloseWrite() // a sender that is done but waits for its acks
	if acks := readAcks(t, c, 2); acks[1].Seq != 2 {
		t.Errorf("acks: got %+v", acks)
	}
}

func TestDown(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{DownFor: 200 * time.Millisecond, DownEvery: 400 * time.Millisecond})
	c := dial(t, s)
	write(t, c, frame(wire.Header{Seq: 1}, seqMsgs(0, 1, 1)...))
	readAcks(t, c, 1)
	// Going down closes the open connection.
	expectClosed(t, c)
	snap := s.Snapshot()
	if snap.Misbehaviour.DownPeriods != 1 || snap.Misbehaviour.DownClosed != 1 {
		t.Errorf("got down periods %d down closed %d, want 1 1", snap.Misbehaviour.DownPeriods, snap.Misbehaviour.DownClosed)
	}
	// While down, new connections are closed at once.
	// (The reset may even reach the dialer before connect returns.)
	if c2, err := net.Dial("tcp", s.Addr().String()); err == nil {
		_ = c2.SetReadDeadline(time.Now().Add(5 * time.Second))
		var b [1]byte
		if _, err := c2.Read(b[:]); err == nil {
			t.Errorf("read on a connection made while down: got nil error, want closed")
		}
		c2.Close()
	}
	waitFor(t, "a refused connection counted", func() bool { return s.Snapshot().Misbehaviour.ConnsRefused >= 1 })
	// Then it comes back up.
	waitFor(t, "up again", func() bool { return !s.down.Load() })
	c3 := dial(t, s)
	write(t, c3, frame(wire.Header{Seq: 2}, seqMsgs(0, 2, 2)...))
	readAcks(t, c3, 1)
}

func TestReadBandwidth(t *testing.T) {
	t.Parallel()
	const bps = 200_000
	s := startServer(t, Config{ReadBytesPerSec: bps})
	c := dial(t, s)
	var all []byte
	for i := range 40 {
		all = append(all, frame(wire.Header{Seq: uint64(i + 1)}, seqMsgs(0, uint64(i*10+1), uint64(i*10+10))...)...)
	}
	start := time.Now()
	write(t, c, all)
	readAcks(t, c, 40)
	el := time.Since(start)
	// The first 50 ms of bandwidth is read at once; the rest is paced.
	if min := time.Duration(float64(len(all)-bps/20) / bps * float64(time.Second)); el < min*9/10 {
		t.Errorf("%d bytes at %d B/s read in %v, want ≥ %v", len(all), bps, el, min)
	}
	if n := s.Snapshot().Misbehaviour.ReadThrottled; n == 0 {
		t.Error("read throttled: got 0 want > 0")
	}
}
