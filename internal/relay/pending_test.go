package relay

import (
	"slices"
	"testing"
	"time"
)

// endsOf returns the cumulative end offsets of n messages of size bytes each
// (newline included), as a chunk carries them.
func endsOf(n, size int) []uint32 {
	ends := make([]uint32, n)
	for i := range ends {
		ends[i] = uint32((i + 1) * size)
	}
	return ends
}

func (p *pendingLimit) load() int64      { n, _ := p.counts(); return n }
func (p *pendingLimit) loadBytes() int64 { _, b := p.counts(); return b }

// queued returns the number of readers waiting for their turn.
func (p *pendingLimit) queued() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.waiting)
}

// big is a byte limit no test here reaches.
const big = 1 << 30

func TestPendingLowWatermark(t *testing.T) {
	t.Parallel()
	tests := []struct {
		limit, batchSize     int
		limitBytes, maxBatch int64
		want, wantBytes      int64
	}{
		{100_000, 100, 256 << 20, 6_553_700, 75_000, 192 << 20},
		{100, 10, 1000, 100, 75, 750},
		{100, 100, 1000, 900, 99, 900}, // a partial batch must not strand waiters
		{120, 100, 1000, 999, 99, 999},
		{1, 1, 2, 1, 0, 1},
	}
	for _, tt := range tests {
		p := newPendingLimit(tt.limit, tt.limitBytes, tt.batchSize, tt.maxBatch)
		if p.low != tt.want || p.lowBytes != tt.wantBytes {
			t.Errorf("newPendingLimit(%d, %d, %d, %d): low %d, %d bytes; want %d, %d bytes",
				tt.limit, tt.limitBytes, tt.batchSize, tt.maxBatch, p.low, p.lowBytes, tt.want, tt.wantBytes)
		}
	}
}

func TestPendingWakesAtLowWatermark(t *testing.T) {
	t.Parallel()
	p := newPendingLimit(100, big, 10, 1000)
	if got := p.reserve(endsOf(100, 10)); got != 100 {
		t.Fatalf("reserve(100) = %d, want 100", got)
	}
	woke := make(chan bool, 1)
	tn := newTurn()
	go func() { woke <- p.wait(&tn) }()
	for p.queued() == 0 {
		time.Sleep(time.Millisecond)
	}
	p.release(10, 100) // 90 held: above the low watermark (75), no wake-up
	select {
	case <-woke:
		t.Fatalf("waiter woke with %d held, want it to wait until %d", p.load(), p.low)
	case <-time.After(20 * time.Millisecond):
	}
	p.release(15, 150) // 75 held: at the low watermark
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
	p := newPendingLimit(100, big, 10, 1000) // low watermark 75
	if got := p.reserve(endsOf(100, 1)); got != 100 || p.paused.Load() {
		t.Fatalf("reserve(100) = %d, paused %v; want 100, not paused (it fitted)", got, p.paused.Load())
	}
	if !p.blocked() {
		t.Fatal("at the limit: blocked() = false")
	}
	if got := p.reserve(endsOf(5, 1)); got != 0 || !p.paused.Load() {
		t.Fatalf("reserve(5) at the limit = %d, paused %v; want 0, paused", got, p.paused.Load())
	}
	p.release(10, 10) // 90: below the limit, above the low watermark
	if !p.blocked() {
		t.Fatalf("%d held after a pause: blocked() = false, want true until %d", p.load(), p.low)
	}
	p.release(15, 15) // 75: at the low watermark
	if p.blocked() || p.paused.Load() {
		t.Fatalf("%d held: blocked() = %v, paused %v; want reading resumed", p.load(), p.blocked(), p.paused.Load())
	}
	// A partial reservation pauses too.
	if got := p.reserve(endsOf(40, 1)); got != 25 || !p.blocked() {
		t.Fatalf("reserve(40) with 25 free = %d, blocked %v; want 25, blocked", got, p.blocked())
	}
	p.stop()
	if p.blocked() || p.reserve(endsOf(7, 1)) != 7 {
		t.Fatal("after stop: still blocked, or reserve not unconditional")
	}
}

// TestPendingBytes: the byte limit admits the messages that fit, in order,
// pauses reading, and resumes it when the bytes drop to their low
// watermark; both counts are given back together.
func TestPendingBytes(t *testing.T) {
	t.Parallel()
	p := newPendingLimit(1000, 1000, 10, 200) // bytes: low watermark 750
	if got := p.reserve(endsOf(9, 100)); got != 9 || p.loadBytes() != 900 {
		t.Fatalf("reserve(9 × 100 B) = %d, %d bytes; want 9, 900", got, p.loadBytes())
	}
	if p.blocked() {
		t.Fatal("900 of 1000 bytes: blocked")
	}
	// Messages of 60, 30 and 20 bytes: the first two fit (90 ≤ 100), the
	// third does not.
	if got := p.reserve([]uint32{60, 90, 110}); got != 2 || p.loadBytes() != 990 || p.load() != 11 {
		t.Fatalf("reserve(60, 30, 20 B) = %d, %d messages, %d bytes; want 2, 11, 990", got, p.load(), p.loadBytes())
	}
	if !p.blocked() {
		t.Fatal("a reservation cut short by the byte limit: not paused")
	}
	p.release(1, 100) // 890 bytes: above the low watermark
	if !p.blocked() {
		t.Fatalf("%d bytes after a pause: not blocked, want blocked until %d", p.loadBytes(), p.lowBytes)
	}
	p.release(2, 140) // 750 bytes
	if p.blocked() || p.load() != 8 || p.loadBytes() != 750 {
		t.Fatalf("%d messages, %d bytes: blocked %v; want 8, 750, resumed", p.load(), p.loadBytes(), p.blocked())
	}
	if got := p.reserve([]uint32{300}); got != 0 {
		t.Fatalf("a 300-byte message with 250 bytes free: reserved %d, want 0", got)
	}
	p.release(8, 750) // empty: a message of any size up to the limit fits
	if got := p.reserve([]uint32{1000}); got != 1 || p.blocked() != true {
		t.Fatalf("a 1000-byte message with nothing held: reserved %d, blocked %v; want 1, blocked (limit reached)", got, p.blocked())
	}
}

