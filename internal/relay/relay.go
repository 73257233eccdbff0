package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Relay receives newline-delimited log lines over TCP, batches them and
// delivers the batches to a Sink.
type Relay struct {
	cfg    Config
	clock  Clock
	stamps stamps // receive and flush times, shared by readers and batcher
	log    *slog.Logger
	sink   Sink

	st      *counters
	pending *pendingLimit
	chunks  *chunkPool
	queue   *chunkQueue
	batches *batchPool
	reg     *prometheus.Registry
	admTime adminTimeouts
	readers *readerEnv

	serving  atomic.Bool
	stopping atomic.Bool
	quit     chan struct{} // closed when shutdown starts
	ready    chan struct{}
	addr     net.Addr
	admin    net.Addr

	mu    sync.Mutex
	conns map[*connReader]struct{}
	relp  map[*relpSession]struct{}

	relpAddr  net.Addr
	relpFinal chan struct{} // closed once the sink has drained: RELP writers send serverclose

	tooLongWarn, connWarn rateLimit
}

// New checks cfg and returns a relay ready to Serve or Run.
func New(cfg Config) (*Relay, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &Relay{
		cfg:     cfg,
		clock:   cfg.Clock,
		log:     cfg.Logger,
		sink:    cfg.Sink,
		st:      newCounters(cfg.BatchSize),
		pending: newPendingLimit(cfg.MaxPending, cfg.MaxPendingBytes, cfg.BatchSize, cfg.MaxBatchPayload()),
		chunks:  newChunkPool(cfg.MaxLineBytes),
		queue:   newChunkQueue(),
		batches: newBatchPool(&cfg),
		admTime: defaultAdminTimeouts,
		quit:    make(chan struct{}),
		ready:   make(chan struct{}),
		conns:   make(map[*connReader]struct{}),
		relp:    make(map[*relpSession]struct{}),

		relpFinal: make(chan struct{}),
	}
	if r.clock == nil {
		r.clock = realClock{}
	}
	r.stamps = newStamps(r.clock)
	if r.log == nil {
		r.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	r.readers = &readerEnv{
		pending: r.pending, chunks: r.chunks, queue: r.queue, st: r.st, stamps: r.stamps,
		stopping: &r.stopping, log: r.log, tooLong: r.rejectTooLong,
		maxLine: cfg.MaxLineBytes, idle: cfg.IdleTimeout, lineTimeout: cfg.LineTimeout, maxCarry: cfg.MaxCarryBytes,
	}
	r.reg = newRegistry(r)
	return r, nil
}

// Addr returns the client listener's address once Ready is closed.
func (r *Relay) Addr() net.Addr {
	select {
	case <-r.ready:
		return r.addr
	default:
		return nil
	}
}

// AdminAddr returns the admin listener's address once Ready is closed, or
// nil when there is none.
func (r *Relay) AdminAddr() net.Addr {
	select {
	case <-r.ready:
		return r.admin
	default:
		return nil
	}
}

// Ready is closed when the relay accepts connections.
func (r *Relay) Ready() <-chan struct{} { return r.ready }

// Stats returns a snapshot of the relay's counters. It is safe to call at
// any time.
func (r *Relay) Stats() Stats {
	return r.st.snapshot(r.pending.counts())
}

// RELPAddr returns the RELP listener's address once Ready is closed, or
// nil when there is none.
func (r *Relay) RELPAddr() net.Addr {
	select {
	case <-r.ready:
		return r.relpAddr
	default:
		return nil
	}
}

// Run listens on cfg.Listen (and cfg.RELPListen unless it is empty) and,
// unless cfg.Admin is empty, serves the admin handler on cfg.Admin, then
// calls ServeRELP.
func (r *Relay) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", r.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", r.cfg.Listen, err)
	}
	var rln net.Listener
	if r.cfg.RELPListen != "" {
		if rln, err = net.Listen("tcp", r.cfg.RELPListen); err != nil {
			ln.Close()
			return fmt.Errorf("RELP listen on %s: %w", r.cfg.RELPListen, err)
		}
	}
	if r.cfg.Admin == "" {
		return r.ServeRELP(ctx, ln, rln)
	}
	aln, err := net.Listen("tcp", r.cfg.Admin)
	if err != nil {
		ln.Close()
		if rln != nil {
			rln.Close()
		}
		return fmt.Errorf("admin listen on %s: %w", r.cfg.Admin, err)
	}
	if !isLoopback(r.cfg.Admin) {
		r.log.Warn("admin listener is not on loopback: /metrics and /debug/pprof/ are open to the network",
			"admin", aln.Addr().String())
	}
	stop := r.serveAdmin(aln)
	err = r.ServeRELP(ctx, ln, rln)
	return errors.Join(err, stop())
}

