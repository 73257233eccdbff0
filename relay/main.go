// Command relay receives newline-delimited log lines over TCP and forwards
// them in acknowledged batches of at most --batch-size messages, each
// flushed no later than --flush-interval after its oldest message arrived.
package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/logrelay/logrelay/internal/cli"
	"github.com/logrelay/logrelay/internal/relay"
	"github.com/spf13/pflag"
)

func main() {
	c := relay.DefaultConfig()
	fs := pflag.NewFlagSet("relay", pflag.ContinueOnError)
	fs.StringVar(&c.Listen, "listen", c.Listen, "TCP address clients send newline-delimited lines to")
	fs.StringVar(&c.Admin, "admin", c.Admin, `admin HTTP address for /metrics, /debug/pprof/, /healthz ("" = none; keep it on loopback)`)
	fs.StringVar(&c.Sink, "sink", c.Sink, "destination, tcp://HOST:PORT, speaking the framed batch protocol")
	fs.IntVar(&c.BatchSize, "batch-size", c.BatchSize, "flush a batch when it holds this many messages (never more)")
	fs.DurationVar(&c.FlushInterval, "flush-interval", c.FlushInterval, "flush a batch when its oldest message has waited this long")
	fs.IntVar(&c.BatchBytes, "batch-bytes", c.BatchBytes, "also flush when a batch's payload reaches this many bytes (0 = the protocol's 64 MiB limit)")
	fs.IntVar(&c.MaxLineBytes, "max-line-bytes", c.MaxLineBytes, "drop (and count) lines longer than this")
	fs.IntVar(&c.MaxConns, "max-conns", c.MaxConns, "close new client connections beyond this many (0 = unlimited)")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", c.IdleTimeout, "close client connections silent for this long (0 = never)")
	fs.DurationVar(&c.LineTimeout, "line-timeout", c.LineTimeout, "close client connections whose unfinished line has not ended this long after it began (0 = never)")
	fs.Int64Var(&c.MaxCarryBytes, "max-carry-bytes", c.MaxCarryBytes, "bytes of unfinished lines of 16 KiB or more held at once, all connections (over it a line is dropped and counted; 0 = no bound)")
	fs.IntVar(&c.MaxPending, "max-pending", c.MaxPending, "messages held unacknowledged before reading stops (backpressure)")
	fs.Int64Var(&c.MaxPendingBytes, "max-pending-bytes", c.MaxPendingBytes, "bytes of those messages held before reading stops (must exceed the largest batch)")
	fs.IntVar(&c.SinkConcurrency, "sink-concurrency", c.SinkConcurrency, "batches in flight on the sink connection before their acknowledgements (order is kept at any value; 1 = one batch per round trip)")
	fs.DurationVar(&c.RetryBase, "retry-base", c.RetryBase, "first reconnect delay after a sink failure (doubles, with jitter)")
	fs.DurationVar(&c.RetryMax, "retry-max", c.RetryMax, "longest reconnect delay")
	fs.DurationVar(&c.SendTimeout, "send-timeout", c.SendTimeout, "per-attempt limit for connecting and for a batch's acknowledgement")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "on SIGINT/SIGTERM, how long stopping, the final flush and the wait for acknowledgements may take (a second signal exits at once)")
	memLimit := fs.Int64("memory-limit", 0, "Go soft memory limit in bytes (0 = 1.5 × --max-pending-bytes + 64 MiB unless GOMEMLIMIT is set; -1 = the runtime's own)")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	format := fs.String("log-format", "text", "log format: text or json")
	mutexFrac := fs.Int("mutex-profile-fraction", 0, "runtime.SetMutexProfileFraction for /debug/pprof/mutex (0 = off)")
	blockRate := fs.Int("block-profile-rate", 0, "runtime.SetBlockProfileRate in ns for /debug/pprof/block (0 = off)")
	if err := cli.Parse(fs, "LOGRELAY", os.Args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "relay:", err)
		os.Exit(2)
	}
	log, err := cli.NewLogger(*level, *format, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		os.Exit(2)
	}
	runtime.SetMutexProfileFraction(*mutexFrac)
	runtime.SetBlockProfileRate(*blockRate)
	c.Logger = log
	if *memLimit > 0 || *memLimit == 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(cmp.Or(*memLimit, c.SoftMemoryLimit()))
	}
	r, err := relay.New(c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	// The first signal starts the graceful shutdown; restoring the default
	// handling then lets a second one end the process at once.
	context.AfterFunc(ctx, stop)
	err = r.Run(ctx)
	stop()
	if err != nil {
		if !errors.Is(err, relay.ErrUndelivered) { // else Serve's last line already says it all
			log.Error("relay failed", "error", err)
		}
		os.Exit(1)
	}
}
