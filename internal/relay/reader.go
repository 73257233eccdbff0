package relay

import (
	"bytes"
	"errors"
	"io"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// connReader reads one client connection. It holds no read buffer while
// the connection is idle: on a socket it waits for readability through
// syscall.RawConn and takes a pooled chunk only when data is there, so an
// idle connection costs its goroutine, its net.Conn and the bytes of an
// unfinished line (carry), if any.
type connReader struct {
	r       *Relay
	nc      net.Conn
	rc      syscall.RawConn // nil when nc is not a socket
	readFn  func(fd uintptr) bool
	carry   []byte // the unterminated line at the end of the last read
	skip    bool   // dropping the rest of an over-long line
	cur     *chunk // the chunk being filled by readFn
	n       int
	readErr error
}

func newConnReader(r *Relay, nc net.Conn) *connReader {
	cr := &connReader{r: r, nc: nc}
	if sc, ok := nc.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			cr.rc = rc
			cr.readFn = cr.rawRead
		}
	}
	return cr
}

// rawRead runs inside RawConn.Read: it takes a chunk, copies the carried
// partial line to its start and reads after it. On EAGAIN it returns the
// chunk to the pool and asks the runtime to wait for readability.
//
// While reading is blocked by the pending limit (see pendingLimit) it
// reads nothing and returns, so serve waits for room: a reader parked on
// readability since before the limit was reached would otherwise read a
// chunk it cannot hand off and hold it, 128 KiB, until reading resumes.
// (Measured with 5,000 connections flooding a relay whose destination is
// slower than the clients, TestBackpressureRSS: peak RSS 299-303 MiB
// before, 77-93 MiB with this check and the pause.)
func (cr *connReader) rawRead(fd uintptr) bool {
	if cr.cur == nil {
		if cr.r.pending.blocked() {
			return true
		}
		cr.cur = cr.r.chunks.get()
		copy(cr.cur.buf, cr.carry)
	}
	for {
		n, err := unix.Read(int(fd), cr.cur.buf[len(cr.carry):])
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			cr.r.chunks.put(cr.cur)
			cr.cur = nil
			return false
		}
		cr.n, cr.readErr = n, err
		if err == nil && n == 0 {
			cr.readErr = io.EOF
		}
		return true
	}
}

// read fills a chunk with one read. It returns the chunk (nil if none was
// taken), the number of new bytes after the carried line, and the error
// that ended reading, if any.
func (cr *connReader) read() (*chunk, int, error) {
	if cr.rc == nil {
		c := cr.r.chunks.get()
		copy(c.buf, cr.carry)
		n, err := cr.nc.Read(c.buf[len(cr.carry):])
		return c, n, err
	}
	cr.n, cr.readErr = 0, nil
	if err := cr.rc.Read(cr.readFn); err != nil {
		if cr.cur != nil {
			cr.r.chunks.put(cr.cur)
			cr.cur = nil
		}
		return nil, 0, err
	}
	c := cr.cur
	cr.cur = nil
	if cr.readErr != nil && cr.n <= 0 {
		cr.r.chunks.put(c)
		return nil, 0, cr.readErr
	}
	return c, cr.n, nil
}

// serve reads lines until EOF, an error, the idle timeout or shutdown.
func (cr *connReader) serve() {
	r := cr.r
	for {
		if r.stopping.Load() {
			cr.finish(errStopping)
			return
		}
		if r.pending.blocked() && !r.pending.wait() {
			cr.finish(errStopping)
			return
		}
		if r.cfg.IdleTimeout > 0 {
			cr.nc.SetReadDeadline(time.Now().Add(r.cfg.IdleTimeout))
			if r.stopping.Load() {
				cr.finish(errStopping)
				return
			}
		}
		c, n, err := cr.read()
		if n > 0 {
			r.st.bytes.Add(uint64(n))
			r.st.reads.Add(1)
			c.recvNs = r.stamps.now()
			cr.parse(c, len(cr.carry)+n)
			cr.handoff(c)
			c = nil
		}
		if c != nil {
			r.chunks.put(c)
		}
		if err != nil {
			cr.finish(err)
			return
		}
	}
}

