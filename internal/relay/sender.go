package relay

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

// sender delivers flushed batches through a Sink. It keeps every batch
// until it is acknowledged, in seq order (the window). On one session it
// sends up to concurrency batches ahead of their acknowledgements, which
// must come back in order. A failed connect, write, a nack, an
// out-of-order or missing acknowledgement (SendTimeout after the oldest
// unacknowledged send) ends the session; after a backoff (RetryBase
// doubling up to RetryMax, with jitter) it reconnects and resends the
// whole window in seq order. So the destination never misses a seq, may
// see a seq again after a reconnect, and sees first arrivals in seq order.
type sender struct {
	sink     Sink
	clock    Clock
	log      *slog.Logger
	st       *counters
	pending  *pendingLimit
	batches  *batchPool
	in       *batchQueue
	conc     int
	timeout  time.Duration
	base     time.Duration
	maxDelay time.Duration

	win  []*Batch // unacknowledged batches, seq order, from head
	head int
	sent int // win[head:head+sent] were sent on the current session

	conn     SinkConn
	gen      uint64 // current session number; stale acknowledgements are ignored
	connDone chan struct{}
	connWG   sync.WaitGroup
	acks     chan ackEvent
	failures int // consecutive failures, for the backoff
	timer    Timer
}

type ackEvent struct {
	gen uint64
	ack wire.Ack
	err error
}

// run delivers batches until the input is closed and every batch is
// acknowledged (it returns true), or hardCtx is done (it returns false).
func (s *sender) run(hardCtx context.Context) bool {
	hardStop := hardCtx.Done()
	s.acks = make(chan ackEvent, s.conc+1)
	s.timer = newStoppedTimer(s.clock)
	defer s.timer.Stop()
	defer s.closeConn()
	closed := false
	for {
		s.win, closed = s.in.takeAll(s.win)
		if closed && s.unacked() == 0 {
			return true
		}
		if s.unacked() > 0 && s.conn == nil {
			if s.failures > 0 && !s.backoff(hardStop) {
				return false
			}
			if err := s.open(hardCtx); err != nil {
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
		s.armTimeout()
		select {
		case <-s.in.notify:
		case ev := <-s.acks:
			s.onAck(ev)
		case <-s.timer.C():
			if s.sent > 0 && !s.clock.Now().Before(s.win[s.head].sentAt.Add(s.timeout)) {
				s.fail(fmt.Errorf("batch %d: %w after %v", s.win[s.head].hdr.Seq, ErrSendTimeout, s.timeout))
			}
		case <-hardStop:
			return false
		}
	}
}

func (s *sender) unacked() int { return len(s.win) - s.head }

// undelivered returns the messages in batches not acknowledged.
func (s *sender) undelivered() int64 {
	var n int64
	for _, b := range s.win[s.head:] {
		n += int64(b.hdr.Count)
	}
	return n
}

func (s *sender) open(hardCtx context.Context) error {
	ctx, cancel := context.WithTimeout(hardCtx, s.timeout)
	defer cancel()
	c, err := s.sink.Open(ctx)
	if err != nil {
		return err
	}
	s.gen++
	s.conn, s.sent, s.connDone = c, 0, make(chan struct{})
	s.connWG.Add(1)
	go s.readAcks(c, s.gen, s.connDone)
	s.log.Debug("sink connected", "sink", s.sink.String(), "session", s.gen)
	return nil
}

// readAcks forwards a session's acknowledgements until it fails or is
// closed.
func (s *sender) readAcks(c SinkConn, gen uint64, done <-chan struct{}) {
	defer s.connWG.Done()
	for {
		a, err := c.Recv()
		select {
		case s.acks <- ackEvent{gen: gen, ack: a, err: err}:
		case <-done:
			return
		}
		if err != nil {
			return
		}
	}
}

func (s *sender) send(b *Batch) error {
	if b.attempts > 0 {
		s.st.retries.Add(1)
	}
	b.attempts++
	b.sentAt = s.clock.Now()
	if err := s.conn.Send(b); err != nil {
		return err
	}
	s.sent++
	return nil
}

func (s *sender) armTimeout() {
	if s.sent == 0 {
		s.timer.Stop()
		return
	}
	s.timer.Reset(max(s.win[s.head].sentAt.Add(s.timeout).Sub(s.clock.Now()), 0))
}

func (s *sender) onAck(ev ackEvent) {
	if ev.gen != s.gen || s.conn == nil {
		return // from a session already closed
	}
	if ev.err != nil {
		if s.sent == 0 {
			s.log.Debug("sink session ended while idle", "error", ev.err)
			s.closeConn()
			return
		}
		s.fail(ev.err)
		return
	}
	if s.sent == 0 || ev.ack.Seq != s.win[s.head].hdr.Seq {
		want := uint64(0)
		if s.sent > 0 {
			want = s.win[s.head].hdr.Seq
		}
		s.fail(fmt.Errorf("got ack for batch %d, want %d: %w", ev.ack.Seq, want, ErrAckOrder))
		return
	}
	b := s.win[s.head]
	if ev.ack.Status == wire.AckNack {
		s.fail(fmt.Errorf("batch %d: %w", b.hdr.Seq, ErrNack))
		return
	}
	s.st.sendSeconds.Observe(s.clock.Now().Sub(b.sentAt).Seconds())
	s.win[s.head] = nil
	s.head++
	s.sent--
	s.failures = 0
	if s.head == len(s.win) {
		s.win, s.head = s.win[:0], 0
	} else if s.head >= 1024 && s.head*2 >= len(s.win) {
		n := copy(s.win, s.win[s.head:])
		clear(s.win[n:])
		s.win, s.head = s.win[:n], 0
	}
	n := int64(b.hdr.Count)
	s.st.delivered.Add(uint64(n))
	s.pending.release(n)
	s.batches.put(b)
}

func (s *sender) fail(err error) {
	s.st.sinkErrors.Add(1)
	s.failures++
	s.log.Warn("sink failed; will reconnect and resend", "sink", s.sink.String(),
		"unacked_batches", s.unacked(), "failures", s.failures, "error", err)
	s.closeConn()
}

func (s *sender) closeConn() {
	if s.conn == nil {
		return
	}
	close(s.connDone)
	s.conn.Close()
	s.connWG.Wait()
	s.conn, s.sent = nil, 0
}

// backoff waits before reconnect attempt s.failures: RetryBase doubled per
// earlier failure, capped at RetryMax, of which a random half is jitter.
// It reports false if hardStop closed first.
func (s *sender) backoff(hardStop <-chan struct{}) bool {
	d := s.base
	for i := 1; i < s.failures && d < s.maxDelay; i++ {
		d *= 2
	}
	d = min(d, s.maxDelay)
	d = d/2 + rand.N(d/2+1)
	s.timer.Reset(d)
	select {
	case <-s.timer.C():
		return true
	case <-hardStop:
		return false
	}
}
