package relay

import (
	"sort"
	"sync"
	"sync/atomic"
)

// pendingLimit counts the messages the relay holds (handed to the batcher,
// batched, or in flight to the sink) and their bytes, and bounds both.
// Readers reserve room with a lock-free compare-and-swap on one word that
// packs the two counts, so they are taken and given back together; the
// mutex and condition variable are touched only when a limit is reached
// (a reader waits) and when reading resumes while someone waits.
//
// It works with hysteresis, as an input paused at a memory limit is in
// Fluent Bit: once a reservation finds a limit reached, reading is paused
// (blocked reports true) until both counts are at their low watermarks,
// and only then are waiting readers woken. So a resume admits a good share
// of the limits rather than one acknowledged batch, and between resumes no
// reader starts a read it could not hand off: each such read would be
// held, a chunk per connection, until the next resume. A low watermark is
// three quarters of its limit, raised to what a partial batch can hold
// (batchSize−1 messages; the largest batch payload in bytes) when that is
// higher, so reading always resumes once only a partial batch, which no
// acknowledgement will release, remains held.
type pendingLimit struct {
	max, low           int64 // messages
	maxBytes, lowBytes int64
	state              atomic.Uint64 // messages<<pendingByteBits | bytes
	paused             atomic.Bool
	waiters            atomic.Int32
	stopped            atomic.Bool
	mu                 sync.Mutex
	cond               sync.Cond
}

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
	p := &pendingLimit{max: int64(limit), low: int64(low), maxBytes: limitBytes, lowBytes: lowBytes}
	p.cond.L = &p.mu
	return p
}

// counts returns the number of messages held and their bytes, read
// together.
func (p *pendingLimit) counts() (n, b int64) { return unpack(p.state.Load()) }

// blocked reports whether a reader should wait before its next read: a
// limit is reached, or reading is paused until the low watermarks.
func (p *pendingLimit) blocked() bool {
	if p.stopped.Load() {
		return false
	}
	n, b := unpack(p.state.Load())
	return p.paused.Load() || n >= p.max || b >= p.maxBytes
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

// pause stops reading until the counts drop to the low watermarks. They
// are checked again after the flag is set: a release that brought them
// down in between has already tried to resume, and a pause set after that
// with no release left to come would strand every reader.
func (p *pendingLimit) pause() {
	p.paused.Store(true)
	if p.atLow(p.state.Load()) {
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

// release gives back room for k messages of the given bytes and, if both
// counts are now at or below their low watermarks, resumes reading.
func (p *pendingLimit) release(k, bytes int64) {
	if s := p.state.Add(-pack(k, bytes)); p.atLow(s) && (p.paused.Load() || p.waiters.Load() > 0) {
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
