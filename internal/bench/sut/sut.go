// Package sut provides the bench's system under test: a logrelay relay
// started in the bench's process, started as its own process from a
// binary (built on the fly when none is given), or already running at an
// address. Each is a Relay: the scenarios send to its address, read its
// counters, sample its process and stop it, without asking which kind it
// is; a process relay also serves its pprof profiles.
package sut

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/logrelay/logrelay/internal/relay"
)

// Kind is how a relay under test runs.
type Kind int

const (
	// InProcess is a relay in the bench's own process (relay.New + Serve).
	InProcess Kind = iota + 1
	// Process is a relay binary the bench runs as a child process.
	Process
	// External is a relay the bench did not start, at a given address.
	External
)

// kindNames are the kinds as the report records them.
var kindNames = [...]string{InProcess: "in-process", Process: "process", External: "external"}

// String returns the kind as the report records it: "in-process",
// "process" or "external".
func (k Kind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Stats is what the bench reads from a relay while it runs.
type Stats struct {
	ConnsOpen, Pending                                 int64
	ConnsTotal, Received, Delivered, Rejected, Retries uint64
	SinkErrors                                         uint64
	Batches                                            map[string]uint64 // flushed batches by reason
	Goroutines, FDs                                    int               // FDs -1 = not known
	// Send is logrelay_sink_send_seconds, the time from sending a batch to
	// its acknowledgement (a frame's ack, a _bulk request's answer), as
	// cumulative buckets; nil when the relay's counters do not carry it
	// (an in-process relay).
	Send []Bucket
}

// Bucket is one cumulative histogram bucket: Count observations ≤ Le
// seconds (the last one's Le is +Inf).
type Bucket struct {
	Le    float64
	Count uint64
}

// Relay is a relay under test.
type Relay interface {
	// Kind says how the relay runs.
	Kind() Kind
	// Addr is where it listens for newline-delimited TCP.
	Addr() string
	// RELPAddr is where it listens for RELP; "" = not known (an external
	// relay).
	RELPAddr() string
	// Stats reads its counters.
	Stats() (Stats, error)
	// PID is the process to sample for CPU and RSS: the bench's own for an
	// in-process relay; 0 = not known.
	PID() int
	// MaxPending is its max-pending setting, as the bench asked for it.
	MaxPending() int
	// Stop shuts it down gracefully and waits for it; a second call
	// returns the first result. An external relay is not stopped: its
	// result's Err wraps ErrNotStarted.
	Stop(ctx context.Context) Shutdown
}

// Shutdown is how a relay's graceful shutdown went.
type Shutdown struct {
	Exited   bool // Serve returned, or the process exited
	ExitCode int  // the process's exit status (1 for an in-process error)
	Err      error
	Took     time.Duration
	Received uint64 // messages read, from the relay's own final count
	Counted  bool   // Received is known
}

// Config is what a scenario asks of its relay.
type Config struct {
	// Sink is the relay's sink URL, as the destination gives it.
	Sink string
	// MaxPending, SendTimeout and ShutdownTimeout override the bench's
	// defaults when > 0.
	MaxPending      int
	SendTimeout     time.Duration
	ShutdownTimeout time.Duration
	// BatchSize overrides the Starter's batch size when > 0.
	BatchSize int
	// SinkConcurrency is the relay's --sink-concurrency when > 0 (batches
	// in flight; requests in flight for an HTTP sink).
	SinkConcurrency int
	// Args are more relay flags for a process relay (a sink's own, e.g.
	// --file-fsync=false); an in-process relay refuses them.
	Args []string
	// Profile turns on mutex and block profiling (process relays).
	Profile bool
}

// Starter starts the relays of one bench run. Its exported fields are set
// before the first Start; Close removes what it built.
type Starter struct {
	// BatchSize and FlushInterval are the relay's rules.
	BatchSize     int
	FlushInterval time.Duration
	// Bin is the relay binary for process relays; "" = go build ./relay
	// on first use into a temporary directory (Close removes it).
	Bin string
	// AllProcesses starts a process wherever an in-process relay is asked
	// for.
	AllProcesses bool
	// ExternalAddr, if set, is a running relay that every Start returns
	// instead of starting one; ExternalAdmin is its admin address (for
	// /metrics; "" = no counters), ExternalPID its process (0 = unknown).
	ExternalAddr, ExternalAdmin string
	ExternalPID                 int
	// Logger receives an in-process relay's logs; nil = discard.
	Logger *slog.Logger
	// Notify, if set, is told of a slow step before it starts (the build).
	Notify func(msg string)

	binOnce sync.Once
	bin     string
	binErr  error
	tmp     string
}

// KindFor returns the kind of relay Start starts when asked for want
// (InProcess or Process).
func (s *Starter) KindFor(want Kind) Kind {
	switch {
	case s.ExternalAddr != "":
		return External
	case want == Process || s.AllProcesses:
		return Process
	}
	return InProcess
}

// Start starts a relay for c of the kind KindFor(want) names, and returns
// once it accepts connections.
func (s *Starter) Start(ctx context.Context, c Config, want Kind) (Relay, error) {
	rc := s.relayConfig(c)
	switch s.KindFor(want) {
	case External:
		return &external{addr: s.ExternalAddr, admin: s.ExternalAdmin, pid: s.ExternalPID, maxPending: rc.MaxPending}, nil
	case Process:
		return s.startProcess(ctx, c, rc)
	}
	return s.startInProcess(ctx, c, rc)
}

// Close removes the relay binary Start built, if any.
func (s *Starter) Close() {
	if s.tmp != "" {
		os.RemoveAll(s.tmp)
	}
}

// relayConfig returns the relay's settings for c, all but its sink, which
// each kind passes on in its own way.
func (s *Starter) relayConfig(c Config) relay.Config {
	rc := relay.DefaultConfig()
	rc.Listen = "127.0.0.1:0"
	rc.Admin = ""
	rc.BatchSize = s.BatchSize
	rc.FlushInterval = s.FlushInterval
	rc.RetryBase = 20 * time.Millisecond
	rc.RetryMax = 500 * time.Millisecond
	rc.ShutdownTimeout = 20 * time.Second
	if c.MaxPending > 0 {
		rc.MaxPending = c.MaxPending
	}
	if c.SendTimeout > 0 {
		rc.SendTimeout = c.SendTimeout
	}
	if c.ShutdownTimeout > 0 {
		rc.ShutdownTimeout = c.ShutdownTimeout
	}
	if c.SinkConcurrency > 0 {
		rc.SinkConcurrency = c.SinkConcurrency
	}
	if c.BatchSize > 0 {
		rc.BatchSize = c.BatchSize
	}
	return rc
}

// WaitIdle waits until r has no client connection open. It gives up
// after timeout without progress (the relay's received count not moving),
// after 10 × timeout in all, or at once when r's counters cannot be read
// at all (ErrNoCounters).
func WaitIdle(ctx context.Context, r Relay, timeout time.Duration) {
	start := time.Now()
	var last uint64
	lastMove := start
	for ctx.Err() == nil && time.Since(lastMove) < timeout && time.Since(start) < 10*timeout {
		s, err := r.Stats()
		if errors.Is(err, ErrNoCounters) {
			return
		}
		if err == nil {
			if s.ConnsOpen == 0 {
				return
			}
			if s.Received != last {
				last, lastMove = s.Received, time.Now()
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitListening waits until addr accepts a TCP connection, or until
// timeout.
func WaitListening(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s not listening: %w", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
