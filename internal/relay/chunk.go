package relay

import (
	"sync"
	"sync/atomic"
)

// readRoom is the space a read gets in a chunk beyond the longest partial
// line that may be carried into it (shorter than longCarry: a longer one is
// read into the carry itself).
const readRoom = 64 << 10

// A chunk is what one read from a client connection produces: the complete
// lines of that read, already in wire payload form (each message followed
// by one '\n', '\r' stripped, empty and over-long lines removed), and the
// offset just past each message. Readers fill chunks and hand them to the
// batcher through a chunkQueue; the batcher copies their messages into
// batches and recycles them.
type chunk struct {
	next   atomic.Pointer[chunk] // chunkQueue link
	buf    []byte                // backing store, len = cap = chunk size
	data   []byte                // buf[:n]: the messages, each ending in '\n'
	ends   []uint32              // ends[i]: offset in data just past message i's '\n'
	recvNs int64                 // when the read completed (Unix ns): every message's receive time

	// A chunk from a RELP session: its messages are the session's
	// consecutive seqs from relpFirst. nil for a plain connection.
	relp      *relpTrack
	relpFirst uint64
}

// chunkPool recycles chunks of one size.
type chunkPool struct {
	size int
	p    sync.Pool
}

// newChunkPool returns a pool of chunks of readRoom bytes plus the longest
// line, newline included, but at most 2×readRoom whatever maxLineBytes is:
// a read always gets at least readRoom after a carried partial line, which
// is shorter than longCarry, and a longer line gets a chunk of its own size
// from getSize.
func newChunkPool(maxLineBytes int) *chunkPool {
	cp := &chunkPool{size: min(maxLineBytes+1, readRoom) + readRoom}
	cp.p.New = func() any { return &chunk{buf: make([]byte, cp.size), ends: make([]uint32, 0, 512)} }
	return cp
}

func (cp *chunkPool) get() *chunk { return cp.p.Get().(*chunk) }

// getSize returns a chunk of at least n bytes: a pooled one, or for a long
// line one allocated for it, which put lets the collector have.
func (cp *chunkPool) getSize(n int) *chunk {
	if n <= cp.size {
		return cp.get()
	}
	return &chunk{buf: make([]byte, n), ends: make([]uint32, 0, 4)}
}

func (cp *chunkPool) put(c *chunk) {
	if len(c.buf) != cp.size {
		return // a long line's own chunk
	}
	c.data, c.ends, c.recvNs, c.relp = nil, c.ends[:0], 0, nil
	c.next.Store(nil)
	cp.p.Put(c)
}

// splitAfter moves the messages after the first n of c into a new chunk
// from cp and returns it; c keeps its first n messages. It is the slow path
// taken when the pending limit admits only part of a read.
func (cp *chunkPool) splitAfter(c *chunk, n int) *chunk {
	from := c.ends[n-1]
	rest := cp.getSize(len(c.data) - int(from))
	m := copy(rest.buf, c.data[from:])
	rest.data = rest.buf[:m]
	for _, e := range c.ends[n:] {
		rest.ends = append(rest.ends, e-from)
	}
	rest.recvNs = c.recvNs
	rest.relp, rest.relpFirst = c.relp, c.relpFirst+uint64(n)
	c.data, c.ends = c.data[:from], c.ends[:n]
	return rest
}
