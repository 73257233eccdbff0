package relay

import (
	"testing"
	"time"
)

func TestPendingLowWatermark(t *testing.T) {
	t.Parallel()
	tests := []struct {
		limit, batchSize int
		want             int64
	}{
		{100_000, 100, 75_000},
		{100, 10, 75},
		{100, 100, 99}, // a partial batch of 99 must not strand waiters
		{120, 100, 99},
		{1, 1, 0},
	}
	for _, tt := range tests {
		if got := newPendingLimit(tt.limit, tt.batchSize).low; got != tt.want {
			t.Errorf("newPendingLimit(%d, %d).low = %d, want %d", tt.limit, tt.batchSize, got, tt.want)
		}
	}
}

func TestPendingWakesAtLowWatermark(t *testing.T) {
	t.Parallel()
	p := newPendingLimit(100, 10)
	if got := p.reserve(100); got != 100 {
		t.Fatalf("reserve(100) = %d, want 100", got)
	}
	woke := make(chan bool, 1)
	go func() { woke <- p.wait() }()
	for p.waiters.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	p.release(10) // 90 held: above the low watermark (75), no wake-up
	select {
	case <-woke:
		t.Fatalf("waiter woke with %d held, want it to wait until %d", p.load(), p.low)
	case <-time.After(20 * time.Millisecond):
	}
	p.release(15) // 75 held: at the low watermark
	select {
	case ok := <-woke:
		if !ok {
			t.Fatalf("wait() = false, want true")
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("waiter not woken with %d held, low watermark %d", p.load(), p.low)
	}
}

// TestPendingPausesUntilLowWatermark: once a reservation finds the limit
// reached, reading stays paused (blocked) until the count drops to the low
// watermark, not merely below the limit; a reservation that fits does not
// pause.
func TestPendingPausesUntilLowWatermark(t *testing.T) {
	t.Parallel()
	p := newPendingLimit(100, 10) // low watermark 75
	if got := p.reserve(100); got != 100 || p.paused.Load() {
		t.Fatalf("reserve(100) = %d, paused %v; want 100, not paused (it fitted)", got, p.paused.Load())
	}
	if !p.blocked() {
		t.Fatal("at the limit: blocked() = false")
	}
	if got := p.reserve(5); got != 0 || !p.paused.Load() {
		t.Fatalf("reserve(5) at the limit = %d, paused %v; want 0, paused", got, p.paused.Load())
	}
	p.release(10) // 90: below the limit, above the low watermark
	if !p.blocked() {
		t.Fatalf("%d held after a pause: blocked() = false, want true until %d", p.load(), p.low)
	}
	p.release(15) // 75: at the low watermark
	if p.blocked() || p.paused.Load() {
		t.Fatalf("%d held: blocked() = %v, paused %v; want reading resumed", p.load(), p.blocked(), p.paused.Load())
	}
	// A partial reservation pauses too.
	if got := p.reserve(40); got != 25 || !p.blocked() {
		t.Fatalf("reserve(40) with 25 free = %d, blocked %v; want 25, blocked", got, p.blocked())
	}
	p.stop()
	if p.blocked() || p.reserve(7) != 7 {
		t.Fatal("after stop: still blocked, or reserve not unconditional")
	}
}

// TestPendingPauseAfterRelease: a pause set after the releases that
// brought the count to the low watermark (they found nothing to resume)
// resumes at once, since no release may be left to come; a waiter is not
// stranded.
func TestPendingPauseAfterRelease(t *testing.T) {
	t.Parallel()
	p := newPendingLimit(100, 10)
	p.reserve(100)
	p.release(100) // everything acknowledged; nothing paused yet
	p.pause()      // the pause of a reservation that raced with those releases
	if p.blocked() {
		t.Fatalf("pause with %d held (low watermark %d): blocked() = true, want an immediate resume", p.load(), p.low)
	}
	done := make(chan bool, 1)
	go func() { done <- p.wait() }()
	select {
	case ok := <-done:
		if !ok {
			t.Fatal("wait() = false before stop")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a waiter is stranded with nothing held")
	}
}
