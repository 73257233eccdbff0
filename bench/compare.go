package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/logrelay/logrelay/internal/bench"
	"github.com/logrelay/logrelay/internal/bench/compare"
	"github.com/logrelay/logrelay/internal/cli"
)

// runCompare runs "bench compare-sinks" and returns its exit code: 0 when
// every step ran without loss or duplicates (and after --help), 1 when one
// did not, 2 on a usage error.
func runCompare(args []string, stdout, stderr io.Writer) int {
	c, err := parseCompareFlags(args, stderr)
	if errors.Is(err, pflag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench compare-sinks:", err)
		return 2
	}
	c.Stdout, c.Progress, c.Command = stdout, stderr, os.Args
	if exe, err := os.Executable(); err == nil {
		c.PipeBin, c.PipeArgs = exe, []string{"pipe"}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	_, err = bench.CompareSinks(ctx, c)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, bench.ErrConfig):
		fmt.Fprintln(stderr, "bench compare-sinks:", err)
		return 2
	}
	fmt.Fprintln(stderr, "bench compare-sinks:", err)
	return 1
}

// parseCompareFlags turns "bench compare-sinks" flags (and BENCH_COMPARE_* variables) into a
// CompareConfig. After --help it returns pflag.ErrHelp, the usage printed.
func parseCompareFlags(args []string, stderr io.Writer) (bench.CompareConfig, error) {
	var c bench.CompareConfig
	fs := pflag.NewFlagSet("bench compare-sinks", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: bench compare-sinks [flags]\n\n"+
			"Runs the same workload through every sink row in one run, interleaved by replicate, and writes\n"+
			"compare.json, compare.md and compare.html. Rows:\n  %s\n\n%s",
			strings.Join(compare.RowNames(), "\n  "), fs.FlagUsages())
	}
	fs.StringSliceVar(&c.Rows, "rows", nil, "run only these rows, by name (comma-separated; default all)")
	fs.IntVar(&c.Messages, "messages", 500_000, "messages per step")
	fs.IntVar(&c.Conns, "conns", 4, "connections feeding each step")
	fs.IntVar(&c.Replicates, "replicates", 3, "steps per row, interleaved")
	fs.IntSliceVar(&c.BatchSizes, "batch-size", []int{100}, "the relay's batch size (and the ideal client's body size); several are swept (e.g. 100,1000)")
	fs.IntSliceVar(&c.Concurrencies, "sink-concurrency", []int{2}, "the relay's --sink-concurrency (and the ideal client's requests in flight); several are swept (e.g. 1,2,4)")
	fs.DurationVar(&c.FlushInterval, "flush-interval", 10e9, "the relay's flush interval")
	fs.StringVar(&c.RelayBin, "relay-bin", "", "relay binary (default: go build ./relay on the fly)")
	fs.StringVar(&c.Out, "out", "", "directory for compare.json/md/html (default bench-results/compare-<timestamp>)")
	logFlags := cli.AddLogFlags(fs, "error")
	if err := cli.Parse(fs, "BENCH_COMPARE", args); err != nil {
		return c, err
	}
	log, err := logFlags.Logger(stderr)
	if err != nil {
		return c, err
	}
	c.Logger = log
	return c, nil
}
