package relay

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/logrelay/logrelay/internal/wire"
)

// relpSlack is how much longer than MaxLineBytes a frame's DATA may be
// and still be parsed whole: room for an open's offers, and for a message
// with a line ending to strip. A longer syslog command is refused from its
// header, without holding it; any longer other command ends the session.
const relpSlack = 1024

// errHeld says a session read nothing because reading was paused before
// it had a turn.
var errHeld = errors.New("reading paused")

// errRELPClosed ends a session's reading after the client's close.
var errRELPClosed = errors.New("RELP session closed by the client")

// relpSession is one RELP client connection: a reader that parses frames
// into chunks for the batcher (each chunk's messages are consecutive
// commands of this session, so a batch records runs, not messages) and a
// writer that answers them once they are settled. The writer never blocks
// the relay: Settle only records spans and signals it; a client that does
// not read its responses stalls its own writer, and through its window
// its own reader, nobody else.
type relpSession struct {
	r     *Relay
	nc    net.Conn
	rc    syscall.RawConn // nil when nc is not a socket
	t     *relpTrack
	turn  turn // its place among readers taking turns (see pendingLimit)
	carry []byte
	skip  int // bytes still to drop of an over-long syslog command (data and LF)

	opened     bool
	done       chan struct{} // closed when the reader has ended
	endErr     error         // why the reader ended; read after done is closed
	writerDone chan struct{} // closed when the writer has ended (and closed the connection)
}

func newRelpSession(r *Relay, nc net.Conn) *relpSession {
	w := r.cfg.RELPWindow
	if w == 0 {
		w = DefaultRELPWindow
	}
	s := &relpSession{r: r, nc: nc, t: newRelpTrack(w), turn: newTurn(), done: make(chan struct{}), writerDone: make(chan struct{})}
	if sc, ok := nc.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			s.rc = rc
		}
	}
	return s
}

// read parses frames until the client closes, the connection fails, a
// protocol error or shutdown.
func (s *relpSession) read() error {
	r := s.r
	defer r.pending.done(&s.turn)
	for {
		if r.stopping.Load() {
			return errStopping
		}
		if r.pending.blocked() && !r.pending.wait(&s.turn) {
			return errStopping
		}
		if s.t.free() == 0 {
			r.st.relpWindowFull.Add(1)
			r.pending.done(&s.turn) // a session waiting for its client holds no turn
			select {
			case <-s.t.room:
			case <-r.quit:
				return errStopping
			case <-s.writerDone:
				return net.ErrClosed
			}
			continue
		}
		var c *chunk
		n := len(s.carry)
		if s.frameBuffered() {
			c = r.chunks.get()
			copy(c.buf, s.carry)
		} else {
			if r.cfg.IdleTimeout > 0 {
				s.nc.SetReadDeadline(time.Now().Add(r.cfg.IdleTimeout))
				if r.stopping.Load() {
					return errStopping
				}
			}
			var m int
			var err error
			c, m, err = s.readChunk()
			if err == errHeld {
				continue // reading paused before this session read: wait for a turn
			}
			if m <= 0 {
				if c != nil {
					r.chunks.put(c)
				}
				if r.stopping.Load() {
					return errStopping
				}
				if err == nil {
					err = io.ErrNoProgress
				}
				return err
			}
			r.st.bytes.Add(uint64(m))
			r.st.reads.Add(1)
			n += m
		}
		c.recvNs = r.stamps.now()
		perr := s.parse(c, n)
		r.readers.handoff(&s.turn, c)
		if perr != nil {
			return perr
		}
	}
}

// readChunk waits until the connection is readable, then takes a chunk,
// copies the carry to its start and reads after it: an idle session holds
// no chunk (on a socket; otherwise it reads into a chunk at once). It
// returns the chunk (nil if none is held), the bytes read and the error
// that ended reading.
func (s *relpSession) readChunk() (*chunk, int, error) {
	r := s.r
	if s.rc == nil {
		r.pending.done(&s.turn) // the read blocks, so it must not hold a turn
		c := r.chunks.getSize(len(s.carry) + readRoom)
		copy(c.buf, s.carry)
		m, err := s.nc.Read(c.buf[len(s.carry):])
		return c, m, err
	}
	var c *chunk
	var m int
	var rerr error
	err := s.rc.Read(func(fd uintptr) bool {
		if c == nil {
			if !s.turn.granted && r.pending.blocked() {
				rerr = errHeld
				return true
			}
			c = r.chunks.getSize(len(s.carry) + readRoom) // a frame longer than a chunk gets one of its own
			copy(c.buf, s.carry)
		}
		for {
			k, e := unix.Read(int(fd), c.buf[len(s.carry):])
			if e == unix.EINTR {
				continue
			}
			if e == unix.EAGAIN {
				r.chunks.put(c)
				c = nil
				r.pending.done(&s.turn) // nothing to read: the next reader's turn
				return false
			}
			m, rerr = k, e
			if e == nil && k == 0 {
				rerr = io.EOF
			}
			return true
		}
	})
	if err != nil {
		return c, 0, err
	}
	if rerr == errHeld {
		return nil, 0, errHeld
	}
	if m < 0 {
		m = 0
	}
	return c, m, rerr
}