// TestPendingPauseAfterRelease: a pause set after the releases that
// brought the count to the low watermark (they found nothing to resume)
// resumes at once, since no release may be left to come; a waiter is not
// stranded.
func TestPendingPauseAfterRelease(t *testing.T) {
	t.Parallel()
	p := newPendingLimit(100, big, 10, 1000)
	p.reserve(endsOf(100, 3))
	p.release(100, 300) // everything acknowledged; nothing paused yet
	p.pause()           // the pause of a reservation that raced with those releases
	if p.blocked() {
		t.Fatalf("pause with %d held (low watermark %d): blocked() = true, want an immediate resume", p.load(), p.low)
	}
	done := make(chan bool, 1)
	tn := newTurn()
	go func() { done <- p.wait(&tn) }()
	select {
	case ok := <-done:
		if !ok {
			t.Fatal("wait() = false before stop")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a waiter is stranded with nothing held")
	}
}

// TestPendingTurns checks the fairness policy: after a pause, readers read
// one at a time in the order they queued; the one whose turn ends and who
// queues again goes behind every reader already waiting, so the reader
// that filled the room cannot refill it before the others had their turn;
// a reader whose turn ends with nobody waiting opens the gate.
func TestPendingTurns(t *testing.T) {
	t.Parallel()
	p := newPendingLimit(100, big, 10, 1000)
	p.reserve(endsOf(100, 1))
	if got := p.reserve(endsOf(1, 1)); got != 0 || !p.blocked() {
		t.Fatalf("reserve at the limit = %d, blocked %v; want 0, blocked", got, p.blocked())
	}
	turns := make([]turn, 3)
	granted := make(chan int, 10)
	// enqueue makes reader i wait for its turn (giving up the one it
	// holds) and returns once it is in line or holds a new turn.
	enqueue := func(i int) {
		tn := &turns[i]
		p.mu.Lock()
		held := p.holder == tn
		p.mu.Unlock()
		go func() {
			if p.wait(tn) {
				granted <- i
			}
		}()
		for {
			p.mu.Lock()
			in := slices.Contains(p.waiting, tn) || p.holder == tn && !held
			p.mu.Unlock()
			if in {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	for i := range turns {
		turns[i] = newTurn()
		enqueue(i)
	}
	next := func(want int) {
		t.Helper()
		select {
		case got := <-granted:
			if got != want {
				t.Fatalf("turn went to reader %d, want %d", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no turn granted, want reader %d", want)
		}
		select {
		case got := <-granted:
			t.Fatalf("reader %d got a turn while reader %d holds it", got, want)
		case <-time.After(10 * time.Millisecond):
		}
	}
	select {
	case got := <-granted:
		t.Fatalf("reader %d got a turn while paused", got)
	case <-time.After(10 * time.Millisecond):
	}
	p.release(25, 25) // at the low watermark: the pause ends
	next(0)
	if !p.blocked() {
		t.Fatal("readers are waiting: blocked() = false, want the gate closed")
	}
	enqueue(0) // reader 0 read, and has more: behind 1 and 2
	next(1)
	p.done(&turns[1])
	next(2)
	p.done(&turns[2])
	next(0)
	p.done(&turns[0])
	if p.blocked() || p.queued() != 0 {
		t.Fatalf("every turn done, nobody waiting: blocked() = %v, %d queued; want the gate open", p.blocked(), p.queued())
	}
	// A reservation that fills the limit exactly does not pause, but the
	// next reader to wait does; a read that does not fit pauses while its
	// reader holds the turn, and that reader waits for room behind the
	// others.
	p.reserve(endsOf(100, 1))
	enqueue(1)
	enqueue(2)
	p.release(30, 30)
	next(1)
	if got := p.reserve(endsOf(40, 1)); got != 30 {
		t.Fatalf("reserve(40) with 30 free = %d", got)
	}
	enqueue(1)
	select {
	case got := <-granted:
		t.Fatalf("reader %d got a turn while paused", got)
	case <-time.After(10 * time.Millisecond):
	}
	p.release(30, 30)
	next(2)
	p.done(&turns[2])
	next(1)
	p.stop()
	if p.blocked() || p.wait(&turns[0]) {
		t.Fatal("after stop: blocked, or wait() = true")
	}
}
