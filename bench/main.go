// Command bench runs logrelay's scenario suite — mockdest, the relay and
// loadgen, in one process by default — checks the batch-size and
// flush-interval rules under stress, prints a verdict table and writes the
// reports. It exits 0 only if every rule passed. "bench pipe --listen A
// --to B" runs the bare TCP pipe the throughput scenario compares against;
// "bench compare-sinks" runs the same workload through every sink.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/logrelay/logrelay/internal/bench"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "pipe" {
		os.Exit(runPipe(os.Args[2:], os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "compare-sinks" {
		os.Exit(runCompare(os.Args[2:], os.Stdout, os.Stderr))
	}
	cfg, list, err := parseFlags(os.Args[1:])
	if errors.Is(err, pflag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if list {
		fmt.Print(bench.List(cfg))
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	_, err = bench.Run(ctx, cfg)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, bench.ErrFailed):
		os.Exit(1)
	case errors.Is(err, bench.ErrConfig), errors.Is(err, bench.ErrUnknownScenario):
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
