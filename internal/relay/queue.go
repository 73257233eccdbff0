package relay

import (
	"runtime"
	"sync/atomic"
	"time"
)

// chunkQueue is the hand-off between connection readers and the batcher: a
// lock-free, unbounded, intrusive multi-producer single-consumer queue
// (Dmitry Vyukov's MPSC node queue) of chunks.
//
// The design works per read, not per message. A reader parses every line of
// one read into a pooled chunk, then pushes the whole chunk with a single
// atomic swap; the lone batcher pops chunks with atomic loads (no CAS, no
// lock) and copies their messages into batches with one copy per run of
// messages.
// So the per-message work on the hot path is a newline search and an
// append of one offset; no mutex, channel operation, allocation or system
// call is paid per message, and the one atomic swap per read is shared by
// the hundreds of messages a busy read carries.
//
// The batcher sleeps (sleep) only when the queue is empty: it sets
// sleeping, checks the queue once more, and waits on wake. A producer that finds sleeping
// set after its push clears it and sends one token on wake, so the channel
// is touched once per idle-to-busy transition, never per message or per
// chunk while the batcher is busy. BenchmarkHandoff compares this queue
// with a mutex-guarded slice and a buffered channel at 1, 8 and 64
// producers.
//
// The queue is unbounded by itself; the relay's pending limit bounds the
// messages in it, and a reader pushes its chunks in order, so messages from
// one connection reach the batcher in the order they were read.
type chunkQueue struct {
	head     atomic.Pointer[chunk] // last pushed; producers swap it
	_        [56]byte              // keep the producers' line and the consumer's apart
	sleeping atomic.Bool           // read by every push: on a line the consumer rarely writes
	wake     chan struct{}
	_        [48]byte
	tail     *chunk // next to pop; consumer only
	stub     chunk
}

func newChunkQueue() *chunkQueue {
	q := &chunkQueue{wake: make(chan struct{}, 1)}
	q.head.Store(&q.stub)
	q.tail = &q.stub
	return q
}

// push appends c. Any number of goroutines may push concurrently.
func (q *chunkQueue) push(c *chunk) {
	c.next.Store(nil)
	prev := q.head.Swap(c)
	prev.next.Store(c)
	if q.sleeping.Load() && q.sleeping.CompareAndSwap(true, false) {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// pop removes and returns the oldest chunk, or nil when the queue is empty.
// Only the consumer may call it. A push that has swapped head but not yet
// linked its node (a window of a few instructions) makes pop wait for the
// link: it spins, then yields if the producer was preempted there.
func (q *chunkQueue) pop() *chunk {
	for spins := 0; ; spins++ {
		if spins > 64 {
			runtime.Gosched()
		}
		tail := q.tail
		next := tail.next.Load()
		if tail == &q.stub {
			if next == nil {
				if q.head.Load() == tail {
					return nil // empty
				}
				continue // a producer is between swap and link
			}
			q.tail = next
			tail = next
			next = next.next.Load()
		}
		if next != nil {
			q.tail = next
			return tail
		}
		if q.head.Load() != tail {
			continue // a push after tail is in progress
		}
		// tail is the last node: put the stub behind it so it can be taken.
		q.push0(&q.stub)
		next = tail.next.Load()
		if next != nil {
			q.tail = next
			return tail
		}
	}
}

// push0 is push without the wake-up, used by the consumer for the stub.
func (q *chunkQueue) push0(c *chunk) {
	c.next.Store(nil)
	prev := q.head.Swap(c)
	prev.next.Store(c)
}

// empty reports whether nothing has been pushed that pop has not returned.
// Only the consumer may call it.
func (q *chunkQueue) empty() bool {
	t := q.tail
	return t.next.Load() == nil && q.head.Load() == t && t == &q.stub
}

// Why sleep returned.
const (
	wokePush  = iota // something was pushed (or was there already)
	wokeTimer        // timer fired
	wokeDone         // done was closed
)

// sleep waits until something is pushed, timer fires or done is closed,
// and reports which; it returns wokePush at once when the queue is not
// empty. Only the consumer may call it. It announces the wait to
// producers, then checks the queue once more, so a push that raced with
// the announcement is not missed; a nil timer or done never fires.
func (q *chunkQueue) sleep(timer <-chan time.Time, done <-chan struct{}) int {
	q.sleeping.Store(true)
	if !q.empty() {
		q.sleeping.Store(false)
		return wokePush
	}
	select {
	case <-q.wake:
		return wokePush
	case <-timer:
		q.sleeping.Store(false)
		return wokeTimer
	case <-done:
		q.sleeping.Store(false)
		return wokeDone
	}
}
