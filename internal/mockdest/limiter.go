package mockdest

import (
	"errors"
	"io"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// limiter paces reads of all connections to an aggregate byte rate: a
// token bucket of 50 ms of bandwidth (at least 1 byte, at most 64 KiB),
// which is also the largest single read.
type limiter struct {
	bucket    *rate.Limiter
	throttled *atomic.Uint64 // reads that had to wait
}

func newLimiter(bytesPerSec int64, throttled *atomic.Uint64) *limiter {
	burst := int(min(max(bytesPerSec/20, 1), 64<<10))
	return &limiter{bucket: rate.NewLimiter(rate.Limit(bytesPerSec), burst), throttled: throttled}
}

// errStopped means a throttled read was abandoned because the server stops.
var errStopped = errors.New("server stopping")

// pay waits until n bytes just read are paid for, or done is closed.
func (l *limiter) pay(n int, done <-chan struct{}) error {
	if n <= 0 {
		return nil
	}
	r := l.bucket.ReserveN(time.Now(), n) // n ≤ burst: always possible
	d := r.Delay()
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

// throttledReader reads from r no faster than its limiter allows.
type throttledReader struct {
	r    io.Reader
	l    *limiter
	done <-chan struct{}
}

func (t *throttledReader) Read(p []byte) (int, error) {
	if b := t.l.bucket.Burst(); len(p) > b {
		p = p[:b]
	}
	n, err := t.r.Read(p)
	if perr := t.l.pay(n, t.done); perr != nil {
		return n, perr
	}
	return n, err
}
