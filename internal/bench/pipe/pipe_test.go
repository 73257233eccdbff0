package pipe

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// target listens on 127.0.0.1 and sends on got all that its first
// connection carries (nil if none came); it is closed when t ends.
func target(t *testing.T) (net.Listener, <-chan []byte) {
	t.Helper()
	dst, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dst.Close() })
	got := make(chan []byte, 1)
	go func() {
		c, err := dst.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		got <- b
	}()
	return dst, got
}

func TestPipeCopiesAndCloses(t *testing.T) {
	t.Parallel()
	dst, got := target(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, dst.Addr().String()) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte("line of text\n"), 10000)
	if _, err := c.Write(want); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	if b := <-got; !bytes.Equal(b, want) {
		t.Errorf("target got %d bytes, want %d", len(b), len(want))
	}
	c.Close()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

func TestRunNeedsAddresses(t *testing.T) {
	t.Parallel()
	if err := Run(context.Background(), "", "x"); err == nil {
		t.Error("Run without listen: nil error")
	}
}

// TestStartInProcess: a started pipe copies to its target, and Stop ends
// it; a process pipe whose binary cannot start is an error.
func TestStartInProcess(t *testing.T) {
	t.Parallel()
	dst, got := target(t)
	p, err := Start(context.Background(), Config{Target: dst.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	if p.PID != 0 {
		t.Errorf("in-process pipe: PID %d want 0", p.PID)
	}
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("through the started pipe\n"))
	c.(*net.TCPConn).CloseWrite()
	if b := <-got; !bytes.Equal(b, []byte("through the started pipe\n")) {
		t.Errorf("got %q", b)
	}
	c.Close()
	p.Stop()
	if _, err := Start(context.Background(), Config{Target: "127.0.0.1:1", Bin: "/nonexistent/bench", Listen: "127.0.0.1:1"}); err == nil {
		t.Error("process pipe with a missing binary: nil error")
	}
}
