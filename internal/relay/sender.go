package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

// sender is StreamSink's engine: it delivers flushed batches over the
// sessions of a Dialer. One goroutine (run) owns
// all of its state. It keeps every batch until it is acknowledged, in seq
// order (the window). On one session it sends up to concurrency batches
// ahead of their acknowledgements, which must come back in order, and it
// sends a batch as soon as it is flushed and the window has room, however
// long earlier batches wait for their acknowledgements.
//
// The sender waits for the oldest batch's acknowledgement in one of two
// ways. When the window is full, or the input is closed, nothing but that
// acknowledgement can move it, so it calls Recv itself: no hand-off between
// goroutines per batch, which on a busy machine costs a thread wake-up
// (handing every acknowledgement over cost BenchmarkRelayLoopback about a
// quarter of its throughput at sink-concurrency=8). When the window
// has room, a batch flushed meanwhile must not wait a destination round
// trip, so the sender lends that one Recv to the session's ack reader, a
// goroutine that calls Recv once per request and hands the result back
// over a channel, and waits for whichever comes first: the acknowledgement
// or a newly flushed batch. The sender takes a lent result before it calls
// Recv again, so two Recvs never overlap. closeConn owns the ack reader: it
// closes the connection, which ends a lent Recv, stops the reader and waits
// for it to exit before the next session starts.
//
// A failed connect, write or read, a nack, an acknowledgement out of
// order, or none within SendTimeout of the oldest unacknowledged send ends
// the session; after a backoff (RetryBase doubling up to RetryMax, with
// jitter) the sender reconnects and resends the whole window in seq order.
// So the destination never misses a seq, may see a seq again after a
// reconnect, and sees first arrivals in seq order.
type sender struct {
	dialer  Dialer
	feed    *Feed
	clock   Clock
	log     *slog.Logger
	conc    int
	timeout time.Duration

	win  []*Batch // unacknowledged batches, seq order, from head
	head int
	sent int // win[head:head+sent] were sent on the current session

	conn       SinkConn
	stopConn   func() bool    // undoes the hard-stop hook of conn
	lend       chan time.Time // to conn's ack reader: call Recv once, with this deadline
	acks       chan ackResult // from conn's ack reader: the result of each lent Recv
	readerDone chan struct{}  // closed when conn's ack reader has exited
	lent       bool           // a Recv was lent and its result not taken yet
	failures   int            // consecutive failures, for the backoff
	timer      Timer
}

func newSender(d Dialer, f *Feed) *sender {
	p := f.Policy()
	return &sender{dialer: d, feed: f, clock: f.Clock(), log: f.Logger(), conc: p.Concurrency, timeout: p.SendTimeout}
}

// ackResult is the result of one Recv.
type ackResult struct {
	ack wire.Ack
	err error
}

// run delivers batches until the feed is closed and every batch is
// acknowledged (it returns nil), or hardCtx is done (it returns its error).
func (s *sender) run(hardCtx context.Context) error {
	s.timer = newStoppedTimer(s.clock)
	defer s.timer.Stop()
	defer s.closeConn()
	closed := false
	for {
		s.win, closed = s.feed.TakeAll(s.win)
		if closed && s.unacked() == 0 {
			return nil
		}
		if err := hardCtx.Err(); err != nil {
			return err
		}
		if s.unacked() > 0 && s.conn == nil {
			if s.failures > 0 && !s.backoff(hardCtx.Done()) {
				return hardCtx.Err()
			}
			if err := s.open(hardCtx); err != nil {
				if err := hardCtx.Err(); err != nil {
					return err
				}
				s.fail(err)
				continue
			}
		}
		for s.conn != nil && s.sent < s.unacked() && s.sent < s.conc {
			if err := s.send(s.win[s.head+s.sent]); err != nil {
				s.fail(err)
				break
			}
		}
		switch {
		case s.conn == nil && s.unacked() > 0:
			// A send failed: back off and reconnect.
		case s.sent > 0 && !s.lent && (s.sent == s.conc || closed):
			// Only this acknowledgement can move us: read it here.
			a, err := s.conn.Recv(s.ackDeadline())
			s.handleAck(hardCtx, ackResult{a, err})
		default:
			if !s.wait(hardCtx) {
				return hardCtx.Err()
			}
		}
	}
}

