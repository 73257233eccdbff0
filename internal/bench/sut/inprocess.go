package sut

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/logrelay/logrelay/internal/bench/inproc"
	"github.com/logrelay/logrelay/internal/bench/procstat"
	"github.com/logrelay/logrelay/internal/relay"
	"github.com/logrelay/logrelay/internal/sink"
)

// startInProcess is the one place the bench builds a relay in its own
// process: rc with c's sink, served on a fresh loopback listener until
// Stop.
func (s *Starter) startInProcess(ctx context.Context, c Config, rc relay.Config) (*inProcess, error) {
	if len(c.Args) > 0 {
		return nil, fmt.Errorf("relay flags %q: only a relay process takes them", c.Args)
	}
	var err error
	if rc.Sink, err = sink.FromURL(c.Sink, sink.Options{Concurrency: rc.SinkConcurrency}); err != nil {
		return nil, fmt.Errorf("relay sink: %w", err)
	}
	rc.Logger = s.Logger
	if rc.Logger == nil {
		rc.Logger = slog.New(slog.DiscardHandler)
	}
	rc.Logger = rc.Logger.With("component", "relay")
	r, err := relay.New(rc)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	rln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ln.Close()
		return nil, err
	}
	run, err := inproc.Serve(ctx, relpServer{r, rln}, ln)
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	h := &inProcess{r: r, run: run, addr: ln.Addr().String(), relpAddr: rln.Addr().String(), maxPending: rc.MaxPending}
	return h, nil
}

// relpServer serves a relay with its RELP listener too.
type relpServer struct {
	*relay.Relay
	rln net.Listener
}

func (s relpServer) Serve(ctx context.Context, ln net.Listener) error {
	return s.ServeRELP(ctx, ln, s.rln)
}

// inProcess is a relay in the bench's process.
type inProcess struct {
	r          *relay.Relay
	run        *inproc.Running
	addr       string
	relpAddr   string
	maxPending int
	once       sync.Once
	res        Shutdown
}

func (h *inProcess) Kind() Kind       { return InProcess }
func (h *inProcess) Addr() string     { return h.addr }
func (h *inProcess) RELPAddr() string { return h.relpAddr }
func (h *inProcess) PID() int         { return os.Getpid() }
func (h *inProcess) MaxPending() int  { return h.maxPending }

// Stats reads relay.Stats; goroutines and fds are the bench process's.
func (h *inProcess) Stats() (Stats, error) {
	s := h.r.Stats()
	rs := Stats{ConnsOpen: s.ConnsOpen, Pending: s.Pending, ConnsTotal: s.ConnsTotal, Received: s.Received,
		Delivered: s.Delivered, Rejected: s.RejectedTotal(), Retries: s.Retries, SinkErrors: s.SinkErrors,
		Batches: map[string]uint64{}, Goroutines: runtime.NumGoroutine(), FDs: -1}
	for r, n := range s.Batches {
		rs.Batches[r.String()] = n
	}
	if ps, err := procstat.Read(0); err == nil {
		rs.FDs = ps.FDs
	}
	return rs, nil
}

// Stop cancels the relay's context (its graceful shutdown) and waits.
func (h *inProcess) Stop(ctx context.Context) Shutdown {
	h.once.Do(func() {
		start := time.Now()
		returned, err := h.run.Stop(ctx)
		if !returned {
			h.res = Shutdown{Err: fmt.Errorf("relay did not stop: %w", ctx.Err()), Took: time.Since(start)}
			return
		}
		h.res = Shutdown{Exited: true, Err: err, Took: time.Since(start)}
		if err != nil {
			h.res.ExitCode = 1
		}
		h.res.Received, h.res.Counted = h.r.Stats().Received, true
	})
	return h.res
}
