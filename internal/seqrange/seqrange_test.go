package seqrange

import (
	"math"
	"slices"
	"testing"

	"github.com/logrelay/logrelay/internal/wire"
)

func r(from, to uint64) wire.SeqRange { return wire.SeqRange{From: from, To: to} }

func TestAdd(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []wire.SeqRange // added one by one to the empty set
		want Set
	}{
		{"empty", nil, nil},
		{"one", []wire.SeqRange{r(3, 5)}, Set{r(3, 5)}},
		{"in order, apart", []wire.SeqRange{r(1, 2), r(5, 6)}, Set{r(1, 2), r(5, 6)}},
		{"in order, touching", []wire.SeqRange{r(1, 2), r(3, 6)}, Set{r(1, 6)}},
		{"in order, overlapping", []wire.SeqRange{r(1, 5), r(3, 4)}, Set{r(1, 5)}},
		{"same start, longer", []wire.SeqRange{r(1, 5), r(1, 9)}, Set{r(1, 9)}},
		{"out of order, apart", []wire.SeqRange{r(10, 12), r(1, 2)}, Set{r(1, 2), r(10, 12)}},
		{"out of order, bridging", []wire.SeqRange{r(1, 2), r(8, 9), r(3, 7)}, Set{r(1, 9)}},
		{"out of order, swallowing", []wire.SeqRange{r(5, 6), r(8, 9), r(1, 20)}, Set{r(1, 20)}},
		{"out of order, touching the next", []wire.SeqRange{r(5, 6), r(1, 4)}, Set{r(1, 6)}},
		{"empty range", []wire.SeqRange{r(1, 2), r(9, 3)}, Set{r(1, 2)}},
		{"at the top", []wire.SeqRange{r(5, math.MaxUint64), r(7, 9)}, Set{r(5, math.MaxUint64)}},
		{"from zero", []wire.SeqRange{r(0, 0), r(0, 3)}, Set{r(0, 3)}},
	}
	for _, tt := range tests {
		var s Set
		for _, x := range tt.in {
			s = s.Add(x)
		}
		if !slices.Equal(s, tt.want) {
			t.Errorf("%s: got %v want %v", tt.name, s, tt.want)
		}
	}
}

func TestOf(t *testing.T) {
	t.Parallel()
	a := []wire.SeqRange{r(5, 9), r(0, 2)}
	b := []wire.SeqRange{r(3, 4), r(20, 30), r(25, 26)}
	got := Of(a, b)
	if want := (Set{r(0, 9), r(20, 30)}); !slices.Equal(got, want) {
		t.Errorf("Of: got %v want %v", got, want)
	}
	if a[0] != r(5, 9) || b[0] != r(3, 4) {
		t.Errorf("Of modified its input: %v %v", a, b)
	}
	if got := Of(); len(got) != 0 {
		t.Errorf("Of(): got %v want empty", got)
	}
}

func TestClipLen(t *testing.T) {
	t.Parallel()
	s := Of([]wire.SeqRange{r(0, 2), r(5, 9), r(20, 30)})
	tests := []struct {
		from, to uint64
		want     Set
		n        uint64
	}{
		{1, 25, Set{r(1, 2), r(5, 9), r(20, 25)}, 13},
		{3, 4, nil, 0},
		{0, math.MaxUint64, s, 19},
		{9, 20, Set{r(9, 9), r(20, 20)}, 2},
	}
	for _, tt := range tests {
		got := s.Clip(tt.from, tt.to)
		if !slices.Equal(got, tt.want) || got.Len() != tt.n {
			t.Errorf("Clip(%d, %d): got %v (len %d) want %v (len %d)", tt.from, tt.to, got, got.Len(), tt.want, tt.n)
		}
	}
}

func TestOutside(t *testing.T) {
	t.Parallel()
	s := Set{r(1, 2), r(4, 4), r(9, 12)}
	tests := []struct {
		r    wire.SeqRange
		want Set
	}{
		{r(1, 10), Set{r(3, 3), r(5, 8)}},
		{r(1, 2), nil},
		{r(13, 20), Set{r(13, 20)}},
		{r(0, 0), Set{r(0, 0)}},
		{r(3, 14), Set{r(3, 3), r(5, 8), r(13, 14)}},
		{r(5, 3), nil},
	}
	for _, tt := range tests {
		if got := s.Outside(tt.r); !slices.Equal(got, tt.want) {
			t.Errorf("Outside(%v): got %v want %v", tt.r, got, tt.want)
		}
	}
	if got := (Set{r(5, math.MaxUint64)}).Outside(r(1, math.MaxUint64)); !slices.Equal(got, Set{r(1, 4)}) {
		t.Errorf("Outside at the top: got %v want [1-4]", got)
	}
	if got := Set(nil).Outside(r(2, 3)); !slices.Equal(got, Set{r(2, 3)}) {
		t.Errorf("empty set: got %v want [2-3]", got)
	}
}
