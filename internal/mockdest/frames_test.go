package mockdest

import (
	"errors"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

func TestFramesExactCounts(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{})
	c := dial(t, s)
	now := time.Now().UnixNano()
	type batch struct {
		reason wire.Reason
		n      int
		ageMs  int64
	}
	batches := []batch{
		{wire.ReasonSize, 100, 5}, {wire.ReasonSize, 100, 5}, {wire.ReasonSize, 100, 5},
		{wire.ReasonAge, 1, 10_000}, {wire.ReasonAge, 7, 10_000}, {wire.ReasonAge, 7, 10_001},
		{wire.ReasonShutdown, 3, 2}, {wire.ReasonBytes, 50, 1},
	}
	var seq, q uint64
	var wantBytes uint64
	for _, b := range batches {
		seq++
		msgs := seqMsgs(0, q+1, q+uint64(b.n))
		q += uint64(b.n)
		f := frame(wire.Header{Seq: seq, Reason: b.reason, OldestNs: now - b.ageMs*1e6, FlushNs: now}, msgs...)
		wantBytes += uint64(len(f) - wire.HeaderSize)
		write(t, c, f)
	}
	acks := readAcks(t, c, len(batches))
	for i, a := range acks {
		if a != (wire.Ack{Seq: uint64(i + 1), Status: wire.AckOK}) {
			t.Errorf("ack %d: got %+v want seq %d ok", i, a, i+1)
		}
	}
	if p := s.Progress(); p != (Progress{Batches: 8, Messages: q, Distinct: q, ConnsOpen: 1}) {
		t.Errorf("progress: got %+v want 8 batches, %d messages and distinct, 1 open", p, q)
	}
	snap := s.Snapshot()
	if snap.Batches != 8 || snap.Messages != q || snap.Bytes != wantBytes || snap.MaxBatchSize != 100 {
		t.Errorf("got batches %d messages %d bytes %d max %d, want 8 %d %d 100",
			snap.Batches, snap.Messages, snap.Bytes, snap.MaxBatchSize, q, wantBytes)
	}
	for reason, want := range map[string]string{"size": "100×3 ", "age": "1×1 7×2 ", "shutdown": "3×1 ", "bytes": "50×1 "} {
		if got := sizes(snap.BatchSizes, reason); got != want {
			t.Errorf("batch sizes %s: got %q want %q", reason, got, want)
		}
	}
	if got := snap.BatchSizes["size"]; len(got) != 101 {
		t.Errorf("len(BatchSizes[size]): got %d want 101 (index = size)", len(got))
	}
	age := snap.BatchAge["age"]
	if age.TotalCount() != 3 || age.Min() < 9_990_000 || age.Max() > 10_020_000 {
		t.Errorf("age histogram: got n=%d min=%d max=%d µs, want 3 values ≈ 10 s", age.TotalCount(), age.Min(), age.Max())
	}
	if n := snap.BatchAge["size"].TotalCount(); n != 3 {
		t.Errorf("size-reason age count: got %d want 3", n)
	}
	if snap.Streams.Distinct != q || snap.Streams.Missing != 0 || snap.Streams.Streams != 1 {
		t.Errorf("streams: got %+v want %d distinct, 0 missing, 1 stream", snap.Streams, q)
	}
	if snap.Latency.TotalCount() != int64(q) {
		t.Errorf("latency count: got %d want %d", snap.Latency.TotalCount(), q)
	}
	if snap.ConnsAccepted != 1 || snap.Mode != ModeFrames {
		t.Errorf("got conns %d mode %q, want 1 frames", snap.ConnsAccepted, snap.Mode)
	}
	var tp uint64
	for _, p := range snap.Throughput {
		tp += p.Messages
	}
	if tp != q {
		t.Errorf("throughput series sums to %d messages, want %d", tp, q)
	}
}

func TestFramesLatency(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{})
	c := dial(t, s)
	sent := time.Now().Add(-250 * time.Millisecond).UnixNano()
	write(t, c, frame(wire.Header{Seq: 1}, msg(1, 1, sent, 200), msg(1, 2, sent, 200)))
	readAcks(t, c, 1)
	l := s.Snapshot().Latency
	if l.TotalCount() != 2 || l.Min() < 249_000 || l.Max() > 5_250_000 {
		t.Errorf("latency: got n=%d min=%d max=%d µs, want 2 values ≥ 250 ms (within a bucket)", l.TotalCount(), l.Min(), l.Max())
	}
}

func TestFramesStreamChecks(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{})
	c := dial(t, s)
	var msgs [][]byte
	for _, q := range []uint64{3, 4, 5, 7, 6, 6, 9} { // gap 1-2 at start; 6 late; 6 again; gap 8
		msgs = append(msgs, seqMsgs(0, q, q)...)
	}
	msgs = append(msgs, seqMsgs(1, 1, 10)...)
	msgs = append(msgs, []byte("a foreign line"), []byte("lr1:broken"), []byte(""))
	write(t, c, frame(wire.Header{Seq: 1}, msgs[:5]...))
	write(t, c, frame(wire.Header{Seq: 2}, msgs[5:]...))
	readAcks(t, c, 2)

	snap := s.Snapshot()
	st := snap.Streams
	want := StreamTotals{Streams: 2, Distinct: 16, Missing: 3, Duplicates: 1, Reordered: 1, Foreign: 3,
		GapExamples: []Gap{{0, wire.SeqRange{From: 1, To: 2}}, {0, wire.SeqRange{From: 8, To: 8}}}}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("stream totals:\n got %+v\nwant %+v", st, want)
	}
	if snap.Messages != 20 {
		t.Errorf("messages: got %d want 20 (foreign lines count)", snap.Messages)
	}
	for _, tt := range []struct {
		stream uint32
		upTo   uint64
		want   []wire.SeqRange
	}{
		{0, 12, []wire.SeqRange{{From: 1, To: 2}, {From: 8, To: 8}, {From: 10, To: 12}}}, // gap at the end
		{1, 10, nil},
		{1, 11, []wire.SeqRange{{From: 11, To: 11}}},
		{7, 3, []wire.SeqRange{{From: 1, To: 3}}}, // never seen
	} {
		if got := s.MissingRanges(tt.stream, tt.upTo); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("MissingRanges(%d, %d): got %v want %v", tt.stream, tt.upTo, got, tt.want)
		}
	}
	if len(snap.StreamDetails) != 1 || snap.StreamDetails[0].ID != 0 || snap.StreamDetails[0].Reordered != 1 {
		t.Errorf("stream details: got %+v want only stream 0", snap.StreamDetails)
	}
}

