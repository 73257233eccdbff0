package mockdest

import (
	"bytes"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"
)

// TestThrottledReader: reads through a limiter deliver every byte, in
// pieces no larger than the bucket, no sooner than the rate allows after
// the first bucketful, and count the reads that waited.
func TestThrottledReader(t *testing.T) {
	t.Parallel()
	const bps, size = 100_000, 20_000 // bucket: 5000 bytes
	var throttled atomic.Uint64
	l := newLimiter(bps, &throttled)
	in := bytes.Repeat([]byte("abcdefghij"), size/10)
	r := &throttledReader{r: bytes.NewReader(in), l: l, done: make(chan struct{})}
	start := time.Now()
	var out []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Read(buf)
		if n > l.bucket.Burst() {
			t.Fatalf("read %d bytes at once, want ≤ %d", n, l.bucket.Burst())
		}
		out = append(out, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	el := time.Since(start)
	if !bytes.Equal(out, in) {
		t.Fatalf("read %d bytes, not the %d written", len(out), len(in))
	}
	if want := time.Duration(float64(size-bps/20) / bps * float64(time.Second)); el < want*9/10 {
		t.Errorf("%d bytes at %d B/s in %v, want ≥ %v", size, bps, el, want)
	}
	if n := throttled.Load(); n < 3 {
		t.Errorf("throttled reads: got %d want ≥ 3 (4 bucketfuls after the first)", n)
	}
}

// TestThrottledReaderStops: a read waiting for bandwidth ends when the
// server stops.
func TestThrottledReaderStops(t *testing.T) {
	t.Parallel()
	var throttled atomic.Uint64
	l := newLimiter(10, &throttled) // bucket: 1 byte; a second read waits 100 ms
	done := make(chan struct{})
	r := &throttledReader{r: bytes.NewReader([]byte("xyz")), l: l, done: done}
	var b [8]byte
	if n, err := r.Read(b[:]); n != 1 || err != nil {
		t.Fatalf("first read: %d, %v want 1 byte", n, err)
	}
	close(done)
	start := time.Now()
	if _, err := r.Read(b[:]); !errors.Is(err, errStopped) {
		t.Errorf("read after stop: got %v want %v", err, errStopped)
	}
	if el := time.Since(start); el > 90*time.Millisecond {
		t.Errorf("stopped read took %v, want well under the 100 ms wait", el)
	}
}
