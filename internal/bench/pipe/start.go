package pipe

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"time"
)

// Config says where a started pipe runs.
type Config struct {
	// Target is where the pipe copies each connection to.
	Target string
	// Bin, if set, runs the pipe as its own process: Bin Args... --listen
	// Listen --to Target (the bench main re-executes itself as "bench pipe
	// --listen ADDR --to TARGET"); "" = in this process.
	Bin  string
	Args []string
	// Listen is the process's listen address (required with Bin; pick one
	// free on 127.0.0.1). An in-process pipe listens on 127.0.0.1:0.
	Listen string
}

// Running is a pipe started by Start.
type Running struct {
	// Addr is where the pipe listens.
	Addr string
	// PID is its process (0 = in this process).
	PID  int
	stop func()
}

// Stop stops the pipe and waits for it.
func (r *Running) Stop() { r.stop() }

// Start starts a pipe for c and returns once it accepts connections. It
// runs until Stop, also after ctx ends.
func Start(ctx context.Context, c Config) (*Running, error) {
	if c.Bin == "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		go func() { Serve(pctx, ln, c.Target); close(done) }()
		return &Running{Addr: ln.Addr().String(), stop: func() { cancel(); <-done }}, nil
	}
	cmd := exec.Command(c.Bin, append(slices.Clone(c.Args), "--listen", c.Listen, "--to", c.Target)...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start pipe: %w", err)
	}
	stop := func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }
	for i := 0; ; i++ {
		conn, err := net.DialTimeout("tcp", c.Listen, time.Second)
		if err == nil {
			conn.Close()
			break
		}
		if i == 100 {
			stop()
			return nil, fmt.Errorf("pipe not ready: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &Running{Addr: c.Listen, PID: cmd.Process.Pid, stop: stop}, nil
}
