// Package mockdest provides the measuring destination: a TCP server that
// receives the relay's framed batches (or plain newline-delimited lines from
// any other relay, or Elasticsearch _bulk requests over HTTP as four log
// engines answer them, or Quickwit ingest API requests as Quickwit answers
// them), acknowledges them, and records batch sizes by flush
// reason, batch ages, end-to-end latencies, throughput, and loss,
// duplication and reordering per stream. It can misbehave on purpose (late,
// negative or missing acknowledgements, closed connections, downtime, a
// bandwidth cap) to exercise the relay's retries, and it reports what it saw
// as a live JSON /stats endpoint, a final text and JSON report, and
// HdrHistogram .hgrm files.
//
// The recording core (Recorder) is independent of the transport; the
// receivers (frames, lines, bulk) only cut batches and record them.
package mockdest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/logrelay/logrelay/internal/wire"
)

// Server is a measuring destination.
type Server struct {
	cfg     Config
	log     *slog.Logger
	rec     *Recorder
	limiter *limiter
	bulk    *bulkServer // ModeBulk's state, nil in the other modes

	readyOnce sync.Once
	ready     chan struct{}
	addr      atomic.Pointer[net.Addr]
	adminAddr atomic.Pointer[net.Addr]
	ended     atomic.Pointer[time.Time]

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	closing bool

	down   atomic.Bool
	connID atomic.Uint64

	accepted, protoErrs, linesTooLong, framesTimedOut atomic.Uint64
	timeoutLog                                        rate.Sometimes // at most one frame timeout logged per interval
	open                                              atomic.Int64
	mis                                               misCounters
}

type misCounters struct {
	acksDelayed, nacks, acksDropped, framesIgnored, connsClosed atomic.Uint64
	downPeriods, downClosed, connsRefused, readThrottled        atomic.Uint64
}

// New returns a Server for cfg, or an error wrapping ErrConfig.
func New(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:   cfg,
		log:   log,
		rec:   NewRecorder(),
		ready: make(chan struct{}),
		conns: make(map[net.Conn]struct{}),

		timeoutLog: rate.Sometimes{Interval: 10 * time.Second},
	}
	if cfg.ReadBytesPerSec > 0 {
		s.limiter = newLimiter(cfg.ReadBytesPerSec, &s.mis.readThrottled)
	}
	if cfg.Mode == ModeBulk {
		s.bulk = newBulkServer(&s.cfg.Bulk)
	}
	return s, nil
}

// Recorder returns the Server's recorder.
func (s *Server) Recorder() *Recorder { return s.rec }

// Addr returns the address Serve accepts on, nil before Serve has started.
func (s *Server) Addr() net.Addr {
	if a := s.addr.Load(); a != nil {
		return *a
	}
	return nil
}

// AdminAddr returns the admin HTTP address, nil when there is none or
// before Serve has started it.
func (s *Server) AdminAddr() net.Addr {
	if a := s.adminAddr.Load(); a != nil {
		return *a
	}
	return nil
}

// Ready is closed once Serve accepts connections (and the admin listener,
// if any, is up).
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Run listens on cfg.Listen and calls Serve.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrListen, err)
	}
	return s.Serve(ctx, ln)
}

// Serve accepts connections on ln and serves them until ctx ends or
// cfg.Duration has passed, then closes ln and every connection, waits for
// its goroutines, and writes cfg.Report and the files in cfg.OutDir. It
// returns nil after a normal end; Check gives the verdict on what arrived.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.Duration)
		defer cancel()
	}
	s.rec.startIfEmpty(time.Now())
	g, gctx := errgroup.WithContext(ctx)
	addr := ln.Addr()
	s.addr.Store(&addr)

	if s.cfg.Admin != "" {
		aln, err := net.Listen("tcp", s.cfg.Admin)
		if err != nil {
			ln.Close()
			return fmt.Errorf("%w (admin): %w", ErrListen, err)
		}
		a := aln.Addr()
		s.adminAddr.Store(&a)
		srv := &http.Server{Handler: s.adminHandler(), ReadHeaderTimeout: 5 * time.Second}
		g.Go(func() error {
			if err := srv.Serve(aln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("admin: %w", err)
			}
			return nil
		})
		g.Go(func() error {
			<-gctx.Done()
			return srv.Close()
		})
	}
	if s.cfg.DownFor > 0 {
		g.Go(func() error { return s.downLoop(gctx) })
	}
	if s.bulk != nil {
		s.startBulk(gctx, g)
	}
	g.Go(func() error {
		<-gctx.Done()
		ln.Close()
		s.closeAll(true)
		return nil
	})
	g.Go(func() error { return s.acceptLoop(gctx, g, ln) })
	s.readyOnce.Do(func() { close(s.ready) })
	s.log.Info("mockdest listening", "addr", addr.String(), "mode", s.cfg.Mode)

	err := g.Wait()
	now := time.Now()
	s.ended.Store(&now)
	if rerr := s.writeReports(); rerr != nil {
		err = errors.Join(err, rerr)
	}
	return err
}

