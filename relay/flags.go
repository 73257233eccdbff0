package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"

	"github.com/logrelay/logrelay/internal/cli"
	"github.com/logrelay/logrelay/internal/relay"
	"github.com/logrelay/logrelay/internal/sink"
	"github.com/spf13/pflag"
)

// defaultSink is --sink's default.
const defaultSink = "tcp://127.0.0.1:9000"

// setup parses args (and the LOGRELAY_* environment), builds the sink
// and the relay, and sets the runtime's profiling rates. It returns the
// relay, its logger and -1, or a nil relay and the exit code: 0 after
// --help, 2 for a bad flag, sink URL or configuration (the reason is
// written to stderr).
func setup(args []string, stderr io.Writer) (*relay.Relay, *slog.Logger, int) {
	c := relay.DefaultConfig()
	fs := pflag.NewFlagSet("relay", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Listen, "listen", c.Listen, "TCP address clients send newline-delimited lines to")
	fs.StringVar(&c.RELPListen, "relp-listen", c.RELPListen, `TCP address RELP clients (rsyslog omrelp) send to; each message is answered only once delivered ("" = off)`)
	fs.IntVar(&c.RELPWindow, "relp-window", c.RELPWindow, "most unanswered messages per RELP session before the relay stops reading it (rounded up to a power of two)")
	fs.StringVar(&c.Admin, "admin", c.Admin, `admin HTTP address for /metrics, /debug/pprof/, /healthz ("" = none; must be on loopback unless --admin-public)`)
	fs.BoolVar(&c.AdminPublic, "admin-public", c.AdminPublic, "allow --admin on a non-loopback address: pprof and metrics are then open to the network (logged as a warning)")
	sinkURL := fs.String("sink", defaultSink, "destination, tcp://HOST:PORT, speaking the framed batch protocol")
	fs.IntVar(&c.BatchSize, "batch-size", c.BatchSize, "flush a batch when it holds this many messages (never more)")
	fs.DurationVar(&c.FlushInterval, "flush-interval", c.FlushInterval, "flush a batch when its oldest message has waited this long")
	fs.IntVar(&c.BatchBytes, "batch-bytes", c.BatchBytes, "also flush when a batch's payload reaches this many bytes (0 = the protocol's 64 MiB limit)")
	fs.IntVar(&c.MaxLineBytes, "max-line-bytes", c.MaxLineBytes, "drop (and count) lines longer than this")
	fs.IntVar(&c.MaxConns, "max-conns", c.MaxConns, "close new client connections beyond this many (0 = unlimited)")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", c.IdleTimeout, "close client connections silent for this long (0 = never)")
	fs.IntVar(&c.MaxPending, "max-pending", c.MaxPending, "messages held unacknowledged before reading stops (backpressure)")
	fs.Int64Var(&c.MaxPendingBytes, "max-pending-bytes", c.MaxPendingBytes, "bytes of those messages held before reading stops (must exceed the largest batch)")
	fs.IntVar(&c.SinkConcurrency, "sink-concurrency", c.SinkConcurrency, "batches in flight on the sink connection before their acknowledgements (order is kept at any value; 1 = one batch per round trip)")
	fs.DurationVar(&c.RetryBase, "retry-base", c.RetryBase, "first reconnect delay after a sink failure (doubles, with jitter)")
	fs.DurationVar(&c.RetryMax, "retry-max", c.RetryMax, "longest reconnect delay")
	fs.DurationVar(&c.SendTimeout, "send-timeout", c.SendTimeout, "per-attempt limit for connecting and for a batch's acknowledgement")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "on SIGINT/SIGTERM, how long stopping, the final flush and the wait for acknowledgements may take (a second signal exits at once)")
	logFlags := cli.AddLogFlags(fs, "info")
	mutexFrac := fs.Int("mutex-profile-fraction", 0, "runtime.SetMutexProfileFraction for /debug/pprof/mutex (0 = off)")
	blockRate := fs.Int("block-profile-rate", 0, "runtime.SetBlockProfileRate in ns for /debug/pprof/block (0 = off)")
	err := cli.Parse(fs, "LOGRELAY", args)
	if errors.Is(err, pflag.ErrHelp) {
		return nil, nil, 0
	}
	if err == nil {
		c.Logger, err = logFlags.Logger(stderr)
	}
	if err == nil {
		c.Sink, err = sink.FromURL(*sinkURL, sink.Options{})
	}
	var r *relay.Relay
	if err == nil {
		r, err = relay.New(c)
	}
	if err != nil {
		fmt.Fprintln(stderr, "relay:", err)
		return nil, nil, 2
	}
	runtime.SetMutexProfileFraction(*mutexFrac)
	runtime.SetBlockProfileRate(*blockRate)
	return r, c.Logger, -1
}
