package relay

import "time"

// Clock is the relay's source of time. The readers stamp receive times
// with it; the batcher's age rule, the accept loop's backoff and the
// sinks' backoffs and acknowledgement timeouts (Feed.Clock) read it, so
// tests can drive them with a fake clock instead of sleeping. (Socket deadlines are the kernel's and
// use the wall clock.)
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer returns a started timer that fires once after d.
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer created by a Clock, with time.Timer's Go 1.23
// semantics: after Stop or Reset returns, no stale value is received from C.
type Timer interface {
	// C returns the channel on which the firing time is delivered.
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it was active.
	Stop() bool
	// Reset makes the timer fire after d; it reports whether it was active.
	Reset(d time.Duration) bool
}

// realClock is the wall clock.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time        { return t.t.C }
func (t realTimer) Stop() bool                 { return t.t.Stop() }
func (t realTimer) Reset(d time.Duration) bool { return t.t.Reset(d) }

// newStoppedTimer returns a timer of c that is not running.
func newStoppedTimer(c Clock) Timer {
	t := c.NewTimer(time.Hour)
	t.Stop()
	return t
}

// stamps turns a Clock's readings into the nanosecond times the wire
// format carries (a chunk's receive time, a batch's flush time): the wall
// clock read once when the relay starts, plus the monotonic time elapsed
// since. A batch's age, FlushNs − OldestNs, and the batcher's deadlines are
// therefore pure monotonic differences: a step of the system clock (NTP at
// boot, an operator's date command) neither holds a batch past
// --flush-interval nor flushes it early, and a destination that computes the
// age from the frame sees what the relay timed. The price: the absolute
// stamps drift from the system clock by whatever corrections it receives
// during the relay's life (NTP slews at most 500 ppm). With a fake clock
// whose readings carry no monotonic reading, the stamps are its readings.
type stamps struct {
	clock  Clock
	base   time.Time
	baseNs int64
}

func newStamps(c Clock) stamps {
	b := c.Now()
	return stamps{clock: c, base: b, baseNs: b.UnixNano()}
}

// now returns the current stamp.
func (s stamps) now() int64 { return s.baseNs + int64(s.clock.Now().Sub(s.base)) }
