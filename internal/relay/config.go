package relay

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

// Config configures a Relay. DefaultConfig returns the documented defaults;
// New rejects invalid values with an error wrapping ErrConfig.
type Config struct {
	// Listen is the TCP address clients send newline-delimited lines to.
	Listen string
	// RELPListen is the TCP address RELP clients (rsyslog's omrelp, loadgen
	// --relp) send to; "" means no RELP listener. A RELP message is
	// answered "200 OK" only once its batch was settled by the sink, so
	// RELP senders get at-least-once delivery end to end.
	RELPListen string
	// RELPWindow is the most messages of one RELP session the relay holds
	// unanswered; at that many it stops reading the session until answers
	// go out. 0 means DefaultRELPWindow.
	RELPWindow int
	// Admin is the address of the HTTP admin listener (/metrics,
	// /debug/pprof/, /healthz); "" means none. It must be on loopback
	// (localhost, 127.0.0.0/8, ::1) unless AdminPublic is set: pprof must
	// not be public by accident.
	Admin string
	// AdminPublic allows Admin on a non-loopback address (an empty host,
	// 0.0.0.0, a host name other than localhost, any other IP); the relay
	// then logs a warning at start.
	AdminPublic bool
	// Sink is the destination the relay delivers to; required. The sink
	// package's FromURL builds one from a URL.
	Sink Sink
	// BatchSize is the number of messages at which a batch is flushed; no
	// batch ever holds more.
	BatchSize int
	// FlushInterval is the longest a batch's oldest message waits before
	// the batch is flushed.
	FlushInterval time.Duration
	// BatchBytes caps a batch's payload (messages plus their newlines) in
	// bytes; 0 means the protocol's default limit, wire.DefaultMaxPayload
	// (64 MiB), which is also the largest value allowed. A single message
	// larger than the cap makes a batch of its own.
	BatchBytes int
	// MaxLineBytes is the longest accepted line, without its line ending.
	// Longer lines are dropped and counted; the connection continues.
	MaxLineBytes int
	// MaxConns limits concurrent client connections; 0 means unlimited.
	// Connections over the limit are accepted and closed at once.
	MaxConns int
	// IdleTimeout closes a connection that sent nothing for this long; 0
	// means never.
	IdleTimeout time.Duration
	// LineTimeout closes a connection whose unfinished line has not ended
	// this long after it began (its bytes so far are dropped and counted as
	// truncated), so a client dribbling a never-ending line cannot hold its
	// partial line forever; 0 means never.
	LineTimeout time.Duration
	// MaxCarryBytes bounds the memory held at once, across connections,
	// by unfinished lines of 16 KiB or more (a connection's shorter partial
	// line is part of its fixed overhead). A line whose growth would go
	// over it is dropped and counted (reason carry_budget) and the rest of
	// it skipped; the connection goes on. 0 means no bound.
	MaxCarryBytes int64
	// MaxPending bounds the messages held (batched or in flight, not yet
	// acknowledged). When it is reached, readers stop reading. It must be
	// at least BatchSize and at most MaxPendingLimit.
	MaxPending int
	// MaxPendingBytes bounds the bytes of those messages (each counted with
	// its newline) the same way. It must exceed the largest batch a
	// configuration can make (see MaxBatchPayload) and be at most
	// MaxPendingBytesLimit.
	MaxPendingBytes int64
	// SinkConcurrency is the number of batches that may be in flight
	// (sent, not yet acknowledged) at once. The sink applies it (see
	// Policy): the TCP sink sends that many on one connection before their
	// acknowledgements, which come back in order, and a failure resends
	// the whole window in order, so any value keeps per-connection order; a
	// larger window hides the destination's round trip (one batch per
	// round trip at 1) at the cost of more batches resent after a failure.
	SinkConcurrency int
	// RetryBase is the first retry delay after a sink failure (for the TCP
	// sink, the reconnect delay); it doubles after each consecutive
	// failure, with jitter (Feed.Backoff).
	RetryBase time.Duration
	// RetryMax caps the retry delay.
	RetryMax time.Duration
	// SendTimeout bounds one attempt: connecting, or a batch's wait for its
	// acknowledgement.
	SendTimeout time.Duration
	// ShutdownTimeout bounds the wait for acknowledgements after the
	// relay's context is done.
	ShutdownTimeout time.Duration
	// Logger receives the relay's logs; nil discards them.
	Logger *slog.Logger
	// Clock is the source of time; nil means the wall clock.
	Clock Clock
}

// DefaultRELPWindow is the default of Config.RELPWindow.
const DefaultRELPWindow = 1024

// DefaultConfig returns the relay's defaults. Sink has no default: set it.
func DefaultConfig() Config {
	return Config{
		Listen:          "127.0.0.1:8080",
		Admin:           "127.0.0.1:6060",
		RELPWindow:      DefaultRELPWindow,
		BatchSize:       100,
		FlushInterval:   10 * time.Second,
		MaxLineBytes:    64 << 10,
		LineTimeout:     time.Minute,
		MaxCarryBytes:   64 << 20,
		MaxPending:      100_000,
		MaxPendingBytes: 256 << 20,
		SinkConcurrency: 8,
		RetryBase:       100 * time.Millisecond,
		RetryMax:        10 * time.Second,
		SendTimeout:     10 * time.Second,
		ShutdownTimeout: 30 * time.Second,
	}
}

