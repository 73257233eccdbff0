package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"

	"github.com/logrelay/logrelay/internal/cli"
	"github.com/logrelay/logrelay/internal/mockdest"
)

// parseFlags parses args (and the MOCKDEST_* environment) into a config.
// It returns the config and -1, or the exit code: 0 after --help, 2 for a
// bad flag (the reason is written to stderr).
func parseFlags(args []string, stderr io.Writer) (mockdest.Config, int) {
	c := mockdest.DefaultConfig()
	fs := pflag.NewFlagSet("mockdest", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Listen, "listen", c.Listen, "TCP address to receive batches on")
	fs.StringVar(&c.Mode, "mode", c.Mode, "frames (the relay's protocol, acknowledged), lines (plain newline-delimited TCP) or bulk (the Elasticsearch _bulk API over HTTP; with --bulk-flavour quickwit also Quickwit's ingest API)")
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
	fs.DurationVar(&c.FrameTimeout, "frame-timeout", c.FrameTimeout, "close a connection whose started frame has not arrived whole within this (idle between frames is fine)")
	fs.IntVar(&c.MaxLineBytes, "max-line-bytes", mockdest.DefaultMaxLineBytes, "lines mode: discard (and count) longer lines")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "stop after this long (0 = until SIGINT/SIGTERM)")
	fs.StringVar(&c.Report, "report", c.Report, "write the final JSON report to this file")
	fs.StringVar(&c.OutDir, "out", c.OutDir, "write .hgrm percentile files and CSV tables to this directory")
	fs.Int64Var(&c.Seed, "seed", c.Seed, "seed of the misbehaviour flags' random choices")
	addBulkFlags(fs, &c.Bulk)
	addQuickwitFlags(fs, &c.Bulk)
	logFlags := cli.AddLogFlags(fs, "info")
	err := cli.Parse(fs, "MOCKDEST", args)
	if errors.Is(err, pflag.ErrHelp) {
		return c, 0
	}
	if err == nil {
		c.Logger, err = logFlags.Logger(stderr)
	}
	if err != nil {
		fmt.Fprintln(stderr, "mockdest:", err)
		return c, 2
	}
	c.Bulk.Authorization = os.Getenv(bulkAuthEnv)
	return c, -1
}
