package relay

import (
	"sync"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

// A Batch is a flushed group of messages, held in one reusable buffer that
// is already the complete wire frame: the wire.HeaderSize-byte header, then
// the payload (each message followed by '\n'). A TCP sink writes Frame in
// one call; a sink for another transport can use Payload, which is
// newline-delimited, and Header.
type Batch struct {
	hdr      wire.Header
	buf      []byte // header space, then payload
	sentAt   time.Time
	attempts int // times sent
}

// Header returns the batch's frame header.
func (b *Batch) Header() wire.Header { return b.hdr }

// Frame returns the encoded frame: header then payload. It is valid until
// the batch is acknowledged.
func (b *Batch) Frame() []byte { return b.buf }

// Payload returns the messages, each followed by '\n'.
func (b *Batch) Payload() []byte { return b.buf[wire.HeaderSize:] }

// Len returns the number of messages in the batch.
func (b *Batch) Len() int { return int(b.hdr.Count) }

// batchPool recycles batch buffers.
type batchPool struct{ p sync.Pool }

func newBatchPool(initialCap int) *batchPool {
	bp := &batchPool{}
	bp.p.New = func() any { return &Batch{buf: make([]byte, wire.HeaderSize, initialCap)} }
	return bp
}

func (bp *batchPool) get() *Batch {
	b := bp.p.Get().(*Batch)
	b.buf = b.buf[:wire.HeaderSize]
	return b
}

func (bp *batchPool) put(b *Batch) {
	if cap(b.buf) > 16<<20 {
		return // let an outsized buffer go
	}
	b.hdr, b.sentAt, b.attempts = wire.Header{}, time.Time{}, 0
	bp.p.Put(b)
}

// batchQueue carries flushed batches from the batcher to the sender. Work
// is per batch, so a mutex is fine; push never blocks (the pending limit
// bounds what it holds), so the batcher is never stalled by the sink.
type batchQueue struct {
	mu     sync.Mutex
	items  []*Batch
	closed bool
	notify chan struct{} // one token when items or closed changed
}

func newBatchQueue() *batchQueue { return &batchQueue{notify: make(chan struct{}, 1)} }

func (q *batchQueue) push(b *Batch) {
	q.mu.Lock()
	q.items = append(q.items, b)
	q.mu.Unlock()
	q.signal()
}

func (q *batchQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

func (q *batchQueue) signal() {
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// takeAll appends every queued batch to dst and reports whether the queue
// is closed (no more will come).
func (q *batchQueue) takeAll(dst []*Batch) ([]*Batch, bool) {
	q.mu.Lock()
	dst = append(dst, q.items...)
	clear(q.items)
	q.items = q.items[:0]
	closed := q.closed
	q.mu.Unlock()
	return dst, closed
}