// adminTimeouts are the admin server's limits on a connection.
type adminTimeouts struct {
	readHeader time.Duration // to read a request's header
	idle       time.Duration // to keep an idle keep-alive connection
}

var defaultAdminTimeouts = adminTimeouts{readHeader: 10 * time.Second, idle: 60 * time.Second}

// serveAdmin serves the admin handler on ln until the returned function is
// called; that function shuts the server down (waiting up to 2 s for
// requests in progress) and returns the server's error, if any. The
// server's own errors go to the relay's logger.
func (r *Relay) serveAdmin(ln net.Listener) (stop func() error) {
	r.admin = ln.Addr()
	srv := &http.Server{
		Handler:           r.AdminHandler(),
		ReadHeaderTimeout: r.admTime.readHeader,
		IdleTimeout:       r.admTime.idle,
		ErrorLog:          slog.NewLogLogger(r.log.With("component", "admin").Handler(), slog.LevelWarn),
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	return func() error {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("admin server: %w", err)
		}
		return nil
	}
}

// Serve accepts client connections on ln until ctx is done, then shuts
// down in this order: stop accepting (ln is closed), stop reading (every
// connection is closed; a partial line is dropped and counted), flush the
// batcher (reason shutdown), wait up to ShutdownTimeout for the sink to
// acknowledge everything. It returns nil when every message read was
// delivered, and an error wrapping ErrUndelivered otherwise. It logs the
// totals as its last line.
func (r *Relay) Serve(ctx context.Context, ln net.Listener) error { return r.ServeRELP(ctx, ln, nil) }

