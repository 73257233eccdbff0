package mockdest

import (
	"reflect"
	"testing"

	"github.com/logrelay/logrelay/internal/wire"
)

func TestSeqSet(t *testing.T) {
	t.Parallel()
	type step struct {
		seq  uint64
		want arrival
	}
	tests := []struct {
		name    string
		steps   []step
		ranges  []wire.SeqRange
		upTo    uint64
		missing []wire.SeqRange
	}{
		{"in order", []step{{1, arrivedNext}, {2, arrivedNext}, {3, arrivedNext}},
			[]wire.SeqRange{{From: 1, To: 3}}, 3, nil},
		{"gap at start", []step{{3, arrivedNext}, {4, arrivedNext}},
			[]wire.SeqRange{{From: 3, To: 4}}, 4, []wire.SeqRange{{From: 1, To: 2}}},
		{"gap at end", []step{{1, arrivedNext}, {2, arrivedNext}},
			[]wire.SeqRange{{From: 1, To: 2}}, 5, []wire.SeqRange{{From: 3, To: 5}}},
		{"gap in middle, filled late", []step{{1, arrivedNext}, {4, arrivedAhead}, {3, arrivedLate}, {2, arrivedLate}},
			[]wire.SeqRange{{From: 1, To: 4}}, 4, nil},
		{"duplicates", []step{{1, arrivedNext}, {2, arrivedNext}, {1, arrivedDuplicate}, {2, arrivedDuplicate}, {5, arrivedAhead}, {5, arrivedDuplicate}},
			[]wire.SeqRange{{From: 1, To: 2}, {From: 5, To: 5}}, 6, []wire.SeqRange{{From: 3, To: 4}, {From: 6, To: 6}}},
		{"late insert between", []step{{1, arrivedNext}, {10, arrivedAhead}, {5, arrivedLate}, {20, arrivedAhead}, {6, arrivedLate}, {4, arrivedLate}},
			[]wire.SeqRange{{From: 1, To: 1}, {From: 4, To: 6}, {From: 10, To: 10}, {From: 20, To: 20}}, 21, []wire.SeqRange{{From: 2, To: 3}, {From: 7, To: 9}, {From: 11, To: 19}, {From: 21, To: 21}}},
		{"late below first", []step{{5, arrivedNext}, {2, arrivedLate}, {4, arrivedLate}},
			[]wire.SeqRange{{From: 2, To: 2}, {From: 4, To: 5}}, 3, []wire.SeqRange{{From: 1, To: 1}, {From: 3, To: 3}}},
		{"upTo below all", []step{{5, arrivedNext}}, []wire.SeqRange{{From: 5, To: 5}}, 3, []wire.SeqRange{{From: 1, To: 3}}},
		{"upTo zero", []step{{1, arrivedNext}}, []wire.SeqRange{{From: 1, To: 1}}, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var s seqSet
			b := &rangeBudget{limit: 100}
			for i, st := range tt.steps {
				if got := s.add(st.seq, b); got != st.want {
					t.Errorf("step %d add(%d): got %d want %d", i, st.seq, got, st.want)
				}
			}
			if !reflect.DeepEqual(s.ranges, tt.ranges) {
				t.Errorf("ranges: got %v want %v", s.ranges, tt.ranges)
			}
			if b.used != len(s.ranges) {
				t.Errorf("budget used: got %d want %d", b.used, len(s.ranges))
			}
			if got := s.missing(tt.upTo); !reflect.DeepEqual(got, tt.missing) {
				t.Errorf("missing(%d): got %v want %v", tt.upTo, got, tt.missing)
			}
		})
	}
}

func TestSeqSetBudget(t *testing.T) {
	t.Parallel()
	var s seqSet
	b := &rangeBudget{limit: 2}
	for _, q := range []uint64{1, 3} {
		s.add(q, b)
	}
	if got := s.add(5, b); got != arrivedUntracked {
		t.Errorf("add beyond budget: got %d want arrivedUntracked", got)
	}
	if got := s.add(2, b); got != arrivedLate { // merges two ranges: frees one
		t.Errorf("add(2): got %d want arrivedLate", got)
	}
	if got := s.add(5, b); got != arrivedAhead {
		t.Errorf("add(5) after a merge: got %d want arrivedAhead", got)
	}
}
