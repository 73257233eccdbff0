package mockdest

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// limiter paces reads of all connections to an aggregate byte rate.
type limiter struct {
	nsPerByte float64 // time one byte costs
	chunk     int     // largest read: 50 ms of bandwidth, at least 1 byte, at most 64 KiB
	throttled *atomic.Uint64

	mu   sync.Mutex
	next time.Time // when the bytes read so far are paid for
}

func newLimiter(bytesPerSec int64, throttled *atomic.Uint64) *limiter {
	return &limiter{
		nsPerByte: 1e9 / float64(bytesPerSec),
		chunk:     int(min(max(bytesPerSec/20, 1), 64<<10)),
		throttled: throttled,
	}
}

// errStopped means a throttled read was abandoned because the server stops.
var errStopped = errors.New("server stopping")

// wait blocks until the bytes read so far are paid for, or done is closed.
func (l *limiter) wait(done <-chan struct{}) error {
	l.mu.Lock()
	d := time.Until(l.next)
	l.mu.Unlock()
	if d <= 0 {
		return nil
	}
	l.throttled.Add(1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-done:
		return errStopped
	}
}

// charge accounts for n bytes read.
func (l *limiter) charge(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if l.next.Before(now) {
		l.next = now
	}
	l.next = l.next.Add(time.Duration(float64(n) * l.nsPerByte))
}

// throttledReader reads from r no faster than its limiter allows.
type throttledReader struct {
	r    io.Reader
	l    *limiter
	done <-chan struct{}
}

func (t *throttledReader) Read(p []byte) (int, error) {
	if err := t.l.wait(t.done); err != nil {
		return 0, err
	}
	if len(p) > t.l.chunk {
		p = p[:t.l.chunk]
	}
	n, err := t.r.Read(p)
	t.l.charge(n)
	return n, err
}
