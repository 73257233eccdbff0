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
type pendingLimit struct {
	max     int64
	n       atomic.Int64
	waiters atomic.Int32
	stopped atomic.Bool
	mu      sync.Mutex
	cond    sync.Cond
}

func newPendingLimit(max int) *pendingLimit {
	p := &pendingLimit{max: int64(max)}
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
// called; it reports false after stop.
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

// release gives back room for k messages and wakes waiting readers.
func (p *pendingLimit) release(k int64) {
	p.n.Add(-k)
	if p.waiters.Load() > 0 {
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
