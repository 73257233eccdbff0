package httpout

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

// DeadLetter appends the documents a destination rejected for good to a
// file, one JSON object a line:
//
//	{"time":"…","status":400,"reason":"…","line":"the original line"}
//
// time is when it was written (RFC 3339, UTC), status the HTTP status of
// the item or request that rejected it, reason the engine's explanation,
// line the message as the relay received it (invalid UTF-8 as U+FFFD). It
// is safe for concurrent use; each record is one write to a file opened
// for appending.
type DeadLetter struct {
	mu  sync.Mutex
	f   *os.File
	buf []byte
}

// OpenDeadLetter opens (creating it with mode 0600 if needed) path for
// appending.
func OpenDeadLetter(path string) (*DeadLetter, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open dead-letter file: %w", err)
	}
	return &DeadLetter{f: f}, nil
}

// Write appends one record.
func (d *DeadLetter) Write(now time.Time, status int, reason string, line []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	b := append(d.buf[:0], `{"time":"`...)
	b = now.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","status":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, `,"reason":`...)
	b = wire.AppendJSONString(b, []byte(reason))
	b = append(b, `,"line":`...)
	b = wire.AppendJSONString(b, line)
	b = append(b, "}\n"...)
	d.buf = b
	if _, err := d.f.Write(b); err != nil {
		return fmt.Errorf("write dead-letter record: %w", err)
	}
	return nil
}

// Close closes the file.
func (d *DeadLetter) Close() error { return d.f.Close() }

// Limiter lets a repeated log line through at most once per interval and
// counts what it held back, so a destination rejecting every document
// cannot flood the log.
type Limiter struct {
	mu         sync.Mutex
	interval   time.Duration
	last       time.Time
	suppressed int
}

// NewLimiter returns a limiter passing one line per interval.
func NewLimiter(interval time.Duration) *Limiter { return &Limiter{interval: interval} }

// Allow reports whether a line may be logged now and, if so, how many
// were held back since the last one.
func (l *Limiter) Allow(now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < l.interval {
		l.suppressed++
		return false, 0
	}
	l.last = now
	n := l.suppressed
	l.suppressed = 0
	return true, n
}
