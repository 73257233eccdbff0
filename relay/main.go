// Command relay receives newline-delimited log lines over TCP and forwards
// them in acknowledged batches of at most --batch-size messages, each
// flushed no later than --flush-interval after its oldest message arrived.
// It exits 0 after a clean shutdown, 1 when it failed or messages were
// left undelivered, and 2 for a bad flag, sink URL or configuration.
package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/logrelay/logrelay/internal/relay"
)

func main() {
	r, log, code := setup(os.Args[1:], os.Stderr)
	if r == nil {
		os.Exit(code)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	// The first signal starts the graceful shutdown; restoring the default
	// handling then lets a second one end the process at once.
	context.AfterFunc(ctx, stop)
	err := r.Run(ctx)
	stop()
	if err != nil {
		if !errors.Is(err, relay.ErrUndelivered) { // else Serve's last line already says it all
			log.Error("relay failed", "error", err)
		}
		os.Exit(1)
	}
}