// wait waits for the acknowledgement of the oldest batch in flight, if
// any, through the ack reader, for a newly flushed batch while the window
// has room, and for hardCtx. It reports false if hardCtx is done.
func (s *sender) wait(hardCtx context.Context) bool {
	if s.sent > 0 && !s.lent {
		s.lend <- s.ackDeadline() // never blocks: the reader took the last one
		s.lent = true
	}
	var flushed <-chan struct{}
	if s.sent < s.conc {
		flushed = s.feed.Flushed()
	}
	var acks <-chan ackResult
	if s.lent {
		acks = s.acks
	}
	select {
	case r := <-acks:
		s.lent = false
		s.handleAck(hardCtx, r)
	case <-flushed:
	case <-hardCtx.Done():
		return false
	}
	return true
}

func (s *sender) unacked() int { return len(s.win) - s.head }

func (s *sender) open(hardCtx context.Context) error {
	ctx, cancel := context.WithTimeout(hardCtx, s.timeout)
	defer cancel()
	c, err := s.dialer.Open(ctx)
	if err != nil {
		return err
	}
	s.conn, s.sent = c, 0
	s.stopConn = context.AfterFunc(hardCtx, func() { c.Close() })
	s.lend, s.acks = make(chan time.Time, 1), make(chan ackResult, 1)
	s.readerDone = make(chan struct{})
	go readAcks(c, s.lend, s.acks, s.readerDone)
	s.log.Debug("sink connected", "sink", s.dialer.String())
	return nil
}

// readAcks is a session's ack reader. For each deadline it receives from
// lend it calls Recv once and sends the result to acks; it closes done
// when lend is closed. The sender lends one Recv at a time and takes its
// result before the next, so the send to acks never blocks.
func readAcks(c SinkConn, lend <-chan time.Time, acks chan<- ackResult, done chan<- struct{}) {
	defer close(done)
	for deadline := range lend {
		a, err := c.Recv(deadline)
		acks <- ackResult{a, err}
	}
}

func (s *sender) send(b *Batch) error {
	s.feed.Attempt(b)
	if err := s.conn.Send(b, time.Now().Add(s.timeout)); err != nil {
		return err
	}
	s.sent++
	return nil
}

// ackDeadline returns the wall-clock time (socket deadlines use the
// kernel's clock) by which the oldest batch in flight must be
// acknowledged.
func (s *sender) ackDeadline() time.Time {
	b := s.win[s.head]
	return time.Now().Add(b.sentAt.Add(s.timeout).Sub(s.clock.Now()))
}

// handleAck handles the result of a Recv for the oldest batch in flight.
func (s *sender) handleAck(hardCtx context.Context, r ackResult) {
	b := s.win[s.head]
	a, err := r.ack, r.err
	switch {
	case hardCtx.Err() != nil:
		s.closeConn()
		return
	case errors.Is(err, os.ErrDeadlineExceeded):
		s.fail(fmt.Errorf("batch %d: %w after %v", b.hdr.Seq, ErrSendTimeout, s.timeout))
		return
	case err != nil:
		s.fail(err)
		return
	case a.Seq != b.hdr.Seq:
		s.fail(fmt.Errorf("got ack for batch %d, want %d: %w", a.Seq, b.hdr.Seq, ErrAckOrder))
		return
	case a.Status == wire.AckNack:
		s.fail(fmt.Errorf("batch %d: %w", b.hdr.Seq, ErrNack))
		return
	}
	s.win[s.head] = nil
	s.win, s.head = compactFront(s.win, s.head+1)
	s.sent--
	s.failures = 0
	s.feed.Settle(b, Outcome{})
}

func (s *sender) fail(err error) {
	s.feed.Failed()
	s.failures++
	s.log.Warn("sink failed; will reconnect and resend", "sink", s.dialer.String(),
		"unacked_batches", s.unacked(), "failures", s.failures, "error", err)
	s.closeConn()
}

// closeConn ends the session: it closes the connection and waits for the
// session's ack reader to exit.
func (s *sender) closeConn() {
	if s.conn == nil {
		return
	}
	s.stopConn()
	s.conn.Close() // ends a lent Recv
	close(s.lend)
	<-s.readerDone
	s.conn, s.sent, s.lent = nil, 0, false
	s.lend, s.acks, s.readerDone = nil, nil, nil
}

// backoff waits before reconnect attempt s.failures (see Feed.Backoff).
// It reports false if hardStop closed first.
func (s *sender) backoff(hardStop <-chan struct{}) bool {
	s.timer.Reset(s.feed.Backoff(s.failures))
	select {
	case <-s.timer.C():
		return true
	case <-hardStop:
		return false
	}
}
