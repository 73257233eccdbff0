package mockdest

import (
	"bytes"
	"runtime"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

const (
	benchBatch   = 100 // messages per frame, the relay's default batch size
	benchMsgSize = 200 // bytes per message, newline excluded
	benchRing    = 256 // frames built once and re-sent with new numbers
)

// benchFrames builds benchRing frames of benchBatch stamped messages of
// benchMsgSize bytes: message j of frame f belongs to stream j with seq f+1.
// It returns the frames and, for each, the offsets of the stamps' seq fields.
func benchFrames() ([][]byte, [][]int) {
	frames := make([][]byte, benchRing)
	offs := make([][]int, benchRing)
	now := time.Now().UnixNano()
	for f := range frames {
		msgs := make([][]byte, benchBatch)
		for j := range msgs {
			msgs[j] = msg(uint32(j), uint64(f+1), now, benchMsgSize)
		}
		frames[f] = frame(wire.Header{Seq: uint64(f + 1), Reason: wire.ReasonSize, OldestNs: now - 1e6, FlushNs: now}, msgs...)
		for i := 0; ; {
			k := bytes.Index(frames[f][i:], []byte(wire.StampPrefix))
			if k < 0 {
				break
			}
			i += k
			offs[f] = append(offs[f], i+13) // the 16-digit seq field
			i += wire.StampLen
		}
	}
	return frames, offs
}

// renumber advances frame f's batch seq and its stamps' seqs by d, in place.
func renumber(fr []byte, offs []int, d uint64) {
	h, _ := wire.ParseHeader(fr)
	h.Seq += d
	wire.PutHeader(fr, h)
	for _, o := range offs {
		addDecimal(fr[o:o+16], d)
	}
}

// addDecimal adds d to the fixed-width decimal number in b.
func addDecimal(b []byte, d uint64) {
	for i := len(b) - 1; i >= 0 && d > 0; i-- {
		v := uint64(b[i]-'0') + d%10
		d /= 10
		if v >= 10 {
			v -= 10
			d++
		}
		b[i] = byte('0' + v)
	}
}

// BenchmarkRecord measures the recording core alone: one op is one batch
// of 100 stamped 200-byte messages from 100 in-order streams.
func BenchmarkRecord(b *testing.B) {
	frames, offs := benchFrames()
	r := NewRecorder()
	payloads := make([][]byte, benchRing)
	hdrs := make([]wire.Header, benchRing)
	for f := range frames {
		hdrs[f], _ = wire.ParseHeader(frames[f])
		payloads[f] = frames[f][wire.HeaderSize:]
	}
	b.SetBytes(int64(len(payloads[0])))
	b.ReportAllocs()
	b.ResetTimer()
	f := 0
	for i := 0; i < b.N; i++ {
		if f == benchRing {
			b.StopTimer()
			for g := range frames {
				renumber(frames[g], offs[g], benchRing)
				hdrs[g].Seq += benchRing
			}
			f = 0
			b.StartTimer()
		}
		h := hdrs[f]
		r.Record(Batch{Seq: h.Seq, Reason: h.Reason.String(), OldestNs: h.OldestNs, FlushNs: h.FlushNs}, payloads[f])
		f++
	}
	b.StopTimer()
	el := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)*benchBatch/el, "msgs/s")
	if s := r.Snapshot(); s.Streams.Missing != 0 || s.Streams.Duplicates != 0 || s.DuplicateBatches != 0 {
		b.Fatalf("benchmark input is not in order: %+v", s.Streams)
	}
}

// BenchmarkFramesLoopback measures mockdest end to end: one connection over
// loopback sends framed batches of 100 stamped 200-byte messages and reads
// every acknowledgement. One op is one batch; allocs/msg counts the whole
// process (sender included).
func BenchmarkFramesLoopback(b *testing.B) {
	s := startServer(b, Config{})
	c := dial(b, s)
	frames, offs := benchFrames()

	acked := make(chan error, 1)
	n := b.N
	go func() {
		buf := make([]byte, 64*wire.AckSize)
		got := 0
		for got < n*wire.AckSize {
			k, err := c.Read(buf[:min(len(buf), n*wire.AckSize-got)])
			if err != nil {
				acked <- err
				return
			}
			got += k
		}
		acked <- nil
	}()
	b.SetBytes(int64(len(frames[0])))
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.ResetTimer()
	f := 0
	for i := 0; i < n; i++ {
		if f == benchRing {
			f = 0
		}
		if i >= benchRing {
			renumber(frames[f], offs[f], benchRing)
		}
		if _, err := c.Write(frames[f]); err != nil {
			b.Fatal(err)
		}
		f++
	}
	if err := <-acked; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	el := b.Elapsed().Seconds()
	msgs := float64(n) * benchBatch
	b.ReportMetric(msgs/el, "msgs/s")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/msgs, "allocs/msg")
	if snap := s.Snapshot(); snap.Messages != uint64(msgs) || snap.Streams.Missing != 0 || snap.DuplicateBatches != 0 {
		b.Fatalf("got %d messages, %d missing, %d duplicate batches; want %v, 0, 0",
			snap.Messages, snap.Streams.Missing, snap.DuplicateBatches, msgs)
	}
}

// BenchmarkLinesLoopback measures lines mode: one connection over loopback
// sends stamped 200-byte lines. One op is 100 lines.
func BenchmarkLinesLoopback(b *testing.B) {
	s := startServer(b, Config{Mode: ModeLines})
	c := dial(b, s)
	frames, offs := benchFrames()
	b.SetBytes(int64(len(frames[0]) - wire.HeaderSize))
	b.ResetTimer()
	f := 0
	for i := 0; i < b.N; i++ {
		if f == benchRing {
			f = 0
		}
		if i >= benchRing {
			renumber(frames[f], offs[f], benchRing)
		}
		if _, err := c.Write(frames[f][wire.HeaderSize:]); err != nil {
			b.Fatal(err)
		}
		f++
	}
	c.Close()
	want := uint64(b.N) * benchBatch
	for s.Snapshot().Messages < want && s.Snapshot().ConnsOpen > 0 {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(want)/b.Elapsed().Seconds(), "msgs/s")
	if snap := s.Snapshot(); snap.Messages != want || snap.Streams.Missing != 0 {
		b.Fatalf("got %d messages, %d missing; want %d, 0", snap.Messages, snap.Streams.Missing, want)
	}
}
