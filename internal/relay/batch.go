package relay

import (
	"iter"
	"sync"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

// A Batch is a flushed group of messages, held in one reusable buffer that
// is already the complete wire frame: the wire.HeaderSize-byte header, then
// the payload (each message followed by '\n'). A stream sink writes Frame
// in one call; an encoder for another format ranges over All, which yields
// each message with its receive time without allocating or reading the
// payload (the batcher records where each message ends), and reads Header
// for the batch's seq, oldest receive time, flush time and reason.
//
// A Batch belongs to the sink from the moment Feed hands it out until the
// sink settles it (Feed.Settle); after that the relay reuses it, so a sink
// must not keep its bytes.
type Batch struct {
	hdr      wire.Header
	buf      []byte     // header space, then payload
	ends     []uint32   // ends[i]: payload offset just past message i's '\n'
	runs     []run      // the messages' receive times, one entry per run from one read
	runs0    [4]run     // runs' first backing array: most batches come from one to four reads
	relp     []relpRun  // the RELP sessions' runs of messages, one per run from one session's read
	relp0    [2]relpRun // relp's first backing array
	sentAt   time.Time
	attempts int // times sent
}

// A run is a group of consecutive messages of a batch that came from one
// read and so share its receive time. The batcher appends one per chunk
// it copies from, never one per message.
type run struct {
	end    uint32 // index just past the run's last message
	recvNs int64  // the read's receive time (Unix ns)
}

// Message is one message of a batch.
type Message struct {
	// Data is the message without its '\n'. It is valid until the batch is
	// settled.
	Data []byte
	// RecvNs is when the relay read the message (Unix ns, the relay's
	// monotonic-anchored stamp clock).
	RecvNs int64
}

// Header returns the batch's frame header: Seq, Count, PayloadLen,
// OldestNs, FlushNs and Reason.
func (b *Batch) Header() wire.Header { return b.hdr }

// Frame returns the encoded frame: header then payload. It is valid until
// the batch is settled.
func (b *Batch) Frame() []byte { return b.buf }

// Payload returns the messages, each followed by '\n'. It is valid until
// the batch is settled.
func (b *Batch) Payload() []byte { return b.buf[wire.HeaderSize:] }

// Len returns the number of messages in the batch.
func (b *Batch) Len() int { return int(b.hdr.Count) }

// All returns an iterator over the batch's messages in order, with their
// index (0 to Len-1). It takes each message's bounds from the offsets the
// batcher recorded, so it neither reads the payload nor allocates.
func (b *Batch) All() iter.Seq2[int, Message] {
	return func(yield func(int, Message) bool) {
		p := b.buf[wire.HeaderSize:]
		ends := b.ends[:b.hdr.Count]
		i, start := 0, uint32(0)
		for _, r := range b.runs {
			for ; i < int(r.end); i++ {
				end := ends[i]
				if !yield(i, Message{Data: p[start : end-1], RecvNs: r.recvNs}) {
					return
				}
				start = end
			}
		}
	}
}

// appendMessages appends the messages data[off:ends[k]] for k in [i, j)
// (ends are offsets in data just past each message's '\n', as a chunk
// holds them) to the payload, recording where each one ends.
func (b *Batch) appendMessages(data []byte, ends []uint32, off uint32, i, j int) {
	base := uint32(len(b.buf)-wire.HeaderSize) - off
	for _, e := range ends[i:j] {
		b.ends = append(b.ends, base+e)
	}
	b.buf = append(b.buf, data[off:ends[j-1]]...)
	b.hdr.Count += uint32(j - i)
}

// addRun records that the batch's messages up to index end (exclusive)
// were received at recvNs, extending the last run when it has the same
// time.
func (b *Batch) addRun(end uint32, recvNs int64) {
	if k := len(b.runs) - 1; k >= 0 && b.runs[k].recvNs == recvNs {
		b.runs[k].end = end
		return
	}
	b.runs = append(b.runs, run{end: end, recvNs: recvNs})
}

// batchPool recycles batch buffers. It is safe for concurrent use: the
// batcher gets batches and the sink's goroutines settle them.
type batchPool struct{ p sync.Pool }

// newBatchPool returns a pool of batches whose buffers start with room for
// cfg's typical batch (256 bytes a message), at most one full payload and
// 4 MiB; append grows them as needed and put keeps the grown buffers.
func newBatchPool(cfg *Config) *batchPool {
	initialCap := min(wire.HeaderSize+cfg.BatchSize*256, wire.HeaderSize+cfg.payloadCap(), 4<<20)
	bp := &batchPool{}
	bp.p.New = func() any {
		b := &Batch{buf: make([]byte, wire.HeaderSize, initialCap), ends: make([]uint32, 0, min(cfg.BatchSize, 1<<16))}
		b.runs = b.runs0[:0]
		b.relp = b.relp0[:0]
		return b
	}
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
	b.hdr, b.sentAt, b.attempts, b.runs, b.ends = wire.Header{}, time.Time{}, 0, b.runs[:0], b.ends[:0]
	clear(b.relp) // drop the sessions' trackers
	b.relp = b.relp[:0]
	bp.p.Put(b)
}

// batchQueue carries flushed batches from the batcher to the sink. Work
// is per batch, so a mutex is fine; push never blocks (the pending limit
// bounds what it holds), so the batcher is never stalled by the sink.
type batchQueue struct {
	mu     sync.Mutex
	items  []*Batch // queued batches are items[head:]
	head   int
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
	dst = append(dst, q.items[q.head:]...)
	clear(q.items)
	q.items, q.head = q.items[:0], 0
	closed := q.closed
	q.mu.Unlock()
	return dst, closed
}

// compactFront is the step after taking items[head-1] from the front of a
// queue kept as a slice and the index of its first live item: when every
// item is taken it returns items[:0] and 0; when the taken prefix is at
// least 1024 items and half the slice it moves the live items to the front
// (zeroing the vacated tail, so nothing taken stays reachable) and returns
// them and 0; otherwise it returns items and head as they are. The backing
// array is reused in every case.
func compactFront[T any](items []T, head int) ([]T, int) {
	if head == len(items) {
		return items[:0], 0
	}
	if head >= 1024 && head*2 >= len(items) {
		n := copy(items, items[head:])
		clear(items[n:])
		return items[:n], 0
	}
	return items, head
}

// next removes and returns the oldest queued batch, waiting for one until
// done is closed. It returns false when the queue is closed and empty, or
// done is closed. Several goroutines may call it at once: whoever takes a
// batch and sees more (or the close) passes the token on.
func (q *batchQueue) next(done <-chan struct{}) (*Batch, bool) {
	for {
		q.mu.Lock()
		if q.head < len(q.items) {
			b := q.items[q.head]
			q.items[q.head] = nil
			q.items, q.head = compactFront(q.items, q.head+1)
			more := q.head < len(q.items) || q.closed
			q.mu.Unlock()
			if more {
				q.signal()
			}
			return b, true
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			q.signal() // wake the next waiter: it returns too
			return nil, false
		}
		select {
		case <-q.notify:
		case <-done:
			return nil, false
		}
	}
}
