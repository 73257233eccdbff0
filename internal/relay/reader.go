package relay

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// readerEnv is what connection readers need of their relay, shared by all
// of them.
type readerEnv struct {
	pending  *pendingLimit
	chunks   *chunkPool
	queue    *chunkQueue
	st       *counters
	stamps   stamps
	stopping *atomic.Bool // set when the relay shuts down
	log      *slog.Logger
	tooLong  func(nc net.Conn, n int) // counts and reports an over-long line
	// maxLine is Config.MaxLineBytes; idle is Config.IdleTimeout and
	// lineTimeout Config.LineTimeout; maxCarry is Config.MaxCarryBytes.
	maxLine           int
	idle, lineTimeout time.Duration
	maxCarry          int64
	carried           atomic.Int64 // bytes of carries counted against maxCarry
}

// longCarry is the length of a partial line from which a reader reads into
// the carry itself rather than into a fresh chunk after a copy of it, so a
// long line costs a copy of each byte a bounded number of times however
// many reads bring it (the carry grows geometrically), not one per read.
const longCarry = 16 << 10

// connReader reads one client connection. It holds no read buffer while
// the connection is idle: on a socket it waits for readability through
// syscall.RawConn and takes a pooled chunk only when data is there, so an
// idle connection costs its goroutine, its net.Conn, its turn and the
// bytes of an unfinished line (carry), if any.
type connReader struct {
	env     *readerEnv
	nc      net.Conn
	rc      syscall.RawConn // nil when nc is not a socket
	readFn  func(fd uintptr) bool
	turn    turn      // its place among readers taking turns (see pendingLimit)
	carry   []byte    // the unterminated line at the end of the last read
	charged int       // cap(carry) counted in env.carried (0 when under longCarry)
	skip    bool      // dropping the rest of an over-long line
	lineAt  time.Time // when the unfinished line (carry or skip) began
	dl      time.Time // the read deadline set, zero for none
	cur     *chunk    // the chunk being filled by readFn
	n       int
	readErr error
}

func newConnReader(env *readerEnv, nc net.Conn) *connReader {
	cr := &connReader{env: env, nc: nc, turn: newTurn()}
	if sc, ok := nc.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			cr.rc = rc
			cr.readFn = cr.rawRead
		}
	}
	return cr
}

// rawRead runs inside RawConn.Read: it takes a chunk, copies the carried
// partial line to its start and reads after it (or, for a long partial
// line, reads into the carry). On EAGAIN it returns the chunk to the pool,
// passes its turn on if it had one, and asks the runtime to wait for
// readability.
//
// A reader without a turn reads nothing while reading is blocked (see
// pendingLimit) and returns, so serve waits for its turn: a reader parked
// on readability since before a pause would otherwise read a chunk it
// cannot hand off and hold it until reading resumes.
func (cr *connReader) rawRead(fd uintptr) bool {
	env := cr.env
	if !cr.turn.granted && env.pending.blocked() {
		return true
	}
	var buf []byte
	if len(cr.carry) >= longCarry {
		buf = cr.carryRoom()
	}
	if buf == nil {
		if cr.cur == nil {
			cr.cur = env.chunks.get()
			copy(cr.cur.buf, cr.carry)
		}
		buf = cr.cur.buf[len(cr.carry):]
	}
	for {
		n, err := unix.Read(int(fd), buf)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			if cr.cur != nil {
				env.chunks.put(cr.cur)
				cr.cur = nil
			}
			env.pending.done(&cr.turn)
			return false
		}
		cr.n, cr.readErr = n, err
		if err == nil && n == 0 {
			cr.readErr = io.EOF
		}
		return true
	}
}

// carryRoom returns the free space after the carried line, at least
// readRoom bytes, growing the carry geometrically. When the growth would
// take the carries over MaxCarryBytes it drops the line instead and
// returns nil.
func (cr *connReader) carryRoom() []byte {
	if cap(cr.carry)-len(cr.carry) < readRoom {
		c := make([]byte, len(cr.carry), max(2*cap(cr.carry), len(cr.carry)+readRoom))
		copy(c, cr.carry)
		cr.carry = c
		if !cr.recharge() {
			cr.dropOverBudget()
			return nil
		}
	}
	return cr.carry[len(cr.carry) : len(cr.carry)+readRoom]
}

// recharge brings what env.carried counts for this connection to
// cap(carry), or to 0 for a carry under longCarry, and reports false when
// that growth took the total over MaxCarryBytes.
func (cr *connReader) recharge() bool {
	want := 0
	if cap(cr.carry) >= longCarry {
		want = cap(cr.carry)
	}
	d := int64(want - cr.charged)
	if d == 0 {
		return true
	}
	cr.charged = want
	total := cr.env.carried.Add(d)
	return d < 0 || cr.env.maxCarry <= 0 || total <= cr.env.maxCarry
}

