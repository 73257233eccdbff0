package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

// RELP mode (Config.RELP): every stream is a RELP session. A message is a
// syslog command whose DATA is the line without its newline; it stays
// outstanding until the server answers it. At most Config.RELPWindow are
// outstanding per stream; after a broken connection the stream opens a new
// session and resends every outstanding message first, with the same stamp
// (same stream, same seq, same intended time) under a new TXNR, then goes
// on with its sequence. At the end of the schedule a stream waits up to
// Config.RELPFinalWait for its last answers (reconnecting if it must),
// closes the session, and reports what is still unanswered as at risk.

var (
	errRELPServerClose = errors.New("server sent serverclose")
	errRELPOutOfOrder  = errors.New("rsp for a TXNR not outstanding next")
)

// relpMsg is an outstanding message: its TXNR on the current connection
// and what regenerates it (schedule index j, intended send time).
type relpMsg struct {
	txnr   uint32
	j      uint64
	sentNs int64
}

// relpState is a stream's RELP session state. The stream's goroutine
// appends to pend and writes; the connection's response reader removes
// answered messages from the front.
type relpState struct {
	mu      sync.Mutex
	pend    []relpMsg // outstanding, oldest first, from head
	head    int
	closeTx uint32 // TXNR of our close command, 0 until sent
	closed  bool   // the close was answered
	txnr    uint32 // last TXNR used on the connection

	answered chan struct{} // one token: an rsp arrived or the reader ended
	done     chan struct{} // closed when the connection's reader has ended
	readErr  error

	acked, refused, resent uint64
	written                uint64 // messages appended to pend (the stream's next schedule index)
}

// RELPMarks returns, in RELP mode, how many messages each stream has
// written so far (nil otherwise): a mark for RELPAnswered.
func (g *Generator) RELPMarks() []uint64 {
	if !g.cfg.RELP {
		return nil
	}
	marks := make([]uint64, len(g.streams))
	for i := range g.streams {
		st := g.streams[i].relp
		st.mu.Lock()
		marks[i] = st.written
		st.mu.Unlock()
	}
	return marks
}

// RELPAnswered reports whether every stream has had the first marks[i]
// of its messages answered (marks from RELPMarks).
func (g *Generator) RELPAnswered(marks []uint64) bool {
	for i, m := range marks {
		st := g.streams[i].relp
		st.mu.Lock()
		// Outstanding messages are the oldest unanswered, in order: all
		// before the first of them are answered.
		ok := st.head == len(st.pend) || st.pend[st.head].j >= m
		st.mu.Unlock()
		if !ok {
			return false
		}
	}
	return true
}

func (st *relpState) outstanding() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.pend) - st.head
}

func (st *relpState) nextTxnr() uint32 {
	st.txnr = wire.NextTxnr(st.txnr)
	return st.txnr
}

// runRELPStream is stream s's goroutine in RELP mode.
func (g *Generator) runRELPStream(ctx context.Context, s *stream) {
	st := s.relp
	for ctx.Err() == nil && s.next < s.quota {
		if s.conn == nil {
			if !g.connect(ctx, s) {
				break
			}
			if err := g.relpOpen(s); err != nil {
				g.log.Debug("RELP open failed", "stream", s.id, "error", err)
				g.relpDrop(s, CauseError)
			}
			continue
		}
		select {
		case <-s.kick:
			s.kicked = true
		case <-st.done:
			g.relpDrop(s, g.relpCause(st))
			continue
		default:
		}
		now := g.elapsed()
		if s.kicked || (s.chaosAt > 0 && now >= s.chaosAt) {
			g.relpChaos(s)
			continue
		}
		if st.outstanding() >= g.cfg.RELPWindow {
			g.relpWaitAnswer(ctx, s, time.Hour)
			continue
		}
		wait, ok := g.untilDue(s, now)
		if !ok {
			break
		}
		if wait > 0 {
			g.sleep(ctx, s, wait)
			continue
		}
		g.relpSend(ctx, s, now)
	}
	g.relpFinish(ctx, s)
	g.closeConn(s, "")
}

func (g *Generator) relpCause(st *relpState) string {
	if errors.Is(st.readErr, errRELPServerClose) {
		return CausePeerClosed
	}
	var ne net.Error
	if errors.As(st.readErr, &ne) || errors.Is(st.readErr, errRELPOutOfOrder) {
		return CauseError
	}
	return CausePeerClosed
}

// relpWaitAnswer waits up to d for an answer, the reader's end, a chaos
// request or ctx's end.
func (g *Generator) relpWaitAnswer(ctx context.Context, s *stream, d time.Duration) {
	s.startTimer(d)
	defer s.timer.Stop()
	select {
	case <-s.relp.answered:
	case <-s.relp.done:
	case <-ctx.Done():
	case <-s.kick:
		s.kicked = true
	case <-s.timer.C:
	}
}

