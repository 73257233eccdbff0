package relay

import (
	"sync"

	"github.com/logrelay/logrelay/internal/wire"
)

// relpRejectBit marks a slot of relpTrack.txnr whose command is answered
// "500", relpOpenBit one that is an open, answered with the relay's
// offers: TXNRs stay below 2^30, so the top two bits are free.
const (
	relpRejectBit = 1 << 31
	relpOpenBit   = 1 << 30
	relpTxnrMask  = relpOpenBit - 1
)

// relpTrack is one RELP session's delivery tracking: which of the
// session's syslog commands are settled and which of those are answered.
//
// The reader numbers the session's commands 0, 1, 2, ... (seq) as it parses
// them and writes each one's TXNR into the ring. A chunk carries its
// session and the seq of its first message, a batch one relpRun per run of
// messages from one session, so Settle reports a run (first seq, count),
// not each message. Runs may settle in any order (sink concurrency, items
// retried alone); the tracker keeps the settled runs beyond the answered
// prefix, and the session's writer answers the prefix in seq order, as
// RELP requires, encoding the rsp frames from the ring in one buffer and
// one write. A seq's ring slot is reused only after it is answered; the
// reader stops reading while window commands are unanswered.
type relpTrack struct {
	mask uint64   // len(txnrs)-1; len(txnrs) is the window, a power of two
	txnr []uint32 // txnr[seq&mask]: the command's TXNR, relpRejectBit if refused

	mu       sync.Mutex
	received uint64        // seqs below are numbered (written by the reader under mu)
	answered uint64        // seqs below are answered or being answered by the writer
	settled  []seqSpan     // settled spans at or above answered, sorted by first
	closing  uint32        // TXNR of a close command to answer after all else, 0 if none
	wake     chan struct{} // one token: the writer has work
	encoded  func()        // tests: called by answer between taking the prefix and moving answered
	room     chan struct{} // one token: answered moved, the reader may have room
}

// seqSpan is the seqs [first, first+n).
type seqSpan struct{ first, n uint64 }

