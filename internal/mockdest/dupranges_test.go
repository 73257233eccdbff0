package mockdest

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

// DuplicateRanges lists, per stream, the seqs that arrived more than once
// in new batches (a sender's restart, a client's resend), not those of a
// resent batch, which are counted apart.
func TestDuplicateRanges(t *testing.T) {
	t.Parallel()
	join := func(msgs [][]byte) []byte { return bytes.Join(msgs, []byte("\n")) }
	tests := []struct {
		name    string
		batches [][][]byte
		resend  bool // the last batch is a resend of the first (same Seq and FlushNs)
		want    map[uint32][]wire.SeqRange
	}{
		{"none", [][][]byte{seqMsgs(1, 1, 5), seqMsgs(1, 6, 9)}, false, map[uint32][]wire.SeqRange{1: nil}},
		{"overlap", [][][]byte{seqMsgs(1, 1, 5), seqMsgs(1, 4, 9), seqMsgs(2, 1, 3), seqMsgs(2, 3, 3)}, false,
			map[uint32][]wire.SeqRange{1: {{From: 4, To: 5}}, 2: {{From: 3, To: 3}}}},
		{"twice again", [][][]byte{seqMsgs(1, 1, 5), seqMsgs(1, 2, 2), seqMsgs(1, 2, 2), seqMsgs(1, 7, 7), seqMsgs(1, 7, 7)}, false,
			map[uint32][]wire.SeqRange{1: {{From: 2, To: 2}, {From: 7, To: 7}}}},
		{"resent batch", [][][]byte{seqMsgs(1, 1, 5), seqMsgs(1, 6, 9), seqMsgs(1, 1, 5)}, true, map[uint32][]wire.SeqRange{1: nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := NewRecorder()
			flush := time.Now().UnixNano()
			for i, msgs := range tt.batches {
				b := Batch{Seq: uint64(i + 1), Reason: "size", FlushNs: flush + int64(i)}
				if tt.resend && i == len(tt.batches)-1 {
					b.Seq, b.FlushNs = 1, flush
				}
				r.Record(b, join(msgs))
			}
			for st, want := range tt.want {
				got, untracked := r.DuplicateRanges(st)
				if !slices.Equal(got, want) || untracked != 0 {
					t.Errorf("stream %d: got %v (%d untracked) want %v", st, got, untracked, want)
				}
			}
		})
	}
}
