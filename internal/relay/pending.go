package relay

import (
	"sync"
	"sync/atomic"
)

// pendingLimit counts the messages the relay holds (handed to the batcher,
// batched, or in flight to the sink) and bounds them. Readers reserve room
// with a lock-free compare-and-swap; the mutex and condition variable are
// touched only when the limit is reached (a reader waits) and when reading
// resumes while someone waits.
//
// It works with hysteresis, as an input paused at a memory limit is in
// Fluent Bit: once a reservation finds the limit reached, reading is paused
// (blocked reports true) until the count drops to the low watermark, and
// only then are waiting readers woken. So a resume admits a good share of
// max rather than one acknowledged batch, and between resumes no reader
// starts a read it could not hand off: each such read would be held, a
// chunk per connection, until the next resume. The low watermark is
// max − max/4, raised to batchSize−1 when that is higher, so reading always
// resumes once only a partial batch (at most batchSize−1 messages, which no
// acknowledgement will release) remains held.
type pendingLimit struct {
	max     int64
	low     int64 // reading resumes when the count drops to low or below
	n       atomic.Int64
	paused  atomic.Bool
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

// blocked reports whether a reader should wait before its next read: the
// limit is reached, or reading is paused until the low watermark.
func (p *pendingLimit) blocked() bool {
	return !p.stopped.Load() && (p.paused.Load() || p.n.Load() >= p.max)
}

// reserve takes room for up to k messages without blocking and returns how
// many it took (0 when the limit is reached). Taking fewer than k pauses
// reading. After stop it takes all k.
func (p *pendingLimit) reserve(k int64) int64 {
	for {
		n := p.n.Load()
		g := min(k, p.max-n)
		if p.stopped.Load() {
			g = k
		}
		if g <= 0 {
			p.pause()
			return 0
		}
		if p.n.CompareAndSwap(n, n+g) {
			if g < k {
				p.pause() // after the count includes g, which pause checks
			}
			return g
		}
	}
}

// pause stops reading until the count drops to the low watermark. The
// count is checked again after the flag is set: a release that brought it
// down in between has already tried to resume, and a pause set after that
// with no release left to come would strand every reader.
func (p *pendingLimit) pause() {
	p.paused.Store(true)
	if p.n.Load() <= p.low {
		p.resume()
	}
}

// resume lets reading go on and wakes the readers waiting for it.
func (p *pendingLimit) resume() {
	p.paused.Store(false)
	if p.waiters.Load() > 0 {
		p.mu.Lock()
		p.cond.Broadcast()
		p.mu.Unlock()
	}
}

// wait blocks while reading is blocked (see blocked) and stop was not
// called; it reports false after stop.
func (p *pendingLimit) wait() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.waiters.Add(1)
	defer p.waiters.Add(-1)
	for p.blocked() {
		p.cond.Wait()
	}
	return !p.stopped.Load()
}

// release gives back room for k messages and, if the count is now at or
// below the low watermark, resumes reading.
func (p *pendingLimit) release(k int64) {
	if p.n.Add(-k) <= p.low && (p.paused.Load() || p.waiters.Load() > 0) {
		p.resume()
	}
}

// stop makes reserve unconditional and wakes every waiter for good.
func (p *pendingLimit) stop() {
	p.stopped.Store(true)
	p.mu.Lock()
	p.cond.Broadcast()
	p.mu.Unlock()
}