// relpOpen opens a session on s's new connection, starts its response
// reader and resends what is outstanding.
func (g *Generator) relpOpen(s *stream) error {
	st := s.relp
	conn := s.conn
	st.txnr = 0
	offer := wire.AppendRELPOffers(nil, wire.RELPOffers{Version: "0", Software: "logrelay-loadgen", Commands: []string{"syslog"}})
	tx := st.nextTxnr()
	conn.SetDeadline(time.Now().Add(g.cfg.ConnectTimeout))
	if _, err := conn.Write(wire.AppendRELP(nil, tx, "open", offer)); err != nil {
		return fmt.Errorf("write open: %w", err)
	}
	rd := wire.NewRELPReader(conn, 1<<16)
	f, err := rd.Next()
	if err != nil {
		return fmt.Errorf("read open response: %w", err)
	}
	code, _, rest, err := wire.ParseRELPRsp(f.Data)
	if err != nil || f.Command != wire.RELPRsp || f.Txnr != tx || code != 200 {
		return fmt.Errorf("open refused: %q (%v)", f.Data, err)
	}
	if o, err := wire.ParseRELPOffers(rest); err != nil || !o.HasCommand("syslog") {
		return fmt.Errorf("server offers %q do not include syslog", rest)
	}
	conn.SetDeadline(time.Time{})
	st.done = make(chan struct{})
	st.closeTx, st.closed, st.readErr = 0, false, nil
	go g.relpRead(st, rd, st.done)
	// Resend everything outstanding, oldest first, under new TXNRs.
	st.mu.Lock()
	n := len(st.pend) - st.head
	var b []byte
	for i := st.head; i < len(st.pend); i++ {
		st.pend[i].txnr = st.nextTxnr()
		b = g.appendRELPMessage(b, s, st.pend[i])
	}
	st.resent += uint64(n)
	if n > 0 { // outstanding messages are consecutive seqs
		s.resent = s.resent.Add(wire.SeqRange{From: st.pend[st.head].j + 1, To: st.pend[len(st.pend)-1].j + 1})
	}
	st.mu.Unlock()
	if n > 0 {
		g.c.relpResent.Add(uint64(n))
		if _, err := conn.Write(b); err != nil {
			return fmt.Errorf("resend: %w", err)
		}
	}
	return nil
}

// appendRELPMessage appends message m of s as a syslog command: the line's
// newline is the frame's trailer.
func (g *Generator) appendRELPMessage(b []byte, s *stream, m relpMsg) []byte {
	b = strconv.AppendUint(b, uint64(m.txnr), 10)
	b = append(b, " syslog "...)
	b = strconv.AppendUint(b, uint64(g.cfg.Size-1), 10)
	b = append(b, ' ')
	return g.pay.appendMessage(b, m.j*uint64(len(g.streams))+uint64(s.slot), &s.head, m.j+1, m.sentNs)
}

