// Command mockdest is the measuring destination: it receives the relay's
// framed batches (or plain lines), acknowledges them, records batch sizes,
// batch ages, latencies and per-stream loss, and can misbehave on purpose.
// It prints a report on SIGINT/SIGTERM or after --duration and exits 1
// when --expect or --max-batch fails, or (with no report) when it cannot
// listen; it exits 2 for a bad flag or configuration.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/logrelay/logrelay/internal/mockdest"
)

func main() {
	c, code := parseFlags(os.Args[1:], os.Stderr)
	if code >= 0 {
		os.Exit(code)
	}
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
