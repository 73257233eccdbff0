package mockdest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/logrelay/logrelay/internal/wire"
)

// frameReadBuffer is the size of each connection's read buffer: many
// frames of a typical batch arrive in one read.
const frameReadBuffer = 256 << 10

// serveFrames reads frames from src until it ends, records them and writes
// acknowledgements to c, in order. Without an ack delay, acknowledgements
// are collected and written together whenever no complete frame is left in
// the read buffer; with one, a writer goroutine sends each when it is due.
// The connection may idle between frames; once a frame's first bytes are
// in, the rest must arrive within cfg.FrameTimeout.
func (s *Server) serveFrames(ctx context.Context, c net.Conn, src io.Reader, rng *rand.Rand) error {
	br := bufio.NewReaderSize(src, frameReadBuffer)
	fr := wire.NewReader(br, 0)
	delayed := s.cfg.AckDelay > 0 || s.cfg.AckJitter > 0

	var acks []byte
	flush := func() error {
		if len(acks) == 0 {
			return nil
		}
		_, err := c.Write(acks)
		acks = acks[:0]
		return err
	}
	var (
		g       errgroup.Group
		queue   chan pendingAck
		lastDue time.Time
	)
	if delayed {
		queue = make(chan pendingAck, 4096)
		g.Go(func() error { return s.writeDelayedAcks(ctx, c, queue) })
		defer func() {
			close(queue)
			_ = g.Wait()
		}()
	}
	end := func(err error) error {
		if !delayed {
			_ = flush()
		}
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case isWireError(err):
			s.protoErrs.Add(1)
			s.log.Warn("protocol error; closing connection", "remote", c.RemoteAddr().String(), "err", err)
		case errors.Is(err, os.ErrDeadlineExceeded):
			s.framesTimedOut.Add(1)
			s.timeoutLog.Do(func() {
				s.log.Warn("frame not complete within the frame timeout; closing connection (logged at most every 10s)",
					"remote", c.RemoteAddr().String(), "timeout", s.cfg.FrameTimeout, "timed_out_total", s.framesTimedOut.Load())
			})
		}
		return err
	}
	silent := false
	for {
		deadline := false
		if !frameBuffered(br) {
			if !delayed {
				if err := flush(); err != nil {
					return fmt.Errorf("write acks: %w", err)
				}
			}
			// Idle until the next frame starts, then give it the timeout.
			if br.Buffered() == 0 {
				if _, err := br.Peek(1); err != nil {
					return end(err)
				}
			}
			_ = c.SetReadDeadline(time.Now().Add(s.cfg.FrameTimeout))
			deadline = true
		}
		h, payload, err := fr.ReadFrame()
		if deadline {
			_ = c.SetReadDeadline(time.Time{})
		}
		if err != nil {
			return end(err)
		}
		arrival := time.Now()
		if silent {
			s.mis.framesIgnored.Add(1)
			continue
		}
		if s.cfg.CloseRate > 0 && rng.Float64() < s.cfg.CloseRate {
			s.mis.connsClosed.Add(1)
			if !delayed {
				_ = flush()
			}
			return nil
		}
		status := wire.AckOK
		if s.cfg.NackRate > 0 && rng.Float64() < s.cfg.NackRate {
			s.mis.nacks.Add(1)
			status = wire.AckNack
		} else {
			s.rec.Record(Batch{
				Seq:       h.Seq,
				Reason:    h.Reason.String(),
				OldestNs:  h.OldestNs,
				FlushNs:   h.FlushNs,
				ArrivalNs: arrival.UnixNano(),
			}, payload)
			if s.cfg.NoAckRate > 0 && rng.Float64() < s.cfg.NoAckRate {
				s.mis.acksDropped.Add(1)
				silent = true
				continue
			}
		}
		ack := wire.Ack{Seq: h.Seq, Status: status}
		// After a nack the relay resends this frame and every later one on
		// a new connection; storing the later ones now would record them
		// ahead of the nacked one. Like a destination that keeps order,
		// mockdest ignores the rest of this connection.
		silent = status == wire.AckNack
		if !delayed {
			acks = wire.AppendAck(acks, ack)
			continue
		}
		due := arrival.Add(s.cfg.AckDelay)
		if s.cfg.AckJitter > 0 {
			due = due.Add(time.Duration(rng.Int64N(int64(s.cfg.AckJitter))))
		}
		if due.Before(lastDue) {
			due = lastDue // acknowledgements stay in order
		}
		lastDue = due
		s.mis.acksDelayed.Add(1)
		select {
		case queue <- pendingAck{ack: ack, due: due}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// frameBuffered reports whether br already holds a complete frame (or a
// malformed header, which the next ReadFrame reports without blocking).
func frameBuffered(br *bufio.Reader) bool {
	n := br.Buffered()
	if n < wire.HeaderSize {
		return false
	}
	b, _ := br.Peek(wire.HeaderSize)
	h, err := wire.ParseHeader(b)
	if err != nil {
		return true
	}
	return uint64(n) >= wire.HeaderSize+uint64(h.PayloadLen)
}

// isWireError reports whether err means malformed input rather than a
// failed or closed connection.
func isWireError(err error) bool {
	for _, e := range []error{wire.ErrBadMagic, wire.ErrBadReason, wire.ErrBadCount,
		wire.ErrTooLarge, wire.ErrReserved, wire.ErrShort} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

type pendingAck struct {
	ack wire.Ack
	due time.Time
}

// writeDelayedAcks writes each queued acknowledgement when it is due,
// together with any others already due, until the queue is closed and
// drained, the connection fails or ctx ends.
func (s *Server) writeDelayedAcks(ctx context.Context, c net.Conn, queue <-chan pendingAck) error {
	t := time.NewTimer(time.Hour)
	t.Stop()
	var buf []byte
	for {
		var p pendingAck
		var ok bool
		select {
		case p, ok = <-queue:
			if !ok {
				return nil
			}
		case <-ctx.Done():
			return nil
		}
		if !sleepUntil(ctx, t, p.due) {
			return nil
		}
		buf = wire.AppendAck(buf[:0], p.ack)
	more:
		for {
			select {
			case q, ok := <-queue:
				if !ok {
					break more
				}
				if time.Until(q.due) > 0 {
					if _, err := c.Write(buf); err != nil {
						return drain(queue, err)
					}
					buf = buf[:0]
					if !sleepUntil(ctx, t, q.due) {
						return nil
					}
				}
				buf = wire.AppendAck(buf, q.ack)
			default:
				break more
			}
		}
		if _, err := c.Write(buf); err != nil {
			return drain(queue, err)
		}
	}
}

// sleepUntil waits on t, a stopped or fired timer, until due; it returns
// at once when due has passed, and false when ctx ends first.
func sleepUntil(ctx context.Context, t *time.Timer, due time.Time) bool {
	if d := time.Until(due); d > 0 {
		t.Reset(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// drain empties queue until it is closed, so that the reader never blocks
// on a writer that has failed, and returns err.
func drain(queue <-chan pendingAck, err error) error {
	for range queue {
	}
	return err
}
