// Package inproc runs a server of the bench's own process — a relay, a
// mockdest — in a goroutine, from the moment it is ready until it is
// stopped.
package inproc

import (
	"context"
	"fmt"
	"net"
)

// Server is what inproc runs: relay.Relay and mockdest.Server.
type Server interface {
	// Serve serves ln until ctx is done.
	Serve(ctx context.Context, ln net.Listener) error
	// Ready is closed once Serve accepts connections.
	Ready() <-chan struct{}
}

// Running is a Server serving in its own goroutine.
type Running struct {
	cancel context.CancelFunc
	done   chan error
	err    error
	ended  bool
}

// Serve runs srv.Serve(ln) in a goroutine, under a context that ends only
// with Stop (not with ctx, whose values it keeps), and returns once srv is
// ready, or Serve's error if it returned first.
func Serve(ctx context.Context, srv Server, ln net.Listener) (*Running, error) {
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &Running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- srv.Serve(sctx, ln) }()
	select {
	case <-srv.Ready():
		return r, nil
	case err := <-r.done:
		cancel()
		return nil, fmt.Errorf("serve %s: %w", ln.Addr(), err)
	}
}

// Stop cancels Serve's context and waits until Serve returns or ctx ends;
// returned reports whether it returned, err is what it returned. Once
// Serve has returned, Stop returns the same again. Stop is not safe for
// concurrent use.
func (r *Running) Stop(ctx context.Context) (returned bool, err error) {
	if r.ended {
		return true, r.err
	}
	r.cancel()
	select {
	case r.err = <-r.done:
		r.ended = true
		return true, r.err
	case <-ctx.Done():
		return false, nil
	}
}