// relpRead reads responses until the connection ends; it removes each
// answered message from the front of pend.
func (g *Generator) relpRead(st *relpState, rd *wire.RELPReader, done chan struct{}) {
	var err error
	defer func() {
		st.mu.Lock()
		st.readErr = err
		st.mu.Unlock()
		close(done)
		signal(st.answered)
	}()
	for {
		var f wire.RELPFrame
		f, err = rd.Next()
		if err != nil {
			return
		}
		switch f.Command {
		case wire.RELPServerClose:
			err = errRELPServerClose
			return
		case wire.RELPRsp:
		default:
			err = fmt.Errorf("%w: command %q from the server", wire.ErrRELPFrame, f.Name)
			return
		}
		st.mu.Lock()
		if st.closeTx != 0 && f.Txnr == st.closeTx {
			st.closed = true
			st.mu.Unlock()
			err = errRELPServerClose // the session is over
			return
		}
		if st.head == len(st.pend) || st.pend[st.head].txnr != f.Txnr {
			st.mu.Unlock()
			err = fmt.Errorf("%w: %d", errRELPOutOfOrder, f.Txnr)
			return
		}
		code, _, _, perr := wire.ParseRELPRsp(f.Data)
		if perr == nil && code == 200 {
			st.acked++
			g.c.relpAcked.Add(1)
		} else {
			st.refused++
			g.c.relpRefused.Add(1)
		}
		st.head++
		if st.head == len(st.pend) {
			st.pend, st.head = st.pend[:0], 0
		} else if st.head >= 4096 && st.head*2 >= len(st.pend) {
			st.pend = st.pend[:copy(st.pend, st.pend[st.head:])]
			st.head = 0
		}
		st.mu.Unlock()
		signal(st.answered)
	}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// relpSend writes every message of s that is due at now, up to the
// window, as syslog commands in one write. A failed write leaves them
// outstanding: they are resent on the next connection.
func (g *Generator) relpSend(ctx context.Context, s *stream, now time.Duration) {
	st := s.relp
	bb := g.bufs.Get().(*batchBuf)
	defer g.bufs.Put(bb)
	b, intended := bb.data[:0], bb.intended[:0]
	nowNs := g.startNs + int64(now)
	room := g.cfg.RELPWindow - st.outstanding()
	st.mu.Lock()
	for j := s.next; j < s.quota && len(intended) < room && (len(intended) == 0 || len(b)+g.cfg.Size+32 <= cap(b)); j++ {
		sentNs := nowNs
		if g.pacer != nil {
			t, ok := g.due(s, j)
			if !ok || t > now {
				break
			}
			sentNs = g.startNs + int64(t)
		}
		m := relpMsg{txnr: st.nextTxnr(), j: j, sentNs: sentNs}
		st.pend = append(st.pend, m)
		st.written = j + 1
		b = g.appendRELPMessage(b, s, m)
		intended = append(intended, sentNs)
	}
	st.mu.Unlock()
	m := len(intended)
	if m == 0 {
		return
	}
	n, err := s.conn.Write(b)
	doneNs := g.startNs + int64(g.elapsed())
	s.next += uint64(m)
	s.written += uint64(m)
	s.connBytes += int64(n)
	g.c.sent.Add(uint64(m))
	g.c.bytes.Add(uint64(n))
	if g.pacer != nil {
		sh := g.lag.shard(int(s.slot))
		sh.mu.Lock()
		for _, ns := range intended {
			_ = sh.h.RecordValue(clampUs((doneNs - ns) / 1e3))
		}
		sh.mu.Unlock()
	}
	if err != nil {
		if ctx.Err() != nil {
			return // the run ended while the write was blocked; relpFinish goes on
		}
		g.log.Debug("RELP write failed", "stream", s.id, "error", err)
		g.relpDrop(s, CausePeerClosed)
	}
}

// relpChaos closes s's connection on purpose, abortively with probability
// ChaosAbortive; what is outstanding is resent after the reconnect.
func (g *Generator) relpChaos(s *stream) {
	cause := CauseChaosGraceful
	if s.rng.Float64() < g.cfg.ChaosAbortive {
		cause = CauseChaosAbortive
		_ = s.conn.SetLinger(0)
	}
	g.relpDrop(s, cause)
}

// relpDrop closes s's connection and waits for its reader.
func (g *Generator) relpDrop(s *stream, cause string) {
	if s.conn == nil {
		return
	}
	done := s.relp.done
	g.closeConn(s, cause)
	if done != nil {
		<-done
		s.relp.done = nil
	}
}

// relpFinish waits, bounded by RELPFinalWait, for the last answers
// (reconnecting and resending if the connection breaks), closes the
// session, and records what is still unanswered as at risk.
func (g *Generator) relpFinish(ctx context.Context, s *stream) {
	st := s.relp
	fctx := ctx
	if !g.interrupted() {
		var cancel context.CancelFunc
		fctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), g.cfg.RELPFinalWait)
		defer cancel()
	}
	if s.conn != nil && s.stopAfter != nil {
		s.stopAfter()
		_ = s.conn.SetWriteDeadline(time.Time{})
		conn := s.conn
		s.stopAfter = context.AfterFunc(fctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	}
	for fctx.Err() == nil && st.outstanding() > 0 {
		if s.conn == nil {
			if !g.connect(fctx, s) {
				break
			}
			if err := g.relpOpen(s); err != nil {
				g.relpDrop(s, CauseError)
			}
			continue
		}
		select {
		case <-st.done:
			g.relpDrop(s, g.relpCause(st))
			continue
		default:
		}
		g.relpWaitAnswer(fctx, s, time.Hour)
	}
	if s.conn != nil && st.outstanding() == 0 && fctx.Err() == nil {
		st.mu.Lock()
		st.closeTx = st.nextTxnr()
		st.mu.Unlock()
		if _, err := s.conn.Write(wire.AppendRELP(nil, st.closeTx, "close", nil)); err == nil {
			select {
			case <-st.done:
			case <-fctx.Done():
			}
		}
	}
	g.relpDrop(s, "")
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, m := range st.pend[st.head:] {
		s.atRisk = s.atRisk.Add(wire.SeqRange{From: m.j + 1, To: m.j + 1})
		s.atRiskN++
		g.c.atRisk.Add(1)
	}
	s.relpUnacked = uint64(len(st.pend) - st.head)
	g.c.relpUnacked.Add(s.relpUnacked)
}