// ServeRELP is Serve with RELP sessions accepted on rln too (none when rln
// is nil). Shutdown stops reading the RELP sessions with the connections;
// after the sink has drained (or the shutdown timeout), each session is
// answered for what was settled, then sent serverclose and closed: a
// message not delivered by then gets no answer, and its sender resends it.
func (r *Relay) ServeRELP(ctx context.Context, ln, rln net.Listener) error {
	if !r.serving.CompareAndSwap(false, true) {
		return ErrServing
	}
	r.addr = ln.Addr()
	if rln != nil {
		r.relpAddr = rln.Addr()
	}

	batches := newBatchQueue()
	b := newBatcher(&r.cfg, r.stamps, r.queue, r.chunks, r.batches, batches, r.st)
	feed := newFeed(batches, r.st, r.pending, r.batches, r.clock, r.log, Policy{
		Concurrency: r.cfg.SinkConcurrency, SendTimeout: r.cfg.SendTimeout,
		RetryBase: r.cfg.RetryBase, RetryMax: r.cfg.RetryMax,
	})
	hardCtx, hardStop := context.WithCancel(context.Background())
	defer hardStop()
	readersDone := make(chan struct{})
	var workers sync.WaitGroup
	var sinkErr error // set if the sink gave up before the hard stop
	workers.Add(2)
	go func() { defer workers.Done(); b.run(readersDone) }()
	go func() {
		defer workers.Done()
		if err := r.sink.Run(hardCtx, feed); err != nil && hardCtx.Err() == nil {
			sinkErr = fmt.Errorf("sink %s: %w", r.sink, err)
			r.log.Error("sink gave up; nothing more will be delivered", "sink", r.sink.String(), "error", err)
		}
	}()

	var readers, relpWriters sync.WaitGroup
	acceptErr := make(chan error, 2)
	go func() { acceptErr <- r.accept(ln, &readers) }()
	if rln != nil {
		go func() { acceptErr <- r.acceptRELP(rln, &readers, &relpWriters) }()
	}
	close(r.ready)
	if rln != nil {
		r.log.Info("relay listening for RELP", "addr", r.relpAddr.String(), "relp_window", r.cfg.RELPWindow)
	}
	r.log.Info("relay listening", "addr", r.addr.String(), "sink", r.sink.String(),
		"batch_size", r.cfg.BatchSize, "flush_interval", r.cfg.FlushInterval)

	var err error
	select {
	case <-ctx.Done():
	case err = <-acceptErr:
		err = fmt.Errorf("accept: %w", err)
		r.log.Error("accepting failed; shutting down", "error", err)
	}
	start := time.Now()
	r.log.Info("shutting down", "shutdown_timeout", r.cfg.ShutdownTimeout)
	timeout := r.clock.NewTimer(r.cfg.ShutdownTimeout)
	defer timeout.Stop()
	sinkDone := make(chan struct{})
	go func() {
		select {
		case <-timeout.C():
			hardStop()
		case <-sinkDone:
		}
	}()

	// 1. stop accepting.
	r.stopping.Store(true)
	close(r.quit)
	ln.Close()
	accepting := 1
	if rln != nil {
		rln.Close()
		accepting++
	}
	if err != nil {
		accepting--
	}
	for range accepting {
		<-acceptErr
	}
	// 2. stop reading.
	r.pending.stop()
	r.mu.Lock()
	for cr := range r.conns {
		cr.nc.SetReadDeadline(aLongTimeAgo)
	}
	for s := range r.relp {
		s.nc.SetReadDeadline(aLongTimeAgo)
	}
	r.mu.Unlock()
	readers.Wait()
	// 3. flush the batcher; 4. drain the sink (until the timeout).
	close(readersDone)
	workers.Wait()
	close(sinkDone)
	// 5. answer the RELP sessions what was settled; serverclose. A writer
	// blocked on a client that does not read gets a second.
	r.mu.Lock()
	for s := range r.relp {
		s.nc.SetWriteDeadline(time.Now().Add(relpFinalWrite))
	}
	r.mu.Unlock()
	close(r.relpFinal)
	relpWriters.Wait()
	err = errors.Join(err, sinkErr)

	st := r.Stats()
	undelivered := st.Received - st.Delivered - st.SinkRejected
	level := slog.LevelInfo
	if undelivered > 0 {
		level = slog.LevelError
		err = errors.Join(err, fmt.Errorf("shutdown after %v: %d of %d messages not acknowledged: %w",
			time.Since(start).Round(time.Millisecond), undelivered, st.Received, ErrUndelivered))
	}
	r.log.Log(context.Background(), level, "relay stopped",
		"received", st.Received, "delivered", st.Delivered, "rejected", st.RejectedTotal(),
		"sink_rejected", st.SinkRejected,
		"undelivered", undelivered, "unread_connections", st.UnreadConns, "unread_bytes", st.UnreadBytes,
		"batches", st.Batches[1]+st.Batches[2]+st.Batches[3]+st.Batches[4],
		"shutdown", time.Since(start).Round(time.Millisecond))
	return err
}

var aLongTimeAgo = time.Unix(1, 0)

// relpFinalWrite bounds a RELP session's last writes at shutdown: its
// answers and serverclose.
const relpFinalWrite = time.Second

// accept runs the accept loop until ln is closed (it returns nil) or fails
// for good.
func (r *Relay) accept(ln net.Listener, readers *sync.WaitGroup) error {
	return r.acceptLoop(ln, func(nc net.Conn) bool {
		cr := newConnReader(r.readers, nc)
		if !track(r, r.conns, cr) {
			nc.Close()
			return false
		}
		r.st.connsOpen.Add(1)
		r.st.connsTotal.Add(1)
		readers.Add(1)
		go func() {
			defer readers.Done()
			cr.serve()
			nc.Close()
			untrack(r, r.conns, cr)
			r.st.connsOpen.Add(-1)
		}()
		return true
	})
}

