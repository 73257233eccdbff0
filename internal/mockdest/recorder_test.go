package mockdest

import (
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

// TestRecorderMemory checks that in-order streams cost one range each,
// however many messages they carry: 10,000 streams and 100 messages per
// stream here, the same for 100 million messages.
func TestRecorderMemory(t *testing.T) {
	t.Parallel()
	r := NewRecorder()
	const streams, perStream, batch = 10_000, 100, 100
	now := time.Now().UnixNano()
	var payload []byte
	seq := uint64(0)
	for q := uint64(1); q <= perStream; q++ {
		for s := uint32(0); s < streams; s++ {
			payload = wire.AppendStamp(payload, wire.Stamp{Stream: s, Seq: q, SentNs: now})
			payload = append(payload, '\n')
			if (uint64(s)+1)%batch == 0 {
				seq++
				r.Record(Batch{Seq: seq, Reason: "size"}, payload)
				payload = payload[:0]
			}
		}
	}
	snap := r.Snapshot()
	if snap.Streams.Distinct != streams*perStream || snap.Streams.Missing != 0 || snap.Streams.Streams != streams {
		t.Fatalf("got %+v", snap.Streams)
	}
	if r.budget.used != streams || len(r.batchSeqs.ranges) != 1 {
		t.Errorf("got %d stream ranges and %d batch-seq ranges, want %d and 1", r.budget.used, len(r.batchSeqs.ranges), streams)
	}
}

func TestRecordAllocs(t *testing.T) {
	r := NewRecorder()
	frames, offs := benchFrames()
	f, seq := 0, uint64(0)
	record := func() {
		if f == benchRing {
			for g := range frames {
				renumber(frames[g], offs[g], benchRing)
			}
			f = 0
		}
		seq++
		r.Record(Batch{Seq: seq, Reason: "size"}, frames[f][wire.HeaderSize:])
		f++
	}
	for range 2 * benchRing { // warm up: grow the pools and slices
		record()
	}
	if a := testing.AllocsPerRun(1000, record); a != 0 {
		t.Errorf("allocations per batch of %d messages: got %v want 0", benchBatch, a)
	}
}

func TestRecorderForeignAndBadStamps(t *testing.T) {
	t.Parallel()
	r := NewRecorder()
	payload := []byte("plain\nlr1:00000001:0000000000000000:0\nlr1:1:18446744073709551615:0\nlr1:5:1:1\nlr1:5:1:1")
	r.Record(Batch{Reason: ReasonRead}, payload) // no seq: never a duplicate batch
	r.Record(Batch{Reason: ReasonRead}, []byte("lr1:5:2:1\n"))
	s := r.Snapshot()
	want := StreamTotals{Streams: 1, Distinct: 2, Duplicates: 1, Foreign: 3}
	if s.Streams.Streams != want.Streams || s.Streams.Distinct != want.Distinct ||
		s.Streams.Duplicates != want.Duplicates || s.Streams.Foreign != want.Foreign {
		t.Errorf("got %+v want %+v (seq 0 and max seq are foreign)", s.Streams, want)
	}
	if s.Messages != 6 || s.Batches != 2 || s.DuplicateBatches != 0 {
		t.Errorf("got messages %d batches %d dup batches %d, want 6 2 0", s.Messages, s.Batches, s.DuplicateBatches)
	}
}