// frameBuffered reports whether the carry holds something to parse
// without reading: a whole frame, or a malformed or over-long header.
func (s *relpSession) frameBuffered() bool {
	if s.skip > 0 || len(s.carry) == 0 {
		return false
	}
	_, _, err := wire.ParseRELP(s.carry, s.r.cfg.MaxLineBytes+relpSlack)
	if errors.Is(err, wire.ErrTooLarge) && relpHeaderPending(s.carry) {
		return false // its DATALEN has not ended yet: read on
	}
	return err != wire.ErrShort
}

// parse turns the frames in c.buf[:end] into messages in payload form in
// place, numbering every command of the session. A chunk holds only
// consecutive seqs, so a command answered without the batcher (refused at
// ingest, an open, an empty message) ends the chunk's messages: the rest
// stays in the carry for the next round, as does whatever the window has
// no room for. It returns an error that ends the session, after filling c
// with the messages before it.
func (s *relpSession) parse(c *chunk, end int) error {
	r := s.r
	buf := c.buf[:end]
	maxLine := r.cfg.MaxLineBytes
	pos, w := 0, 0
	ends := c.ends[:0]
	next, free := s.t.begin()
	c.relp, c.relpFirst = s.t, next
	numbered := 0
	now := int64(-1) // a seq answered without the batcher, settled after commit
	var err error
	if s.skip > 0 { // the rest of an over-long command
		k := min(s.skip, len(buf))
		s.skip -= k
		pos = k
		if s.skip == 0 && buf[k-1] != '\n' {
			err = fmt.Errorf("%w: no LF after an over-long frame", wire.ErrRELPFrame)
		}
	}
loop:
	for err == nil && numbered < free {
		f, n, perr := wire.ParseRELP(buf[pos:], maxLine+relpSlack)
		if perr == wire.ErrShort {
			break
		}
		if errors.Is(perr, wire.ErrTooLarge) {
			// Refuse it without holding it: skip DATALEN bytes and the LF.
			txnr, dlen, hdr, ok := relpHeader(buf[pos:])
			if !ok && s.opened && relpHeaderPending(buf[pos:]) {
				break // the header ends in a later read
			}
			if !ok || !s.opened {
				err = perr
				break
			}
			r.rejectTooLong(s.nc, dlen)
			if numbered > 0 {
				break // answer it in the next round, after this chunk's messages
			}
			s.t.put(next, txnr|relpRejectBit)
			numbered++
			now = int64(next)
			k := min(len(buf)-pos-hdr, dlen+1)
			pos += hdr + k
			s.skip = dlen + 1 - k
			if s.skip == 0 && buf[pos-1] != '\n' {
				err = fmt.Errorf("%w: no LF after an over-long frame", wire.ErrRELPFrame)
			}
			break
		}
		if perr != nil {
			err = perr
			break
		}
		switch f.Command {
		case wire.RELPSyslog:
			if !s.opened {
				err = fmt.Errorf("%w: syslog before open", wire.ErrRELPFrame)
				break loop
			}
			msg := f.Data
			if k := len(msg); k > 0 && msg[k-1] == '\n' { // one trailing LF (or CRLF), as a line's
				msg = msg[:k-1]
			}
			if k := len(msg); k > 0 && msg[k-1] == '\r' {
				msg = msg[:k-1]
			}
			bad := len(msg) == 0 || len(msg) > maxLine || hasLF(msg)
			if bad && numbered > 0 {
				break loop // answered on its own, in the next round
			}
			s.t.put(next+uint64(numbered), f.Txnr)
			if bad {
				switch {
				case len(msg) > maxLine:
					r.rejectTooLong(s.nc, len(msg))
					s.t.put(next, f.Txnr|relpRejectBit)
				case len(msg) > 0:
					r.st.rejected[rejNewline].Add(1)
					s.t.put(next, f.Txnr|relpRejectBit)
				} // an empty message is answered 200: there is nothing to deliver
				now = int64(next)
				numbered++
				pos += n
				break loop
			}
			copy(buf[w:], msg)
			w += len(msg)
			buf[w] = '\n'
			w++
			ends = append(ends, uint32(w))
			numbered++
			pos += n
		case wire.RELPOpen, wire.RELPClose, wire.RELPServerClose, wire.RELPRsp, wire.RELPOther:
			if len(ends) > 0 {
				break loop // answered after this chunk's messages, in the next round
			}
			pos += n
			switch f.Command {
			case wire.RELPOpen:
				o, oerr := wire.ParseRELPOffers(f.Data)
				if s.opened || oerr != nil || !o.HasCommand("syslog") {
					err = fmt.Errorf("%w: bad open (%q)", wire.ErrRELPFrame, f.Data)
					break loop
				}
				s.opened = true
				s.t.put(next, f.Txnr|relpOpenBit)
				now = int64(next)
				numbered++
			case wire.RELPClose:
				s.t.close(f.Txnr)
				err = errRELPClosed
			case wire.RELPOther:
				r.st.relpProtocolErrors.Add(1)
				s.t.put(next, f.Txnr|relpRejectBit) // an unknown command: 500
				now = int64(next)
				numbered++
			default: // serverclose and rsp are the server's, never the client's
				err = fmt.Errorf("%w: %s from a client", wire.ErrRELPFrame, f.Name)
			}
			break loop
		}
	}
	s.t.commit(numbered)
	if now >= 0 {
		s.t.settle(uint64(now), 1, nil)
	}
	c.data, c.ends = buf[:w], ends
	s.carry = append(s.carry[:0], buf[pos:]...)
	if len(s.carry) == 0 && cap(s.carry) > 4<<10 {
		s.carry = nil // no big buffer on an idle session
	}
	if err != nil && !errors.Is(err, errRELPClosed) {
		r.st.relpProtocolErrors.Add(1)
		r.log.Debug("RELP session ended", "remote", s.nc.RemoteAddr().String(), "error", err)
	}
	return err
}

