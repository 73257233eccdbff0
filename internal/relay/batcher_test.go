package relay

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

// testChunk builds a chunk holding msgs, received at recv.
func testChunk(cp *chunkPool, recv time.Time, msgs ...string) *chunk {
	c := cp.get()
	w := 0
	for _, m := range msgs {
		w += copy(c.buf[w:], m)
		c.buf[w] = '\n'
		w++
		c.ends = append(c.ends, uint32(w))
	}
	c.data, c.recvNs = c.buf[:w], recv.UnixNano()
	return c
}

func msgs(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%04d", prefix, i)
	}
	return out
}

type batcherRig struct {
	t     *testing.T
	clock *fakeClock
	b     *batcher
	out   *batchQueue
	cp    *chunkPool
}

func newBatcherRig(t *testing.T, size, bytes int, interval time.Duration) *batcherRig {
	cfg := DefaultConfig()
	cfg.BatchSize, cfg.BatchBytes, cfg.FlushInterval = size, bytes, interval
	clock := newFakeClock()
	cp := newChunkPool(1024)
	out := newBatchQueue()
	return &batcherRig{t: t, clock: clock, cp: cp, out: out,
		b: newBatcher(&cfg, newStamps(clock), newChunkQueue(), cp, newBatchPool(&cfg), out, newCounters(size))}
}

// add feeds a chunk received now.
func (g *batcherRig) add(m ...string) {
	g.b.add(testChunk(g.cp, g.clock.Now(), m...))
}

// advance moves the fake clock and runs the batcher's timer handler if
// the age timer fired, as run's select would.
func (g *batcherRig) advance(d time.Duration) {
	g.clock.Advance(d)
	select {
	case <-g.b.timer.C():
		g.b.onTimer()
	default:
	}
}

type flushed struct {
	count  int
	reason wire.Reason
	age    time.Duration
}

func (g *batcherRig) take() []flushed {
	g.t.Helper()
	bs, _ := g.out.takeAll(nil)
	var out []flushed
	for _, b := range bs {
		h, err := wire.ParseHeader(b.Frame())
		if err != nil {
			g.t.Fatal(err)
		}
		if err := wire.CheckPayload(h, b.Payload()); err != nil {
			g.t.Fatal(err)
		}
		out = append(out, flushed{int(h.Count), h.Reason, time.Duration(h.FlushNs - h.OldestNs)})
	}
	return out
}

