package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/logrelay/logrelay/internal/bench/pipe"
)

// runPipe runs "bench pipe" and returns its exit code: 0 after --help, 2
// on a usage error.
func runPipe(args []string, stderr io.Writer) int {
	listen, to, err := parsePipeFlags(args, stderr)
	if errors.Is(err, pflag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench pipe:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := pipe.Run(ctx, listen, to); err != nil {
		fmt.Fprintln(stderr, "bench pipe:", err)
		return 1
	}
	return 0
}
