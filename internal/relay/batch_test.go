package relay

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

// TestBatchAll: All yields every message of a batch in order with the
// receive time of the read it came from, across chunks and across a batch
// split by size, and allocates nothing.
func TestBatchAll(t *testing.T) { // not parallel: AllocsPerRun
	g := newBatcherRig(t, 5, 0, time.Hour)
	t0 := g.clock.Now()
	g.add("a0", "a1")
	g.clock.Advance(time.Millisecond)
	g.add("b0")
	g.clock.Advance(time.Millisecond)
	g.add("c0", "c1", "c2", "c3") // the batch fills at c1; c2, c3 start the next
	g.advance(time.Hour)          // age-flush the second batch
	bs, _ := g.out.takeAll(nil)
	if len(bs) != 2 {
		t.Fatalf("got %d batches want 2", len(bs))
	}
	ms := func(d int) int64 { return t0.Add(time.Duration(d) * time.Millisecond).UnixNano() }
	want := [][]Message{
		{{[]byte("a0"), ms(0)}, {[]byte("a1"), ms(0)}, {[]byte("b0"), ms(1)}, {[]byte("c0"), ms(2)}, {[]byte("c1"), ms(2)}},
		{{[]byte("c2"), ms(2)}, {[]byte("c3"), ms(2)}},
	}
	for k, b := range bs {
		var got []string
		for i, m := range b.All() {
			got = append(got, fmt.Sprintf("%d:%s@%d", i, m.Data, m.RecvNs))
		}
		var exp []string
		for i, m := range want[k] {
			exp = append(exp, fmt.Sprintf("%d:%s@%d", i, m.Data, m.RecvNs))
		}
		if fmt.Sprint(got) != fmt.Sprint(exp) {
			t.Errorf("batch %d: got %v want %v", k+1, got, exp)
		}
		if len(b.runs) > 3 {
			t.Errorf("batch %d: %d runs for 3 reads", k+1, len(b.runs))
		}
	}
	for i, m := range bs[0].All() { // stopping early
		if i > 0 || string(m.Data) != "a0" {
			t.Fatalf("after break: got message %d %q", i, m.Data)
		}
		break
	}
	n := 0
	if a := testing.AllocsPerRun(100, func() {
		for _, m := range bs[0].All() {
			n += len(m.Data)
		}
	}); a != 0 {
		t.Errorf("All: %v allocations per batch want 0", a)
	}
}

// TestBatchAllByteSplit: when the byte cap takes part of a chunk, All
// still yields exactly the payload's messages, in both batches.
func TestBatchAllByteSplit(t *testing.T) {
	t.Parallel()
	g := newBatcherRig(t, 100, 10, time.Hour)
	g.add("aaa", "bb", "c", "dddd", "e") // 4+3+2 = 9 bytes fit, "dddd\n" does not
	g.advance(time.Hour)
	bs, _ := g.out.takeAll(nil)
	var got []string
	for _, b := range bs {
		var joined []byte
		for _, m := range b.All() {
			got = append(got, string(m.Data))
			joined = append(append(joined, m.Data...), '\n')
		}
		if string(joined) != string(b.Payload()) {
			t.Errorf("batch %d: All joined %q, payload %q", b.Header().Seq, joined, b.Payload())
		}
	}
	if fmt.Sprint(got) != "[aaa bb c dddd e]" || len(bs) != 2 {
		t.Errorf("got %d batches, messages %v", len(bs), got)
	}
}

// TestBatchQueueNext: several consumers share the queue; each batch goes
// to one of them, and all of them return once it is closed and empty.
func TestBatchQueueNext(t *testing.T) {
	t.Parallel()
	q := newBatchQueue()
	const workers, total = 4, 5000
	var mu sync.Mutex
	seen := map[uint64]int{}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				b, ok := q.next(nil)
				if !ok {
					return
				}
				mu.Lock()
				seen[b.hdr.Seq]++
				mu.Unlock()
			}
		})
	}
	for i := range total {
		q.push(&Batch{hdr: wire.Header{Seq: uint64(i + 1)}})
	}
	q.close()
	wg.Wait()
	if len(seen) != total {
		t.Fatalf("consumers took %d distinct batches want %d", len(seen), total)
	}
	for s, n := range seen {
		if n != 1 {
			t.Fatalf("batch %d taken %d times", s, n)
		}
	}
	done := make(chan struct{})
	close(done)
	q2 := newBatchQueue()
	if b, ok := q2.next(done); ok || b != nil {
		t.Errorf("next after done: got %v, %v want nil, false", b, ok)
	}
}
