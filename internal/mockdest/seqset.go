package mockdest

import "github.com/logrelay/logrelay/internal/wire"

// arrival classifies one sequence number added to a seqSet.
type arrival uint8

const (
	arrivedNext      arrival = iota // highest+1, or the first one
	arrivedAhead                    // above highest+1: leaves a gap
	arrivedLate                     // below the highest, fills a gap: reordered
	arrivedDuplicate                // already present
	arrivedUntracked                // would need a new range beyond the budget
)

// seqSet is a set of sequence numbers stored as sorted, disjoint,
// non-adjacent inclusive ranges. In-order arrival extends the last range in
// O(1) time and memory; only gaps cost a range each.
type seqSet struct {
	ranges []wire.SeqRange
}

// rangeBudget limits the ranges of all the seqSets that share it, so that
// adversarial input (every other number) cannot grow memory without bound.
type rangeBudget struct {
	used, limit int
}

func (b *rangeBudget) take() bool {
	if b == nil {
		return true
	}
	if b.used >= b.limit {
		return false
	}
	b.used++
	return true
}

func (b *rangeBudget) give(n int) {
	if b != nil {
		b.used -= n
	}
}

// highest returns the largest member, 0 when the set is empty.
func (s *seqSet) highest() uint64 {
	if len(s.ranges) == 0 {
		return 0
	}
	return s.ranges[len(s.ranges)-1].To
}

// search returns the index of the first range whose To is ≥ v.
func (s *seqSet) search(v uint64) int {
	lo, hi := 0, len(s.ranges)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s.ranges[m].To < v {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// contains reports whether v is in the set.
func (s *seqSet) contains(v uint64) bool {
	i := s.search(v)
	return i < len(s.ranges) && s.ranges[i].From <= v
}

// add inserts v and says how it arrived relative to what the set held.
func (s *seqSet) add(v uint64, budget *rangeBudget) arrival {
	n := len(s.ranges)
	if n > 0 {
		last := &s.ranges[n-1]
		switch {
		case v == last.To+1:
			last.To = v
			return arrivedNext
		case v > last.To+1:
			if !budget.take() {
				return arrivedUntracked
			}
			s.ranges = append(s.ranges, wire.SeqRange{From: v, To: v})
			return arrivedAhead
		case v >= last.From:
			return arrivedDuplicate
		}
	} else {
		if !budget.take() {
			return arrivedUntracked
		}
		s.ranges = append(s.ranges, wire.SeqRange{From: v, To: v})
		return arrivedNext
	}
	i := s.search(v) // v < last.From, so i < n
	r := &s.ranges[i]
	if r.From <= v {
		return arrivedDuplicate
	}
	joinLeft := i > 0 && s.ranges[i-1].To+1 == v
	joinRight := r.From-1 == v
	switch {
	case joinLeft && joinRight:
		s.ranges[i-1].To = r.To
		s.ranges = append(s.ranges[:i], s.ranges[i+1:]...)
		budget.give(1)
	case joinLeft:
		s.ranges[i-1].To = v
	case joinRight:
		r.From = v
	default:
		if !budget.take() {
			return arrivedUntracked
		}
		s.ranges = append(s.ranges, wire.SeqRange{})
		copy(s.ranges[i+1:], s.ranges[i:])
		s.ranges[i] = wire.SeqRange{From: v, To: v}
	}
	return arrivedLate
}

// missing returns the numbers in [1, upTo] not in the set, as ranges.
func (s *seqSet) missing(upTo uint64) []wire.SeqRange {
	var out []wire.SeqRange
	next := uint64(1)
	for _, r := range s.ranges {
		if next > upTo {
			break
		}
		if r.From > next {
			out = append(out, wire.SeqRange{From: next, To: min(r.From-1, upTo)})
		}
		if r.To >= next {
			next = r.To + 1
			if next == 0 { // r.To was the largest uint64
				return out
			}
		}
	}
	if next <= upTo {
		out = append(out, wire.SeqRange{From: next, To: upTo})
	}
	return out
}

// gaps appends to dst up to max ranges missing below the highest member,
// lowest first.
func (s *seqSet) gaps(dst []wire.SeqRange, max int) []wire.SeqRange {
	next := uint64(1)
	for _, r := range s.ranges {
		if max <= 0 {
			break
		}
		if r.From > next {
			dst = append(dst, wire.SeqRange{From: next, To: r.From - 1})
			max--
		}
		next = r.To + 1
	}
	return dst
}