// acceptRELP runs the RELP listener's accept loop: each session's reader
// counts among the readers, its writer among writers (they end at
// different steps of shutdown).
func (r *Relay) acceptRELP(ln net.Listener, readers, writers *sync.WaitGroup) error {
	return r.acceptLoop(ln, func(nc net.Conn) bool {
		s := newRelpSession(r, nc)
		if !track(r, r.relp, s) {
			nc.Close()
			return false
		}
		r.st.relpOpen.Add(1)
		r.st.relpTotal.Add(1)
		readers.Add(1)
		writers.Add(1)
		go func() {
			defer readers.Done()
			s.endErr = s.read()
			close(s.done)
		}()
		go func() {
			defer writers.Done()
			s.write(r.relpFinal)
			untrack(r, r.relp, s)
			r.st.relpOpen.Add(-1)
		}()
		return true
	})
}

// track adds k to set, one of r's sets of open connections, under r.mu,
// unless shutdown has begun; it reports whether it did. Shutdown sets
// stopping and then walks the sets under r.mu, so it reaches every
// connection track admitted.
func track[K comparable](r *Relay, set map[K]struct{}, k K) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopping.Load() {
		return false
	}
	set[k] = struct{}{}
	return true
}

// untrack removes k from set, under r.mu.
func untrack[K comparable](r *Relay, set map[K]struct{}, k K) {
	r.mu.Lock()
	delete(set, k)
	r.mu.Unlock()
}

// acceptLoop accepts on ln until it is closed (it returns nil) or fails
// for good, passing each connection within MaxConns to start; start
// reports false when shutdown has begun.
func (r *Relay) acceptLoop(ln net.Listener, start func(net.Conn) bool) error {
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if r.stopping.Load() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// Out of file descriptors and the like: wait, keep going.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				r.connWarn.warn(r.log, r.clock, "accept failed; retrying", "error", err, "delay", delay)
				if !r.pause(delay) {
					return nil
				}
				continue
			}
			return err
		}
		delay = 0
		if r.cfg.MaxConns > 0 && r.st.connsOpen.Load()+r.st.relpOpen.Load() >= int64(r.cfg.MaxConns) {
			r.st.connsRejected.Add(1)
			r.connWarn.warn(r.log, r.clock, "connection limit reached; closing new connection",
				"max_conns", r.cfg.MaxConns, "remote", nc.RemoteAddr().String())
			nc.Close()
			continue
		}
		if !start(nc) {
			return nil
		}
	}
}

// pause waits d on the relay's clock; it reports false if shutdown
// started first.
func (r *Relay) pause(d time.Duration) bool {
	t := r.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-r.quit:
		return false
	}
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// rejectTooLong counts an over-long line and warns, at most once a second.
func (r *Relay) rejectTooLong(nc net.Conn, n int) {
	r.st.rejected[rejTooLong].Add(1)
	r.tooLongWarn.warn(r.log, r.clock, "dropped a line over the limit",
		"remote", nc.RemoteAddr().String(), "bytes_so_far", n, "max_line_bytes", r.cfg.MaxLineBytes)
}

// rateLimit lets one log line through per second and counts the rest.
type rateLimit struct {
	last       atomic.Int64
	suppressed atomic.Uint64
}

func (l *rateLimit) warn(log *slog.Logger, c Clock, msg string, args ...any) {
	now := c.Now().UnixNano()
	last := l.last.Load()
	if now-last < int64(time.Second) || !l.last.CompareAndSwap(last, now) {
		l.suppressed.Add(1)
		return
	}
	if n := l.suppressed.Swap(0); n > 0 {
		args = append(args, "suppressed_since_last", n)
	}
	log.Warn(msg, args...)
}
