// Package pipe provides a bare TCP pipe: every accepted connection is
// copied byte for byte to a new connection to the target (io.Copy, which
// Linux splices). It is the ceiling the bench compares relays against.
package pipe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// Serve accepts connections on ln until ctx is done, piping each to
// target. It closes ln and every open connection before returning nil.
func Serve(ctx context.Context, ln net.Listener, target string) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	open := make(map[net.Conn]struct{})
	track := func(c net.Conn, add bool) {
		mu.Lock()
		defer mu.Unlock()
		if add {
			open[c] = struct{}{}
		} else {
			delete(open, c)
		}
	}
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for c := range open {
			c.Close()
		}
	})
	defer stop()
	var err error
	for {
		c, aerr := ln.Accept()
		if aerr != nil {
			if ctx.Err() == nil {
				err = fmt.Errorf("pipe: accept: %w", aerr)
			}
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			track(c, true)
			defer track(c, false)
			defer c.Close()
			var d net.Dialer
			t, err := d.DialContext(ctx, "tcp", target)
			if err != nil {
				return
			}
			track(t, true)
			defer track(t, false)
			defer t.Close()
			done := make(chan struct{})
			go func() { // target → client (acks, if any): keeps the pipe symmetric
				defer close(done)
				io.Copy(c, t)
			}()
			io.Copy(t, c)
			if tc, ok := t.(*net.TCPConn); ok {
				tc.CloseWrite()
			}
			<-done
		}()
	}
	ln.Close()
	mu.Lock()
	for c := range open {
		c.Close()
	}
	mu.Unlock()
	wg.Wait()
	return err
}

// Run listens on listen and serves until ctx is done.
func Run(ctx context.Context, listen, target string) error {
	if listen == "" || target == "" {
		return errors.New("pipe: need a listen and a target address")
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("pipe: %w", err)
	}
	return Serve(ctx, ln, target)
}