// dropOverBudget drops the unfinished line whose carry the budget cannot
// hold, counts it, and skips the rest of it.
func (cr *connReader) dropOverBudget() {
	cr.env.st.rejected[rejCarryBudget].Add(1)
	cr.env.log.Debug("dropped a line: partial lines over --max-carry-bytes", "remote", cr.nc.RemoteAddr().String(),
		"bytes_so_far", len(cr.carry), "max_carry_bytes", cr.env.maxCarry)
	cr.carry = nil
	cr.recharge()
	cr.skip = true
}

// read does one read. It returns the chunk filled (nil if none was taken:
// nothing was read, or the n new bytes went to the carry's free space),
// the number of new bytes, and the error that ended reading, if any.
func (cr *connReader) read() (*chunk, int, error) {
	env := cr.env
	if cr.rc == nil {
		// Not a socket: the read blocks, so it must not hold a turn.
		env.pending.done(&cr.turn)
		if len(cr.carry) >= longCarry {
			if buf := cr.carryRoom(); buf != nil {
				n, err := cr.nc.Read(buf)
				return nil, n, err
			}
		}
		c := env.chunks.get()
		copy(c.buf, cr.carry)
		n, err := cr.nc.Read(c.buf[len(cr.carry):])
		return c, n, err
	}
	cr.n, cr.readErr = 0, nil
	if err := cr.rc.Read(cr.readFn); err != nil {
		if cr.cur != nil {
			env.chunks.put(cr.cur)
			cr.cur = nil
		}
		return nil, 0, err
	}
	c := cr.cur
	cr.cur = nil
	if cr.readErr != nil && cr.n <= 0 {
		if c != nil {
			env.chunks.put(c)
		}
		return nil, 0, cr.readErr
	}
	return c, cr.n, nil
}

// serve reads lines until EOF, an error, the idle timeout, the line
// timeout or shutdown.
func (cr *connReader) serve() {
	env := cr.env
	defer func() {
		env.pending.done(&cr.turn)
		cr.carry = nil
		cr.recharge()
	}()
	for {
		if env.stopping.Load() {
			cr.finish(errStopping)
			return
		}
		if env.pending.blocked() && !env.pending.wait(&cr.turn) {
			cr.finish(errStopping)
			return
		}
		lineDue := cr.setDeadline()
		if env.stopping.Load() {
			cr.finish(errStopping)
			return
		}
		c, n, err := cr.read()
		if n > 0 {
			env.st.bytes.Add(uint64(n))
			env.st.reads.Add(1)
			end := len(cr.carry) + n
			if c == nil {
				c, end = cr.extendCarry(n)
			}
			if c != nil {
				c.recvNs = env.stamps.now()
				cr.parse(c, end)
				cr.handoff(c)
				c = nil
			}
		}
		if c != nil {
			env.chunks.put(c)
		}
		env.pending.done(&cr.turn)
		if err != nil {
			if !lineDue.IsZero() && !env.stopping.Load() && errors.Is(err, os.ErrDeadlineExceeded) &&
				!time.Now().Before(lineDue) {
				env.st.lineTimeouts.Add(1)
				env.log.Debug("closed a connection whose line did not end in time", "remote", cr.nc.RemoteAddr().String(),
					"bytes_so_far", len(cr.carry), "line_timeout", env.lineTimeout)
				err = errLineTimeout
			}
			cr.finish(err)
			return
		}
	}
}

var (
	errStopping    = errors.New("relay stopping")
	errLineTimeout = errors.New("line timeout")
)

// setDeadline sets the read deadline for the next read: the idle timeout
// from now, or the line timeout from the start of an unfinished line if
// that is sooner. It returns the line's deadline when one applies.
func (cr *connReader) setDeadline() (lineDue time.Time) {
	env := cr.env
	partial := len(cr.carry) > 0 || cr.skip
	if !partial {
		cr.lineAt = time.Time{}
	}
	if env.idle <= 0 && (env.lineTimeout <= 0 || !partial) {
		if !cr.dl.IsZero() {
			cr.nc.SetReadDeadline(time.Time{})
			cr.dl = time.Time{}
		}
		return time.Time{}
	}
	now := time.Now()
	var dl time.Time
	if env.idle > 0 {
		dl = now.Add(env.idle)
	}
	if env.lineTimeout > 0 && partial {
		if cr.lineAt.IsZero() {
			cr.lineAt = now
		}
		lineDue = cr.lineAt.Add(env.lineTimeout)
		if dl.IsZero() || lineDue.Before(dl) {
			dl = lineDue
		}
	}
	if !dl.Equal(cr.dl) { // the same line's deadline is set once
		cr.nc.SetReadDeadline(dl)
		cr.dl = dl
	}
	return lineDue
}

