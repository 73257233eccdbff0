// Package seqrange provides Set, a set of sequence numbers held as sorted,
// disjoint inclusive ranges: what loadgen reports it did not send or may
// have lost, and what the bench excuses from its loss check.
package seqrange

import (
	"cmp"
	"slices"

	"github.com/logrelay/logrelay/internal/wire"
)

// Set is a set of sequence numbers as ranges sorted by From, none
// overlapping or touching another (3–5 and 6–9 are held as 3–9). The zero
// value is the empty set. A Set converts to and from []wire.SeqRange
// without a copy; Of makes a Set of ranges in any order.
type Set []wire.SeqRange

// Of returns the set of the numbers in rs, which may be in any order and
// overlap. rs is not modified. A range with From > To is empty.
func Of(rs ...[]wire.SeqRange) Set {
	var all []wire.SeqRange
	for _, r := range rs {
		all = append(all, r...)
	}
	slices.SortFunc(all, func(a, b wire.SeqRange) int { return cmp.Compare(a.From, b.From) })
	var s Set
	for _, r := range all {
		s = s.Add(r)
	}
	return s
}

// Add returns s with the numbers of r added. A range that starts at or
// after the last range's start (the case of a sender appending its
// failures in order) is merged in place; any other is inserted where it
// belongs. Like append, Add may reuse s's array.
func (s Set) Add(r wire.SeqRange) Set {
	if r.From > r.To {
		return s
	}
	n := len(s)
	if n == 0 || r.From >= s[n-1].From {
		if n > 0 && joins(s[n-1], r) {
			s[n-1].To = max(s[n-1].To, r.To)
			return s
		}
		return append(s, r)
	}
	// Out of order: insert, then merge the neighbours it now touches.
	i, _ := slices.BinarySearchFunc(s, r.From, func(x wire.SeqRange, from uint64) int { return cmp.Compare(x.From, from) })
	s = slices.Insert(s, i, r)
	out := s[:0]
	for _, x := range s {
		if m := len(out); m > 0 && joins(out[m-1], x) {
			out[m-1].To = max(out[m-1].To, x.To)
			continue
		}
		out = append(out, x)
	}
	clear(s[len(out):])
	return out
}

// joins reports whether b, which starts at or after a, overlaps or
// touches a (written so that a.To+1 cannot overflow).
func joins(a, b wire.SeqRange) bool { return b.From <= a.To || b.From-1 == a.To }

// Clip returns the part of s within [from, to], as a new Set.
func (s Set) Clip(from, to uint64) Set {
	var out Set
	for _, r := range s {
		r.From, r.To = max(r.From, from), min(r.To, to)
		if r.From <= r.To {
			out = append(out, r)
		}
	}
	return out
}

// Len returns how many numbers s holds.
func (s Set) Len() uint64 {
	var n uint64
	for _, r := range s {
		n += r.Len()
	}
	return n
}

// Outside returns the parts of r that s does not hold, in order.
func (s Set) Outside(r wire.SeqRange) Set {
	if r.From > r.To {
		return nil
	}
	var out Set
	cur := r.From
	for _, x := range s {
		if x.To < cur || x.From > r.To {
			continue
		}
		if x.From > cur {
			out = append(out, wire.SeqRange{From: cur, To: x.From - 1})
		}
		if x.To >= r.To {
			return out
		}
		cur = x.To + 1
	}
	return append(out, wire.SeqRange{From: cur, To: r.To})
}