func newRelpTrack(window int) *relpTrack {
	w := 1
	for w < window {
		w <<= 1
	}
	return &relpTrack{
		mask: uint64(w - 1),
		txnr: make([]uint32, w),
		wake: make(chan struct{}, 1),
		room: make(chan struct{}, 1),
	}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// free returns how many more commands the reader may number now.
func (t *relpTrack) free() int {
	_, n := t.begin()
	return n
}

// begin returns the seq the reader numbers next and how many commands it
// may number now. The reader writes their TXNRs with put, then publishes
// them with commit: one lock per read, not per command.
func (t *relpTrack) begin() (next uint64, free int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.received, int(t.mask+1) - int(t.received-t.answered)
}

// put writes the TXNR of seq s (between begin and commit).
func (t *relpTrack) put(s uint64, txnr uint32) { t.txnr[s&t.mask] = txnr }

// commit publishes the n commands numbered since begin.
func (t *relpTrack) commit(n int) {
	t.mu.Lock()
	t.received += uint64(n)
	t.mu.Unlock()
}

// add numbers one command (refused: answer 500) and returns its seq. The
// caller has checked there is room.
func (t *relpTrack) add(txnr uint32, refused bool) uint64 {
	if refused {
		txnr |= relpRejectBit
	}
	s, _ := t.begin()
	t.put(s, txnr)
	t.commit(1)
	return s
}

// settle records that seqs [first, first+n) are settled. rejected lists
// offsets within the span (ascending) whose messages were refused for good.
// It costs one span insertion, and one slot write per rejected message.
func (t *relpTrack) settle(first, n uint64, rejected []int) {
	if n == 0 {
		return
	}
	t.mu.Lock()
	for _, k := range rejected {
		t.txnr[(first+uint64(k))&t.mask] |= relpRejectBit
	}
	i := len(t.settled)
	for i > 0 && t.settled[i-1].first > first {
		i--
	}
	t.settled = append(t.settled, seqSpan{})
	copy(t.settled[i+1:], t.settled[i:])
	t.settled[i] = seqSpan{first, n}
	ready := t.settled[0].first == t.answered
	t.mu.Unlock()
	if ready {
		signal(t.wake)
	}
}

// close records a close command, answered once every command before it is.
func (t *relpTrack) close(txnr uint32) {
	t.mu.Lock()
	t.closing = txnr
	t.mu.Unlock()
	signal(t.wake)
}

// answer appends to dst the rsp frames of the settled prefix, in seq order,
// and marks it answered. It reports whether a close command was answered
// (everything before it is), and how many 200 and 500 answers it wrote.
func (t *relpTrack) answer(dst []byte) (out []byte, closed bool, ok, refused int) {
	t.mu.Lock()
	from := t.answered
	end := from
	k := 0
	for k < len(t.settled) && t.settled[k].first == end {
		end += t.settled[k].n
		k++
	}
	t.settled = t.settled[:copy(t.settled, t.settled[k:])]
	closing := t.closing
	allDone := end == t.received
	t.mu.Unlock()
	// Slots [from, end) are not reused before answered moves past them.
	for s := from; s < end; s++ {
		x := t.txnr[s&t.mask]
		switch {
		case x&relpRejectBit != 0:
			dst = wire.AppendRELPRsp(dst, x&relpTxnrMask, 500, "rejected", nil)
			refused++
		case x&relpOpenBit != 0:
			dst = wire.AppendRELPRsp(dst, x&relpTxnrMask, 200, "OK", relpServerOffers)
		default:
			dst = wire.AppendRELPOK(dst, x)
			ok++
		}
	}
	if closing != 0 && allDone {
		dst = wire.AppendRELP(dst, closing, "rsp", nil)
		closed = true
	}
	if t.encoded != nil {
		t.encoded()
	}
	if end != from {
		t.mu.Lock()
		t.answered = end
		// A span settled while the answers were encoded found answered
		// behind it and did not wake the writer: wake it now.
		more := len(t.settled) > 0 && t.settled[0].first == end
		t.mu.Unlock()
		signal(t.room)
		if more {
			signal(t.wake)
		}
	}
	return dst, closed, ok, refused
}

// idle reports whether every numbered command is answered.
func (t *relpTrack) idle() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.answered == t.received
}

// relpRun is a run of consecutive messages of a batch from one RELP
// session: batch indexes [at, at+n) are the session's seqs [first,
// first+n).
type relpRun struct {
	t     *relpTrack
	first uint64
	at, n uint32
}

// settleRuns settles a batch's RELP runs; rejected are batch indexes,
// ascending (Outcome.Rejected).
func settleRuns(runs []relpRun, rejected []int) {
	for _, r := range runs {
		lo := 0
		for lo < len(rejected) && rejected[lo] < int(r.at) {
			lo++
		}
		hi := lo
		for hi < len(rejected) && rejected[hi] < int(r.at+r.n) {
			hi++
		}
		var rel []int
		if hi > lo {
			rel = make([]int, hi-lo) // only when the sink refused some
			for i, x := range rejected[lo:hi] {
				rel[i] = x - int(r.at)
			}
		}
		r.t.settle(r.first, uint64(r.n), rel)
	}
}

// addRelpRun appends a run to runs, extending the last one when it
// continues it.
func addRelpRun(runs []relpRun, t *relpTrack, first uint64, at, n uint32) []relpRun {
	if k := len(runs) - 1; k >= 0 {
		l := &runs[k]
		if l.t == t && l.first+uint64(l.n) == first && l.at+l.n == at {
			l.n += n
			return runs
		}
	}
	return append(runs, relpRun{t: t, first: first, at: at, n: n})
}

// relpServerOffers are the offers the relay answers an open with.
var relpServerOffers = wire.AppendRELPOffers(nil, wire.RELPOffers{
	Version: "0", Software: "logrelay", Commands: []string{"syslog"},
})