var errStopping = errors.New("relay stopping")

// finish handles the end of the stream: at a clean EOF the unterminated last
// line is a message; after any other error it is dropped and counted.
func (cr *connReader) finish(err error) {
	r := cr.r
	if cr.skip {
		cr.carry = cr.carry[:0]
	}
	if len(cr.carry) == 0 {
		return
	}
	if err != io.EOF {
		r.st.rejected[rejTruncated].Add(1)
		r.log.Debug("dropped an unterminated line", "remote", cr.nc.RemoteAddr().String(),
			"bytes", len(cr.carry), "error", err)
		return
	}
	c := r.chunks.get()
	n := copy(c.buf, cr.carry)
	c.buf[n] = '\n'
	cr.carry = cr.carry[:0]
	c.recvNs = r.stamps.now()
	cr.parse(c, n+1)
	cr.handoff(c)
}

// parse turns c.buf[:end] (the carried partial line, then the new bytes)
// into messages in payload form, in place: '\r' before '\n' is stripped,
// empty lines are skipped, lines over MaxLineBytes are dropped and counted.
// Clean input is not moved; a removed byte shifts the rest down. The
// unterminated tail goes to cr.carry, or is dropped when it is already
// over the limit.
func (cr *connReader) parse(c *chunk, end int) {
	buf := c.buf[:end]
	maxLine := cr.r.cfg.MaxLineBytes
	start, pos, w := 0, len(cr.carry), 0
	if cr.skip {
		i := bytes.IndexByte(buf[pos:], '\n')
		if i < 0 {
			c.data = buf[:0]
			cr.carry = cr.carry[:0]
			return
		}
		cr.skip = false
		start = pos + i + 1
		pos = start
	}
	ends := c.ends[:0]
	for {
		i := bytes.IndexByte(buf[pos:], '\n')
		if i < 0 {
			break
		}
		nl := pos + i
		e := nl
		if e > start && buf[e-1] == '\r' {
			e--
		}
		switch n := e - start; {
		case n == 0:
		case n > maxLine:
			cr.r.rejectTooLong(cr.nc, n)
		default:
			if w != start || e != nl {
				copy(buf[w:], buf[start:e])
				buf[w+n] = '\n'
			}
			w += n + 1
			ends = append(ends, uint32(w))
		}
		start = nl + 1
		pos = start
	}
	c.data, c.ends = buf[:w], ends
	tail := buf[start:]
	switch {
	case len(tail) > maxLine+1:
		cr.r.rejectTooLong(cr.nc, len(tail))
		cr.skip = true
		cr.carry = cr.carry[:0]
	case len(tail) == 0 && cap(cr.carry) > 4<<10:
		cr.carry = nil // do not keep a big buffer on an idle connection
	default:
		cr.carry = append(cr.carry[:0], tail...)
	}
}

// handoff reserves room for c's messages and pushes c to the batcher. When
// the pending limits admit only some of them, it pushes those, waits for
// room and goes on with the rest; at shutdown it admits everything. A
// message's receive time is when it is admitted (counted as received), so
// the rest is stamped again after the wait: the age rule times how long the
// relay holds a message, not how long backpressure kept it out.
func (cr *connReader) handoff(c *chunk) { cr.r.handoff(c) }

// handoff is connReader.handoff, for every kind of reader.
func (r *Relay) handoff(c *chunk) {
	for {
		k := int64(len(c.ends))
		if k == 0 {
			r.chunks.put(c)
			return
		}
		g := r.pending.reserve(c.ends)
		if g == k {
			r.st.received.Add(uint64(k))
			r.queue.push(c)
			return
		}
		if g > 0 {
			rest := r.chunks.splitAfter(c, int(g))
			r.st.received.Add(uint64(g))
			r.queue.push(c)
			c = rest
		}
		r.st.readsHeld.Add(1)
		r.pending.wait()
		r.st.readsHeld.Add(-1)
		c.recvNs = r.stamps.now()
	}
}
