// Command loadgen sends stamped log lines over many TCP connections on an
// exact open-loop schedule, with chaos disconnects and reconnects, and
// reports exactly what it sent. "loadgen merge a.hlog b.hlog..." merges the
// interval histogram logs of several loadgen processes; give processes that
// send to one receiver disjoint --stream-base ranges so that their streams
// stay apart.
//
// loadgen exits 0 when the run completed; 1 when it never connected or
// sent nothing although messages fell due, when it was interrupted before it
// completed, or when a report could not be written; 2 on a usage or
// configuration error. "loadgen merge" exits 0, 1 when a log cannot be read
// or holds no histogram, or 2 on a usage error.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/logrelay/logrelay/internal/loadgen"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "merge" {
		os.Exit(merge(os.Args[2:]))
	}
	cfg, code := parseFlags(os.Args[1:])
	if code >= 0 {
		os.Exit(code)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code = run(ctx, cfg, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs one generation, prints its report on stdout and any error on
// stderr, and returns the exit code.
func run(ctx context.Context, cfg loadgen.Config, stdout, stderr io.Writer) int {
	g, err := loadgen.New(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 2
	}
	rep, err := g.Run(ctx)
	if rep != nil {
		_ = rep.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 1
	}
	return 0
}
