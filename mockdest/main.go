// Command mockdest is the measuring destination: it receives the relay's
// framed batches (or plain lines), acknowledges them, records batch sizes,
// batch ages, latencies and per-stream loss, and can misbehave on purpose.
// It prints a report on SIGINT/SIGTERM or after --duration and exits 1
// when --expect or --max-batch fails, or (with no report) when it cannot
// listen.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/logrelay/logrelay/internal/cli"
	"github.com/logrelay/logrelay/internal/mockdest"
)

func main() {
	c := mockdest.DefaultConfig()
	fs := pflag.NewFlagSet("mockdest", pflag.ContinueOnError)
	fs.StringVar(&c.Listen, "listen", c.Listen, "TCP address to receive batches on")
	fs.StringVar(&c.Mode, "mode", c.Mode, "frames (the relay's protocol, acknowledged), lines (plain newline-delimited TCP) or bulk (the Elasticsearch _bulk API over HTTP)")
	fs.StringVar(&c.Admin, "admin", c.Admin, `admin HTTP address serving /stats JSON ("" = none)`)
	fs.IntVar(&c.MaxBatch, "max-batch", c.MaxBatch, "fail (exit 1) if any batch holds more messages (0 = off)")
	fs.Int64Var(&c.Expect, "expect", c.Expect, "fail (exit 1) unless exactly N distinct stamped messages arrived with no gaps (0 = off)")
	fs.DurationVar(&c.AckDelay, "ack-delay", c.AckDelay, "delay every acknowledgement by this much")
	fs.DurationVar(&c.AckJitter, "ack-jitter", c.AckJitter, "add a random delay in [0, jitter) to every acknowledgement")
	fs.Float64Var(&c.NackRate, "nack-rate", c.NackRate, "fraction of batches to negatively acknowledge (not recorded)")
	fs.Float64Var(&c.NoAckRate, "no-ack-rate", c.NoAckRate, "fraction of batches recorded but never acknowledged (the connection then goes silent)")
	fs.Float64Var(&c.CloseRate, "close-rate", c.CloseRate, "fraction of batches on which to close the connection (batch not recorded)")
	fs.DurationVar(&c.DownFor, "down-for", c.DownFor, "go down (close and refuse connections) for this long ...")
	fs.DurationVar(&c.DownEvery, "down-every", c.DownEvery, "... at the end of every period of this length")
	fs.Int64Var(&c.ReadBytesPerSec, "read-bps", c.ReadBytesPerSec, "cap the aggregate read bandwidth in bytes/s (0 = unlimited)")
	fs.IntVar(&c.MaxLineBytes, "max-line-bytes", mockdest.DefaultMaxLineBytes, "lines mode: discard (and count) longer lines")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "stop after this long (0 = until SIGINT/SIGTERM)")
	fs.StringVar(&c.Report, "report", c.Report, "write the final JSON report to this file")
	fs.StringVar(&c.OutDir, "out", c.OutDir, "write .hgrm percentile files and CSV tables to this directory")
	fs.Int64Var(&c.Seed, "seed", c.Seed, "seed of the misbehaviour flags' random choices")
	addBulkFlags(fs, &c.Bulk)
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	format := fs.String("log-format", "text", "log format: text or json")
	err := cli.Parse(fs, "MOCKDEST", os.Args[1:])
	if errors.Is(err, pflag.ErrHelp) {
		os.Exit(0)
	}
	if err == nil {
		c.Logger, err = cli.NewLogger(*level, *format, os.Stderr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mockdest:", err)
		os.Exit(2)
	}
	c.Bulk.Authorization = os.Getenv(bulkAuthEnv)
	s, err := mockdest.New(c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mockdest:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err = s.Run(ctx)
	stop()
	if errors.Is(err, mockdest.ErrListen) {
		fmt.Fprintln(os.Stderr, "mockdest:", err) // nothing was served: no report
		os.Exit(1)
	}
	snap := s.Snapshot()
	_ = snap.WriteText(os.Stdout)
	if err == nil {
		err = s.Check()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mockdest:", err)
		os.Exit(1)
	}
}
