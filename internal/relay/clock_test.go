package relay

import (
	"sync"
	"testing"
	"time"
)

// fakeClock is a Clock that moves only when Advance is called.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, ch: make(chan time.Time, 1)}
	c.timers = append(c.timers, t)
	t.arm(d)
	return t
}

// Advance moves the clock forward by d and fires the timers now due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for _, t := range c.timers {
		t.fireIfDue()
	}
}

type fakeTimer struct {
	c      *fakeClock
	ch     chan time.Time
	when   time.Time
	active bool
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

// arm and fireIfDue run with t.c.mu held.
func (t *fakeTimer) arm(d time.Duration) {
	t.when, t.active = t.c.now.Add(d), true
	t.fireIfDue()
}

func (t *fakeTimer) fireIfDue() {
	if t.active && !t.c.now.Before(t.when) {
		t.active = false
		select {
		case t.ch <- t.c.now:
		default:
		}
	}
}

func (t *fakeTimer) drain() {
	select {
	case <-t.ch:
	default:
	}
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.active = false
	t.drain()
	return was
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.drain()
	t.arm(d)
	return was
}

// TestStamps: with a fake clock (readings without a monotonic part) the
// stamps are the clock's readings; with the real clock they follow the
// monotonic clock from a wall-clock base, never go backwards and stay next
// to the wall clock. (A step of the system clock, which the monotonic base
// exists for, needs root to provoke and is not tested here.)
func TestStamps(t *testing.T) {
	fc := newFakeClock()
	s := newStamps(fc)
	for _, d := range []time.Duration{0, time.Nanosecond, 10 * time.Second, time.Hour} {
		fc.Advance(d)
		if got, want := s.now(), fc.Now().UnixNano(); got != want {
			t.Fatalf("fake clock after +%v: stamp %d want %d", d, got, want)
		}
	}
	rs := newStamps(realClock{})
	prev := rs.now()
	for range 1000 {
		n := rs.now()
		if n < prev {
			t.Fatalf("real clock: stamp went back from %d to %d", prev, n)
		}
		prev = n
	}
	if d := time.Duration(prev - time.Now().UnixNano()); d.Abs() > time.Second {
		t.Errorf("real clock: stamp %v away from the wall clock", d)
	}
}