func (s *Server) acceptLoop(ctx context.Context, g *errgroup.Group, ln net.Listener) error {
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept", "err", err, "retry_in", backoff)
				select {
				case <-time.After(backoff):
					continue
				case <-ctx.Done():
					return nil
				}
			}
			return fmt.Errorf("accept: %w", err)
		}
		backoff = 0
		switch s.track(c) {
		case refused:
			continue
		case stopping:
			return nil
		}
		s.accepted.Add(1)
		id := s.connID.Add(1)
		g.Go(func() error {
			defer s.untrack(c)
			s.serveConn(ctx, c, id)
			return nil
		})
	}
}

// refuse closes c with a reset, as a destination that is down would.
func refuse(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}

type trackResult int

const (
	tracked  trackResult = iota // serve the connection
	refused                     // down: closed with a reset
	stopping                    // Serve is ending: closed
)

// track registers a new connection, or closes it when the server is down
// or stopping. Going down and tracking share s.mu, so no connection slips
// through a down period.
func (s *Server) track(c net.Conn) trackResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closing:
		c.Close()
		return stopping
	case s.down.Load():
		s.mis.connsRefused.Add(1)
		refuse(c)
		return refused
	}
	s.conns[c] = struct{}{}
	s.open.Add(1)
	return tracked
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.conns[c]; ok {
		delete(s.conns, c)
		s.open.Add(-1)
	}
	c.Close()
}

// closeAll closes every open connection and returns how many. final makes
// track close new ones from now on; otherwise the server goes down and the
// connections count as closed by going down.
func (s *Server) closeAll(final bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if final {
		s.closing = true
	} else {
		s.down.Store(true)
		s.mis.downPeriods.Add(1)
		s.mis.downClosed.Add(uint64(len(s.conns)))
	}
	for c := range s.conns {
		c.Close()
	}
	return len(s.conns)
}

// downLoop takes the server down for DownFor at the end of every DownEvery.
func (s *Server) downLoop(ctx context.Context) error {
	up, down := s.cfg.DownEvery-s.cfg.DownFor, s.cfg.DownFor
	t := time.NewTimer(up)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		n := s.closeAll(false)
		s.log.Info("mockdest down", "for", down, "closed", n)
		t.Reset(down)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		s.down.Store(false)
		s.log.Info("mockdest up")
		t.Reset(up)
	}
}

func (s *Server) serveConn(ctx context.Context, c net.Conn, id uint64) {
	var src io.Reader = c
	if s.limiter != nil {
		src = &throttledReader{r: c, l: s.limiter, done: ctx.Done()}
	}
	rng := rand.New(rand.NewPCG(uint64(s.cfg.Seed), id))
	log := s.log.With("conn", id, "remote", c.RemoteAddr().String())
	var err error
	switch s.cfg.Mode {
	case ModeBulk:
		s.serveBulkConn(ctx, c, src)
	case ModeLines:
		err = s.serveLines(c, src, rng)
	default:
		err = s.serveFrames(ctx, c, src, rng)
	}
	if err != nil && ctx.Err() == nil {
		log.Debug("connection ended", "err", err)
	}
}

// Snapshot returns a deep copy of everything recorded so far and the
// server's counters. It is safe to call while serving.
func (s *Server) Snapshot() Snapshot {
	var snap Snapshot
	s.rec.snapshot(&snap)
	if e := s.ended.Load(); e != nil {
		snap.End = *e
	}
	snap.Mode = s.cfg.Mode
	snap.ConnsAccepted = s.accepted.Load()
	snap.ConnsOpen = s.open.Load()
	snap.ProtocolErrors = s.protoErrs.Load()
	snap.LinesTooLong = s.linesTooLong.Load()
	snap.FramesTimedOut = s.framesTimedOut.Load()
	m := &s.mis
	snap.Misbehaviour = Misbehaviour{
		AcksDelayed:   m.acksDelayed.Load(),
		Nacks:         m.nacks.Load(),
		AcksDropped:   m.acksDropped.Load(),
		FramesIgnored: m.framesIgnored.Load(),
		ConnsClosed:   m.connsClosed.Load(),
		DownPeriods:   m.downPeriods.Load(),
		DownClosed:    m.downClosed.Load(),
		ConnsRefused:  m.connsRefused.Load(),
		ReadThrottled: m.readThrottled.Load(),
	}
	if s.bulk != nil {
		snap.Bulk = s.bulkStats()
	}
	return snap
}

// DuplicateRanges returns the seqs of stream that arrived more than once
// (Recorder.DuplicateRanges).
func (s *Server) DuplicateRanges(stream uint32) ([]wire.SeqRange, uint64) {
	return s.rec.DuplicateRanges(stream)
}

// MissingRanges returns the sequence numbers in [1, upTo] of stream that
// never arrived, as inclusive ranges in increasing order.
func (s *Server) MissingRanges(stream uint32, upTo uint64) []wire.SeqRange {
	return s.rec.MissingRanges(stream, upTo)
}

// Check returns nil unless a --max-batch or --expect condition failed: a
// batch larger than cfg.MaxBatch (ErrMaxBatch), or, with cfg.Expect set, a
// number of distinct stamped messages other than cfg.Expect or any gap
// (ErrExpect), or stamped messages the checker could not track
// (ErrUntracked). Several failures are joined.
func (s *Server) Check() error {
	return s.rec.check(s.cfg.MaxBatch, s.cfg.Expect)
}
