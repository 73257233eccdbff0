package relay

import (
	"sort"
	"sync"
	"sync/atomic"
)

// pendingLimit counts the messages the relay holds (handed to the batcher,
// batched, or in flight to the sink) and their bytes, bounds both, and
// decides which connection reads next while they are contended.
//
// Readers reserve room with a lock-free compare-and-swap on one word that
// packs the two counts, so they are taken and given back together. While
// there is room and nobody waits, that CAS and a few atomic loads are all a
// read costs: the mutex is touched only when a limit is reached and while
// readers take turns.
//
// Limits work with hysteresis, as an input paused at a memory limit is in
// Fluent Bit: once a reservation finds a limit reached, reading is paused
// until both counts are at their low watermarks. A low watermark is three
// quarters of its limit, raised to what a partial batch can hold
// (batchSize−1 messages; the largest batch payload in bytes) when that is
// higher, so reading always resumes once only a partial batch, which no
// acknowledgement will release, remains held.
//
// Fairness: a pause closes the gate, and from then on a connection reads
// only in its turn. Readers that find the gate closed queue up in arrival
// order (a FIFO of turns); when reading resumes, the head of the queue is
// granted the turn, does one read (one chunk: at most 128 KiB, or the
// growth of a long partial line by readRoom), hands it off and passes the
// turn on to the next; if it has more to read it queues again at the
// tail. So under
// sustained overload the admitted room is shared round-robin, one read per
// connection with data waiting per round, and a quiet connection waits at
// most one round (every queued connection's read) for its turn, whatever
// the others send. A reader whose read found nothing passes the turn on at
// once. When the queue is empty and there is room, the gate opens and
// readers go back to reading in parallel without asking. Only the turn
// holder reads while the gate is closed, so at most one read (the holder's)
// can be held for room after a pause.
type pendingLimit struct {
	max, low           int64 // messages
	maxBytes, lowBytes int64
	state              atomic.Uint64 // messages<<pendingByteBits | bytes
	gate               atomic.Bool   // closed (true): reading takes turns
	paused             atomic.Bool   // a limit was reached; no turn until the low watermarks
	stopped            atomic.Bool
	stopCh             chan struct{}

	mu      sync.Mutex
	holder  *turn   // the reader whose turn it is, or nil
	waiting []*turn // readers waiting for their turn, oldest first
}

// turn is one reader's place in the pendingLimit's queue. Its owner
// passes it to wait and done; granted is set and cleared under the
// pendingLimit's mutex and read by the owner after wait returns.
type turn struct {
	ch      chan struct{} // receives the grant
	granted bool
}

func newTurn() turn { return turn{ch: make(chan struct{}, 1)} }

// pendingByteBits is the width of the byte count in pendingLimit.state;
// the message count takes the 24 bits above it. The limits
// (MaxPendingLimit, MaxPendingBytesLimit) leave a quarter of each range for
// what is admitted unconditionally during shutdown.
const pendingByteBits = 40

func pack(n, b int64) uint64 { return uint64(n)<<pendingByteBits | uint64(b) }

func unpack(s uint64) (n, b int64) {
	return int64(s >> pendingByteBits), int64(s & (1<<pendingByteBits - 1))
}

// newPendingLimit returns limits of limit messages and limitBytes bytes for
// batches of batchSize messages and at most batchBytes bytes of payload.
func newPendingLimit(limit int, limitBytes int64, batchSize int, batchBytes int64) *pendingLimit {
	low := max(min(max(limit-limit/4, batchSize-1), limit-1), 0)
	lowBytes := max(min(max(limitBytes-limitBytes/4, batchBytes), limitBytes-1), 0)
	return &pendingLimit{max: int64(limit), low: int64(low), maxBytes: limitBytes, lowBytes: lowBytes,
		stopCh: make(chan struct{})}
}

// counts returns the number of messages held and their bytes, read
// together.
func (p *pendingLimit) counts() (n, b int64) { return unpack(p.state.Load()) }

// blocked reports whether a reader must wait for its turn before its next
// read: the gate is closed (see pendingLimit) or a limit is reached.
func (p *pendingLimit) blocked() bool {
	if p.stopped.Load() {
		return false
	}
	n, b := unpack(p.state.Load())
	return p.gate.Load() || n >= p.max || b >= p.maxBytes
}