func TestBatcherRules(t *testing.T) {
	t.Parallel()
	const iv = 10 * time.Second
	type step struct {
		add     int           // messages to add in one chunk
		advance time.Duration // then move the clock
		want    []flushed     // batches flushed by this step
	}
	tests := []struct {
		name  string
		size  int
		bytes int
		steps []step
	}{
		{"exact size flush at 100", 100, 0, []step{
			{add: 99, want: nil},
			{add: 1, want: []flushed{{100, wire.ReasonSize, 0}}},
			{add: 250, want: []flushed{{100, wire.ReasonSize, 0}, {100, wire.ReasonSize, 0}}},
			{advance: iv - time.Nanosecond, want: nil},
			{advance: time.Nanosecond, want: []flushed{{50, wire.ReasonAge, iv}}},
		}},
		{"age flush at the interval, not before", 100, 0, []step{
			{add: 1, advance: iv - time.Millisecond},
			{add: 5, want: nil},
			{advance: time.Millisecond, want: []flushed{{6, wire.ReasonAge, iv}}},
		}},
		{"late message times its own batch", 100, 0, []step{
			{add: 3, advance: iv, want: []flushed{{3, wire.ReasonAge, iv}}},
			{advance: 3 * time.Second, want: nil},
			{add: 1, advance: iv - time.Second, want: nil},
			{advance: time.Second, want: []flushed{{1, wire.ReasonAge, iv}}},
		}},
		{"empty batcher never flushes", 100, 0, []step{
			{advance: 5 * iv, want: nil},
		}},
		{"size wins over age when both are due", 10, 0, []step{
			{add: 4, advance: 2 * time.Second},
			{add: 6, want: []flushed{{10, wire.ReasonSize, 2 * time.Second}}},
			{advance: iv, want: nil},
		}},
		{"batch bytes cap", 100, 30, []step{
			// each message "bNNNN\n" is 6 bytes: 5 fill 30 bytes exactly.
			{add: 12, want: []flushed{{5, wire.ReasonBytes, 0}, {5, wire.ReasonBytes, 0}}},
			{advance: iv, want: []flushed{{2, wire.ReasonAge, iv}}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := newBatcherRig(t, tt.size, tt.bytes, iv)
			for i, s := range tt.steps {
				if s.add > 0 {
					g.add(msgs("b", s.add)...)
				}
				got := g.take()
				if s.advance > 0 {
					g.advance(s.advance)
					got = append(got, g.take()...)
				}
				if fmt.Sprint(got) != fmt.Sprint(s.want) {
					t.Errorf("step %d: got %v want %v", i, got, s.want)
				}
			}
		})
	}
}

func TestBatcherBytesNextMessageWouldOverflow(t *testing.T) {
	t.Parallel()
	g := newBatcherRig(t, 100, 10, time.Second)
	g.add("aaaa", "bbbb", "cc") // 5 + 5 fill 10; "cc\n" starts the next
	g.add(strings.Repeat("x", 50))
	got := g.take()
	want := []flushed{{2, wire.ReasonBytes, 0}, {1, wire.ReasonBytes, 0}, {1, wire.ReasonBytes, 0}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v want %v", got, want)
	}
}

// TestBatcherEarlierReadArrivesLater: a chunk read before the current
// batch's first message but queued after it (readers racing to the queue)
// makes the batch older: its oldest time and deadline move back, so no
// message waits longer than the interval.
func TestBatcherEarlierReadArrivesLater(t *testing.T) {
	t.Parallel()
	const iv = 10 * time.Second
	g := newBatcherRig(t, 100, 0, iv)
	early := g.clock.Now()
	g.advance(3 * time.Second)
	g.add(msgs("late", 2)...)
	g.b.add(testChunk(g.cp, early, msgs("early", 1)...))
	g.advance(iv - 3*time.Second - time.Nanosecond)
	if got := g.take(); got != nil {
		t.Fatalf("before the early message's deadline: got %v want nothing", got)
	}
	g.advance(time.Nanosecond)
	want := []flushed{{3, wire.ReasonAge, iv}}
	if got := g.take(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v want %v (timed from the early read)", got, want)
	}

	// Older than the interval already: flushed as soon as it is added.
	g.add(msgs("now", 1)...)
	g.b.add(testChunk(g.cp, g.clock.Now().Add(-iv), msgs("stale", 1)...))
	want = []flushed{{2, wire.ReasonAge, iv}}
	if got := g.take(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stale read: got %v want %v", got, want)
	}
}

// TestBatcherProtocolPayloadCap: without --batch-bytes a batch still stops
// at the wire's default payload limit, so a destination never has to refuse
// a frame the relay would then resend forever.
func TestBatcherProtocolPayloadCap(t *testing.T) {
	t.Parallel()
	g := newBatcherRig(t, 100, 0, time.Second)
	big := strings.Repeat("x", wire.DefaultMaxPayload/3-1) // three fit (with their newlines); a fourth would not
	c := g.cp.get()
	c.buf = make([]byte, 0, 5*(len(big)+1))
	for range 5 {
		c.buf = append(c.buf, big...)
		c.buf = append(c.buf, '\n')
		c.ends = append(c.ends, uint32(len(c.buf)))
	}
	c.data, c.recvNs = c.buf, g.clock.Now().UnixNano()
	g.b.add(c)
	g.advance(time.Second)
	got := g.take()
	want := []flushed{{3, wire.ReasonBytes, 0}, {2, wire.ReasonAge, time.Second}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v want %v", got, want)
	}
}

// TestBatcherRun drives the goroutine itself with a fake clock: an idle
// batch is flushed by the timer alone, and stopping flushes the rest with
// reason shutdown and closes the output.
func TestBatcherRun(t *testing.T) {
	t.Parallel()
	g := newBatcherRig(t, 100, 0, 10*time.Second)
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() { g.b.run(done); close(exited) }()

	g.b.in.push(testChunk(g.cp, g.clock.Now(), msgs("r", 7)...))
	waitFor(t, "the batch's age timer to be armed", func() bool {
		g.clock.mu.Lock()
		defer g.clock.mu.Unlock()
		return g.clock.timers[0].active
	})
	g.clock.Advance(10 * time.Second)
	var got []flushed
	waitFor(t, "the age flush", func() bool { got = append(got, g.take()...); return len(got) == 1 })
	if want := (flushed{7, wire.ReasonAge, 10 * time.Second}); got[0] != want {
		t.Errorf("got %v want %v", got[0], want)
	}

	g.b.in.push(testChunk(g.cp, g.clock.Now(), msgs("s", 3)...))
	close(done)
	<-exited
	bs, closed := g.out.takeAll(nil)
	if !closed || len(bs) != 1 || bs[0].hdr.Reason != wire.ReasonShutdown || bs[0].hdr.Count != 3 {
		t.Fatalf("after stop: closed=%v batches=%d (%+v), want closed and one shutdown batch of 3", closed, len(bs), bs)
	}
	if bs[0].hdr.Seq != 2 {
		t.Errorf("seq: got %d want 2", bs[0].hdr.Seq)
	}
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