// Upper limits of MaxPending and MaxPendingBytes: the pending count and
// bytes share one 64-bit word (see pendingLimit), with room above the
// limits for what shutdown admits unconditionally.
const (
	MaxPendingLimit      = 1 << 22 // messages
	MaxPendingBytesLimit = 1 << 38 // 256 GiB
)

// MaxBatchPayload returns the largest payload a batch can have under c:
// batch-size messages of max-line-bytes and their newlines, capped by
// BatchBytes (or the protocol's 64 MiB), but never less than one longest
// message, which makes a batch of its own when it exceeds the cap.
func (c *Config) MaxBatchPayload() int64 {
	line := int64(c.MaxLineBytes) + 1
	return max(min(int64(c.payloadCap()), int64(c.BatchSize)*line), line)
}

// payloadCap returns the payload size at which the batcher flushes:
// BatchBytes, or without it the largest payload a destination's
// wire.Reader accepts by default, so batch-size lines of max-line-bytes
// each never make a frame the destination must refuse.
func (c *Config) payloadCap() int {
	if c.BatchBytes == 0 {
		return wire.DefaultMaxPayload
	}
	return c.BatchBytes
}

// SoftMemoryLimit returns a Go runtime soft memory limit
// (runtime/debug.SetMemoryLimit) that suits c: MaxPendingBytes, half as
// much again for the slack of batch buffers and what the garbage collector
// has not yet reclaimed, and 64 MiB for the runtime, the read chunks in
// use and the connections. Without a limit the collector lets the heap
// grow to twice what is live, so the relay's resident memory follows
// GOGC rather than MaxPendingBytes. The relay command sets it unless told
// otherwise; a library user decides for its own process.
func (c *Config) SoftMemoryLimit() int64 {
	return c.MaxPendingBytes + c.MaxPendingBytes/2 + 64<<20
}

func (c *Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...)
	}
	switch {
	case c.Sink == nil:
		return bad("no sink")
	case c.Admin != "" && !c.AdminPublic && !isLoopback(c.Admin):
		return bad("admin address %q is not on loopback: it would serve pprof and metrics to the network "+
			"(use a loopback address, or allow it explicitly with --admin-public)", c.Admin)
	case c.RELPWindow < 0 || c.RELPWindow > 1<<16:
		return bad("relp window %d: want 0 (the default, %d) to %d", c.RELPWindow, DefaultRELPWindow, 1<<16)
	case c.BatchSize < 1:
		return bad("batch size %d: want at least 1", c.BatchSize)
	case c.FlushInterval <= 0:
		return bad("flush interval %v: want > 0", c.FlushInterval)
	case c.BatchBytes < 0 || c.BatchBytes > wire.DefaultMaxPayload:
		return bad("batch bytes %d: want 0..%d", c.BatchBytes, wire.DefaultMaxPayload)
	case c.MaxLineBytes < 1 || c.MaxLineBytes >= wire.DefaultMaxPayload:
		// a line and its newline must fit in one frame's payload
		return bad("max line bytes %d: want 1..%d", c.MaxLineBytes, wire.DefaultMaxPayload-1)
	case c.MaxConns < 0:
		return bad("max conns %d: want >= 0", c.MaxConns)
	case c.IdleTimeout < 0:
		return bad("idle timeout %v: want >= 0", c.IdleTimeout)
	case c.MaxCarryBytes < 0:
		return bad("max carry bytes %d: want >= 0", c.MaxCarryBytes)
	case c.LineTimeout < 0:
		return bad("line timeout %v: want >= 0", c.LineTimeout)
	case c.MaxPending < c.BatchSize || c.MaxPending > MaxPendingLimit:
		return bad("max pending %d: want at least the batch size %d, at most %d", c.MaxPending, c.BatchSize, MaxPendingLimit)
	case c.MaxPendingBytes <= c.MaxBatchPayload() || c.MaxPendingBytes > MaxPendingBytesLimit:
		return bad("max pending bytes %d: want more than the largest batch, %d bytes (batch-size × (max-line-bytes+1), "+
			"at most batch-bytes), and at most %d", c.MaxPendingBytes, c.MaxBatchPayload(), MaxPendingBytesLimit)
	case c.SinkConcurrency < 1:
		return bad("sink concurrency %d: want at least 1", c.SinkConcurrency)
	case c.RetryBase <= 0 || c.RetryMax < c.RetryBase:
		return bad("retry base %v, max %v: want 0 < base <= max", c.RetryBase, c.RetryMax)
	case c.SendTimeout <= 0:
		return bad("send timeout %v: want > 0", c.SendTimeout)
	case c.ShutdownTimeout < 0:
		return bad("shutdown timeout %v: want >= 0", c.ShutdownTimeout)
	}
	return nil
}

// isLoopback reports whether addr (host:port) listens on loopback only:
// its host is localhost or a loopback IP. An empty host means every
// interface; other names are not resolved and count as not loopback.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false // Listen will fail on it; not a loopback address either way
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