func TestFramesDuplicateBatch(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{})
	now := time.Now().UnixNano()
	f1 := frame(wire.Header{Seq: 1, OldestNs: now - 1e6, FlushNs: now}, seqMsgs(0, 1, 10)...)
	f2 := frame(wire.Header{Seq: 2, OldestNs: now - 1e6, FlushNs: now + 1}, seqMsgs(0, 11, 15)...)
	c := dial(t, s)
	write(t, c, append(f1, f2...))
	readAcks(t, c, 2)
	c.Close()
	// The relay reconnects and resends both: acknowledged, counted as resent.
	c2 := dial(t, s)
	write(t, c2, append(f1, f2...))
	if acks := readAcks(t, c2, 2); acks[0].Seq != 1 || acks[1].Seq != 2 || acks[1].Status != wire.AckOK {
		t.Errorf("acks of resent frames: got %+v", acks)
	}
	snap := s.Snapshot()
	if snap.Batches != 2 || snap.Messages != 15 || snap.DuplicateBatches != 2 || snap.ResentMessages != 15 ||
		snap.Streams.Duplicates != 0 || snap.Streams.Distinct != 15 {
		t.Errorf("got batches %d messages %d dup batches %d resent %d stream dups %d distinct %d, want 2 15 2 15 0 15",
			snap.Batches, snap.Messages, snap.DuplicateBatches, snap.ResentMessages, snap.Streams.Duplicates, snap.Streams.Distinct)
	}
	if got := sizes(snap.BatchSizes, "size"); got != "5×1 10×1 " {
		t.Errorf("batch sizes: got %q want duplicates excluded", got)
	}
	// A restarted relay numbers from 1 again with later flush times: new batches.
	f3 := frame(wire.Header{Seq: 1, OldestNs: now, FlushNs: now + 1e9}, seqMsgs(0, 16, 17)...)
	write(t, c2, f3)
	readAcks(t, c2, 1)
	snap = s.Snapshot()
	if snap.Batches != 3 || snap.SenderRestarts != 1 || snap.DuplicateBatches != 2 || snap.Streams.Distinct != 17 {
		t.Errorf("after restart: got batches %d restarts %d dup batches %d distinct %d, want 3 1 2 17",
			snap.Batches, snap.SenderRestarts, snap.DuplicateBatches, snap.Streams.Distinct)
	}
}

func TestFramesProtocolError(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{})
	c := dial(t, s)
	write(t, c, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n0123456789012345678901234567890123456789"))
	expectClosed(t, c)
	waitFor(t, "protocol error counted", func() bool { return s.Snapshot().ProtocolErrors == 1 })
	if n := s.Snapshot().Batches; n != 0 {
		t.Errorf("batches: got %d want 0", n)
	}
}

func TestFramesManyConnections(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{})
	const conns, frames, per = 8, 20, 50
	errc := make(chan error, conns)
	for i := range conns {
		go func() {
			c, err := net.Dial("tcp", s.Addr().String())
			if err != nil {
				errc <- err
				return
			}
			defer c.Close()
			for f := range frames {
				q := uint64(f*per + 1)
				seq := uint64(i*frames + f + 1)
				if _, err := c.Write(frame(wire.Header{Seq: seq}, seqMsgs(uint32(i), q, q+per-1)...)); err != nil {
					errc <- err
					return
				}
			}
			var scratch [wire.AckSize]byte
			for range frames {
				if a, err := wire.ReadAck(c, &scratch); err != nil || a.Status != wire.AckOK {
					errc <- errors.Join(err, errors.New("bad ack"))
					return
				}
			}
			errc <- nil
		}()
	}
	for range conns {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	snap := s.Snapshot()
	if snap.Batches != conns*frames || snap.Streams.Distinct != conns*frames*per || snap.Streams.Missing != 0 {
		t.Errorf("got batches %d distinct %d missing %d, want %d %d 0",
			snap.Batches, snap.Streams.Distinct, snap.Streams.Missing, conns*frames, conns*frames*per)
	}
}

// TestAckNotHeldByPartialFrame checks that an acknowledgement is written
// while the next frame is still incomplete: a sender may wait for it before
// sending the rest.
func TestAckNotHeldByPartialFrame(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{})
	c := dial(t, s)
	f1 := frame(wire.Header{Seq: 1}, seqMsgs(0, 1, 3)...)
	f2 := frame(wire.Header{Seq: 2}, seqMsgs(0, 4, 6)...)
	write(t, c, append(f1, f2[:wire.HeaderSize+20]...))
	if a := readAcks(t, c, 1); a[0].Seq != 1 {
		t.Fatalf("ack: got %+v want seq 1", a[0])
	}
	write(t, c, f2[wire.HeaderSize+20:])
	if a := readAcks(t, c, 1); a[0].Seq != 2 {
		t.Fatalf("ack: got %+v want seq 2", a[0])
	}
}