// reserve takes room for as many as fit of the messages whose cumulative
// end offsets are ends (message i holds ends[i]−ends[i−1] bytes, its newline
// included), in order, without blocking, and returns how many it took (0
// when a limit is reached). Taking fewer than all pauses reading. After
// stop it takes them all.
func (p *pendingLimit) reserve(ends []uint32) int64 {
	k := len(ends)
	for {
		s := p.state.Load()
		n, b := unpack(s)
		g := k
		if !p.stopped.Load() {
			g = int(min(int64(k), max(p.max-n, 0)))
			room := p.maxBytes - b
			if g > 0 && int64(ends[g-1]) > room {
				g = sort.Search(g, func(i int) bool { return int64(ends[i]) > room })
			}
		}
		if g == 0 {
			p.pause()
			return 0
		}
		if p.state.CompareAndSwap(s, s+pack(int64(g), int64(ends[g-1]))) {
			if g < k {
				p.pause() // after the counts include g, which pause checks
			}
			return int64(g)
		}
	}
}

// atLow reports whether both counts are at or below their low watermarks.
func (p *pendingLimit) atLow(s uint64) bool {
	n, b := unpack(s)
	return n <= p.low && b <= p.lowBytes
}

// pause stops reading until the counts drop to the low watermarks and
// closes the gate. The counts are checked again after the flag is set: a
// release that brought them down in between did not see the pause, and a
// pause with no release left to come would strand every reader.
func (p *pendingLimit) pause() {
	if p.paused.Load() {
		return
	}
	p.mu.Lock()
	p.pauseLocked()
	p.mu.Unlock()
}

func (p *pendingLimit) pauseLocked() {
	p.gate.Store(true)
	p.paused.Store(true)
	if p.atLow(p.state.Load()) {
		p.resumeLocked()
	}
}

// resume ends a pause: the next reader in the queue gets its turn.
func (p *pendingLimit) resume() {
	p.mu.Lock()
	p.resumeLocked()
	p.mu.Unlock()
}

func (p *pendingLimit) resumeLocked() {
	if p.paused.Load() {
		p.paused.Store(false)
		if p.holder == nil {
			p.grantLocked()
		}
	}
}

// grantLocked gives the turn to the oldest waiting reader, or opens the
// gate when nobody waits.
func (p *pendingLimit) grantLocked() {
	if len(p.waiting) == 0 {
		p.gate.Store(false)
		return
	}
	t := p.waiting[0]
	p.waiting[0] = nil
	p.waiting = p.waiting[1:]
	p.holder, t.granted = t, true
	t.ch <- struct{}{} // never blocks: t waits for at most one grant
}

// wait gives up t's turn if it holds it and blocks until t's next turn, or
// returns at once when reading is not blocked and nobody takes turns. It
// reports false after stop.
func (p *pendingLimit) wait(t *turn) bool {
	p.mu.Lock()
	if p.holder == t {
		p.holder = nil
	}
	t.granted = false
	if p.stopped.Load() {
		p.mu.Unlock()
		return false
	}
	if !p.blocked() {
		p.mu.Unlock()
		return true
	}
	if !p.gate.Load() {
		// A reservation filled a limit exactly, which does not pause.
		p.pauseLocked()
	}
	p.waiting = append(p.waiting, t)
	if p.holder == nil && !p.paused.Load() {
		p.grantLocked()
	}
	p.mu.Unlock()
	select {
	case <-t.ch:
		return !p.stopped.Load()
	case <-p.stopCh:
		return false
	}
}

// done ends t's turn, if it has one, and passes it to the next waiting
// reader. Without a turn it costs one field read.
func (p *pendingLimit) done(t *turn) {
	if !t.granted {
		return
	}
	p.mu.Lock()
	t.granted = false
	if p.holder == t {
		p.holder = nil
		if !p.paused.Load() {
			p.grantLocked()
		}
	}
	p.mu.Unlock()
}

// release gives back room for k messages of the given bytes and, if both
// counts are now at or below their low watermarks, ends a pause.
func (p *pendingLimit) release(k, bytes int64) {
	if s := p.state.Add(-pack(k, bytes)); p.paused.Load() && p.atLow(s) {
		p.resume()
	}
}

// stop makes reserve unconditional and wakes every waiter for good.
func (p *pendingLimit) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.stopped.Swap(true) {
		clear(p.waiting)
		p.waiting, p.holder = nil, nil // no grant after stop
		close(p.stopCh)
	}
}
