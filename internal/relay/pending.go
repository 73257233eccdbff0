package relay

import (
	"sync"
	"sync/atomic"
)

// pendingLimit counts the messages the relay holds (handed to the batcher,
// batched, or in flight to the sink) and bounds them. Readers reserve room
// with a lock-free compare-and-swap; the mutex and condition variable are
// touched only when the limit is reached (a reader waits) and when room is
// released while someone waits.
//
// Waiters are woken with hysteresis: not on every release once the limit is
// reached (a broadcast to every waiting reader per acknowledgement), but
// only when the count has dropped to the low watermark, so each wake-up
// admits a good share of max rather than one batch. The low watermark is
// max − max/4, raised to batchSize−1 when that is higher, so waiters are
// always woken once only a partial batch (at most batchSize−1 messages,
// which no acknowledgement will release) remains held.
type pendingLimit struct {
	max     int64
	low     int64 // release wakes waiters when the count drops to low or below
	n       atomic.Int64
	waiters atomic.Int32
	stopped atomic.Bool
	mu      sync.Mutex
	cond    sync.Cond
}

// newPendingLimit returns a limit of limit messages for batches of
// batchSize messages.
func newPendingLimit(limit, batchSize int) *pendingLimit {
	low := max(min(max(limit-limit/4, batchSize-1), limit-1), 0)
	p := &pendingLimit{max: int64(limit), low: int64(low)}
	p.cond.L = &p.mu
	return p
}

// load returns the number of messages held.
func (p *pendingLimit) load() int64 { return p.n.Load() }

// reserve takes room for up to k messages without blocking and returns how
// many it took (0 when the limit is reached). After stop it takes all k.
func (p *pendingLimit) reserve(k int64) int64 {
	for {
		n := p.n.Load()
		g := min(k, p.max-n)
		if p.stopped.Load() {
			g = k
		}
		if g <= 0 {
			return 0
		}
		if p.n.CompareAndSwap(n, n+g) {
			return g
		}
	}
}

// wait blocks until there is room for at least one message or stop was
// called; it reports false after stop. Once the limit is reached, room is
// announced only when the count drops to the low watermark.
func (p *pendingLimit) wait() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.waiters.Add(1)
	defer p.waiters.Add(-1)
	for p.n.Load() >= p.max && !p.stopped.Load() {
		p.cond.Wait()
	}
	return !p.stopped.Load()
}

// release gives back room for k messages and, if the count is now at or
// below the low watermark, wakes waiting readers.
func (p *pendingLimit) release(k int64) {
	if p.n.Add(-k) <= p.low && p.waiters.Load() > 0 {
		p.mu.Lock()
		p.cond.Broadcast()
		p.mu.Unlock()
	}
}

// stop makes reserve unconditional and wakes every waiter for good.
func (p *pendingLimit) stop() {
	p.stopped.Store(true)
	p.mu.Lock()
	p.cond.Broadcast()
	p.mu.Unlock()
}
