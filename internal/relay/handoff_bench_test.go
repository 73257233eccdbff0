package relay

import (
	"fmt"
	"sync"
	"testing"
)

// handoff is one way to move chunks from many readers to the batcher.
type handoff interface {
	push(c *chunk)
	// consume takes n chunks, blocking while none is there, and gives each
	// to fn.
	consume(n int, fn func(*chunk))
}

// lockFree is the relay's design: chunkQueue with its sleep/wake protocol.
type lockFree struct{ q *chunkQueue }

func (h lockFree) push(c *chunk) { h.q.push(c) }

func (h lockFree) consume(n int, fn func(*chunk)) {
	for n > 0 {
		if c := h.q.pop(); c != nil {
			fn(c)
			n--
			continue
		}
		h.q.sleep(nil, nil)
	}
}

// mutexSlice guards a slice with a mutex; the consumer swaps out the whole
// slice at once and sleeps on a condition variable when it is empty.
type mutexSlice struct {
	mu      sync.Mutex
	cond    sync.Cond
	items   []*chunk
	waiting bool
}

func newMutexSlice() *mutexSlice {
	m := &mutexSlice{}
	m.cond.L = &m.mu
	return m
}

func (m *mutexSlice) push(c *chunk) {
	m.mu.Lock()
	m.items = append(m.items, c)
	if m.waiting {
		m.cond.Signal()
	}
	m.mu.Unlock()
}

func (m *mutexSlice) consume(n int, fn func(*chunk)) {
	var mine []*chunk
	for n > 0 {
		m.mu.Lock()
		for len(m.items) == 0 {
			m.waiting = true
			m.cond.Wait()
			m.waiting = false
		}
		mine, m.items = m.items, mine[:0]
		m.mu.Unlock()
		for _, c := range mine {
			fn(c)
		}
		n -= len(mine)
	}
}

// channel is a buffered Go channel.
type channel chan *chunk

func (ch channel) push(c *chunk) { ch <- c }

func (ch channel) consume(n int, fn func(*chunk)) {
	for range n {
		fn(<-ch)
	}
}

// BenchmarkHandoff compares the reader→batcher hand-off designs at 1, 8
// and 64 concurrent producers. One op hands off one chunk; a chunk holding
// one message is the worst case (a read that carries a single line), so
// ns/op is the hand-off cost per message there, and a read carrying k
// lines divides it by k. Chunks are preallocated and reused after each
// round of at most 1M so that only the hand-off itself is measured.
func BenchmarkHandoff(b *testing.B) {
	variants := []struct {
		name string
		new  func() handoff
	}{
		{"lockfree", func() handoff { return lockFree{newChunkQueue()} }},
		{"mutex", func() handoff { return newMutexSlice() }},
		{"channel", func() handoff { return make(channel, 1024) }},
	}
	for _, producers := range []int{1, 8, 64} {
		for _, v := range variants {
			b.Run(fmt.Sprintf("producers=%d/%s", producers, v.name), func(b *testing.B) {
				nodes := make([]chunk, min(b.N, 1<<20))
				h := v.new()
				b.ReportAllocs()
				b.ResetTimer()
				for done := 0; done < b.N; {
					round := min(b.N-done, len(nodes))
					var wg sync.WaitGroup
					for p := range producers {
						lo, hi := round*p/producers, round*(p+1)/producers
						wg.Add(1)
						go func() {
							defer wg.Done()
							for i := lo; i < hi; i++ {
								c := &nodes[i]
								c.recvNs = 1
								h.push(c)
							}
						}()
					}
					var sum int64
					h.consume(round, func(c *chunk) { sum += c.recvNs; c.recvNs = 0 })
					wg.Wait()
					if sum != int64(round) {
						b.Fatalf("consumed %d of %d", sum, round)
					}
					done += round
				}
			})
		}
	}
}

// TestChunkQueueConcurrent checks the queue under -race: every chunk from
// every producer arrives exactly once, in each producer's order.
func TestChunkQueueConcurrent(t *testing.T) {
	t.Parallel()
	const producers, per = 16, 3000
	q := newChunkQueue()
	h := lockFree{q}
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				h.push(&chunk{recvNs: int64(p)<<32 | int64(i)})
			}
		}()
	}
	next := make([]int64, producers)
	h.consume(producers*per, func(c *chunk) {
		p, i := c.recvNs>>32, c.recvNs&(1<<32-1)
		if i != next[p] {
			t.Fatalf("producer %d: got item %d want %d", p, i, next[p])
		}
		next[p]++
	})
	wg.Wait()
	if q.pop() != nil || !q.empty() {
		t.Error("queue not empty after consuming everything")
	}
}
