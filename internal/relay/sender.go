package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

// sender delivers flushed batches through a Sink, in one goroutine. It
// keeps every batch until it is acknowledged, in seq order (the window).
// On one session it sends up to concurrency batches ahead of their
// acknowledgements, which must come back in order; while any batch is in
// flight it waits for the oldest one's acknowledgement itself (no extra
// goroutine or channel hop per batch), then tops the window up again with
// whatever the batcher flushed meanwhile.
//
// A failed connect or write, a nack, an acknowledgement out of order, or
// none within SendTimeout of the oldest unacknowledged send ends the
// session; after a backoff (RetryBase doubling up to RetryMax, with
// jitter) the sender reconnects and resends the whole window in seq order.
// So the destination never misses a seq, may see a seq again after a
// reconnect, and sees first arrivals in seq order.
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
	stopConn func() bool // undoes the hard-stop hook of conn
	failures int         // consecutive failures, for the backoff
	timer    Timer
}

// run delivers batches until the input is closed and every batch is
// acknowledged (it returns true), or hardCtx is done (it returns false).
func (s *sender) run(hardCtx context.Context) bool {
	s.timer = newStoppedTimer(s.clock)
	defer s.timer.Stop()
	defer s.closeConn()
	closed := false
	for {
		s.win, closed = s.in.takeAll(s.win)
		if closed && s.unacked() == 0 {
			return true
		}
		if hardCtx.Err() != nil {
			return false
		}
		if s.unacked() > 0 && s.conn == nil {
			if s.failures > 0 && !s.backoff(hardCtx.Done()) {
				return false
			}
			if err := s.open(hardCtx); err != nil {
				if hardCtx.Err() != nil {
					return false
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
		if s.conn != nil && s.sent > 0 {
			s.awaitAck(hardCtx)
			continue
		}
		if s.conn != nil || s.unacked() == 0 {
			select {
			case <-s.in.notify:
			case <-hardCtx.Done():
				return false
			}
		}
	}
}

func (s *sender) unacked() int { return len(s.win) - s.head }

func (s *sender) open(hardCtx context.Context) error {
	ctx, cancel := context.WithTimeout(hardCtx, s.timeout)
	defer cancel()
	c, err := s.sink.Open(ctx)
	if err != nil {
		return err
	}
	s.conn, s.sent = c, 0
	s.stopConn = context.AfterFunc(hardCtx, func() { c.Close() })
	s.log.Debug("sink connected", "sink", s.sink.String())
	return nil
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

// awaitAck waits for the acknowledgement of the oldest batch in flight and
// handles it.
func (s *sender) awaitAck(hardCtx context.Context) {
	b := s.win[s.head]
	deadline := time.Now().Add(b.sentAt.Add(s.timeout).Sub(s.clock.Now()))
	a, err := s.conn.Recv(deadline)
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
	s.stopConn()
	s.conn.Close()
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
