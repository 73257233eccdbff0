// Command loadgen sends stamped log lines over many TCP connections on an
// exact open-loop schedule, with chaos disconnects and reconnects, and
// reports exactly what it sent. "loadgen merge a.hlog b.hlog..." merges the
// interval histogram logs of several loadgen processes; give processes that
// send to one receiver disjoint --stream-base ranges so that their streams
// stay apart.
package main

import (
	"context"
	"fmt"
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
	g, err := loadgen.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	rep, err := g.Run(ctx)
	stop()
	if rep != nil {
		_ = rep.WriteText(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}
