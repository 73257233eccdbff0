// Command relay receives newline-delimited log lines over TCP and forwards
// them in acknowledged batches of at most --batch-size messages, each
// flushed no later than --flush-interval after its oldest message arrived.
// It exits 0 after a clean shutdown, 1 when it failed or messages were
// left undelivered, and 2 for a bad flag, sink URL or configuration.
// SIGHUP makes a file sink reopen its file (after logrotate moved it).
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
	a, code := setup(os.Args[1:], os.Stderr)
	if a == nil {
		os.Exit(code)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	// The first signal starts the graceful shutdown; restoring the default
	// handling then lets a second one end the process at once.
	context.AfterFunc(ctx, stop)
	stopHangup := onHangup(a.sink)
	err := a.relay.Run(ctx)
	stop()
	stopHangup()
	if err != nil {
		if !errors.Is(err, relay.ErrUndelivered) { // else Serve's last line already says it all
			a.log.Error("relay failed", "error", err)
		}
		os.Exit(1)
	}
}

// reopener is a sink that reopens its file on request (the file sink).
type reopener interface{ Reopen() }

// onHangup makes SIGHUP call s.Reopen when s is a reopener (otherwise
// SIGHUP keeps its default action), until the returned stop is called.
func onHangup(s relay.Sink) (stop func()) {
	ro, ok := s.(reopener)
	if !ok {
		return func() {}
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range ch {
			ro.Reopen()
		}
	}()
	return func() { signal.Stop(ch); close(ch); <-done }
}