func hasLF(b []byte) bool {
	for _, c := range b {
		if c == '\n' {
			return true
		}
	}
	return false
}

// relpHeader parses just the header of a frame whose DATALEN is over the
// limit: its TXNR, DATALEN and header length (up to the SP before DATA).
// relpHeaderPending reports whether b is a syslog command's header cut
// inside its DATALEN: it would parse with relpHeader once DATALEN ends.
// (The parser can tell a DATALEN is over the limit before it ends, since
// more digits only make it larger.) It is called only for such rare
// frames, so its copy of b does not matter.
func relpHeaderPending(b []byte) bool {
	if len(b) == 0 || b[len(b)-1] < '0' || b[len(b)-1] > '9' {
		return false
	}
	_, _, _, ok := relpHeader(append(b[:len(b):len(b)], ' '))
	return ok
}

func relpHeader(b []byte) (txnr uint32, dlen, n int, ok bool) {
	field := func() (int, bool) {
		v, d := 0, 0
		for n < len(b) && b[n] >= '0' && b[n] <= '9' && d < 9 {
			v, d, n = v*10+int(b[n]-'0'), d+1, n+1
		}
		return v, d > 0 && n < len(b) && b[n] == ' '
	}
	t, ok1 := field()
	if !ok1 || t == 0 {
		return 0, 0, 0, false
	}
	n++
	cs := n
	for n < len(b) && (b[n]|0x20 >= 'a' && b[n]|0x20 <= 'z') {
		n++
	}
	if string(b[cs:n]) != "syslog" || n >= len(b) || b[n] != ' ' {
		return 0, 0, 0, false
	}
	n++
	dl, ok2 := field()
	if !ok2 {
		return 0, 0, 0, false
	}
	return uint32(t), dl, n + 1, true
}

// write answers settled commands in order, coalescing every answer that is
// ready into one write, until the session ends.
func (s *relpSession) write(final <-chan struct{}) {
	r := s.r
	defer close(s.writerDone)
	defer s.nc.Close()
	var buf []byte
	readerDone := s.done
	finishing := false
	for {
		select {
		case <-s.t.wake:
		case <-readerDone:
			readerDone = nil
			if !errors.Is(s.endErr, errStopping) && !errors.Is(s.endErr, errRELPClosed) &&
				!errors.Is(s.endErr, io.EOF) {
				return // the connection failed: the client resends what is unanswered
			}
		case <-final:
			finishing, final = true, nil
		}
		var closed bool
		var ok, refused int
		buf, closed, ok, refused = s.t.answer(buf[:0])
		if finishing {
			buf = wire.AppendRELPServerClose(buf)
		}
		if len(buf) > 0 {
			_, err := s.nc.Write(buf)
			r.st.relpOK.Add(uint64(ok))
			r.st.relpRefused.Add(uint64(refused))
			if err != nil {
				return
			}
			r.st.relpWrites.Add(1)
		}
		if cap(buf) > 256<<10 {
			buf = nil
		}
		if closed || finishing {
			return
		}
		if readerDone == nil && errors.Is(s.endErr, io.EOF) && s.t.idle() {
			return // the client half-closed; everything it sent is answered
		}
	}
}