// extendCarry takes n bytes read into the carry's free space. While they
// hold no newline they stay there (or, past MaxLineBytes, the line is
// dropped); once one arrives the carry and the new bytes are copied into
// a chunk, returned with their length, for parse.
func (cr *connReader) extendCarry(n int) (*chunk, int) {
	old := len(cr.carry)
	all := cr.carry[:old+n]
	if bytes.IndexByte(all[old:], '\n') < 0 {
		if len(all) > cr.env.maxLine+1 {
			cr.env.tooLong(cr.nc, len(all))
			cr.skip = true
			cr.carry = nil
			cr.recharge()
			return nil, 0
		}
		cr.carry = all
		return nil, 0
	}
	c := cr.env.chunks.getSize(len(all))
	copy(c.buf, all)
	return c, len(all)
}

// finish handles the end of the stream: at a clean EOF the unterminated last
// line is a message; after any other error it is dropped and counted.
func (cr *connReader) finish(err error) {
	env := cr.env
	if env.stopping.Load() {
		cr.countUnread()
	}
	if cr.skip {
		cr.carry = cr.carry[:0]
	}
	if len(cr.carry) == 0 {
		return
	}
	if err != io.EOF {
		env.st.rejected[rejTruncated].Add(1)
		env.log.Debug("dropped an unterminated line", "remote", cr.nc.RemoteAddr().String(),
			"bytes", len(cr.carry), "error", err)
		return
	}
	c := env.chunks.getSize(len(cr.carry) + 1)
	n := copy(c.buf, cr.carry)
	c.buf[n] = '\n'
	cr.carry = cr.carry[:0]
	c.recvNs = env.stamps.now()
	cr.parse(c, n+1)
	cr.handoff(c)
}

// countUnread counts, at shutdown, the bytes the client sent that are
// still in the socket's receive buffer: they are never read, so never
// counted as received.
func (cr *connReader) countUnread() {
	if cr.rc == nil {
		return
	}
	n := 0
	cr.rc.Control(func(fd uintptr) {
		n, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ)
	})
	if n > 0 {
		cr.env.st.unreadConns.Add(1)
		cr.env.st.unreadBytes.Add(uint64(n))
	}
}

// parse turns c.buf[:end] (the carried partial line, then the new bytes)
// into messages in payload form, in place: '\r' before '\n' is stripped,
// empty lines are skipped, lines over MaxLineBytes are dropped and counted.
// Clean input is not moved; a removed byte shifts the rest down. The
// unterminated tail goes to cr.carry, or is dropped when it is already
// over the limit.
func (cr *connReader) parse(c *chunk, end int) {
	buf := c.buf[:end]
	maxLine := cr.env.maxLine
	start, pos, w := 0, len(cr.carry), 0
	if cr.skip {
		i := bytes.IndexByte(buf[pos:], '\n')
		if i < 0 {
			c.data = buf[:0]
			cr.carry = cr.carry[:0]
			return
		}
		cr.skip = false
		cr.lineAt = time.Time{}
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
			cr.env.tooLong(cr.nc, n)
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
	if start > len(cr.carry) {
		cr.lineAt = time.Time{} // the carried line ended; a new one may begin
	}
	c.data, c.ends = buf[:w], ends
	tail := buf[start:]
	switch {
	case len(tail) > maxLine+1:
		cr.env.tooLong(cr.nc, len(tail))
		cr.skip = true
		cr.carry = cr.carry[:0]
	case len(tail) == 0 && cap(cr.carry) > 4<<10:
		cr.carry = nil // do not keep a big buffer on an idle connection
		cr.recharge()
	default:
		cr.carry = append(cr.carry[:0], tail...)
		if !cr.recharge() {
			cr.dropOverBudget()
		}
	}
}

// handoff reserves room for c's messages and pushes c to the batcher. When
// the pending limits admit only some of them, it pushes those, waits for
// its next turn (t) and goes on with the rest; at shutdown it admits
// everything. A message's receive time is when it is admitted (counted as
// received), so the rest is stamped again after the wait: the age rule
// times how long the relay holds a message, not how long backpressure kept
// it out.
func (cr *connReader) handoff(c *chunk) { cr.env.handoff(&cr.turn, c) }

// handoff is connReader.handoff for every kind of reader (line
// connections and RELP sessions), each waiting with its own turn t.
func (env *readerEnv) handoff(t *turn, c *chunk) {
	for {
		k := int64(len(c.ends))
		if k == 0 {
			env.chunks.put(c)
			return
		}
		g := env.pending.reserve(c.ends)
		if g == k {
			env.st.received.Add(uint64(k))
			env.queue.push(c)
			return
		}
		if g > 0 {
			rest := env.chunks.splitAfter(c, int(g))
			env.st.received.Add(uint64(g))
			env.queue.push(c)
			c = rest
		}
		env.st.readsHeld.Add(1)
		env.pending.wait(t)
		env.st.readsHeld.Add(-1)
		c.recvNs = env.stamps.now()
	}
}
