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
