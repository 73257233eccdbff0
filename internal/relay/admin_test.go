package relay

import (
	"bufio"
	"bytes"
	"context"

	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// logBuffer collects a logger's output; safe for concurrent writes.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func jsonLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }

// TestAdminPublic: a non-loopback admin address needs AdminPublic (see
// TestNewRejectsBadConfig), and with it the relay serves and warns.
func TestAdminPublic(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	cfg := testConfig("127.0.0.1:1")
	cfg.Admin, cfg.AdminPublic, cfg.Logger = "0.0.0.0:0", true, jsonLogger(&logs)
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	<-r.Ready()
	_, port, _ := net.SplitHostPort(r.AdminAddr().String())
	resp, err := http.Get("http://127.0.0.1:" + port + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := logs.String(); !strings.Contains(got, `"level":"WARN","msg":"admin listener is not on loopback`) {
		t.Errorf("logs %q: want the warning about a public admin listener", got)
	}
}

// flakyListener fails its first Accept with a temporary error.
type flakyListener struct {
	net.Listener
	failed atomic.Bool
}

type tempError struct{}

func (tempError) Error() string   { return "accept: too many open files" }
func (tempError) Temporary() bool { return true }
func (tempError) Timeout() bool   { return false }

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.failed.CompareAndSwap(false, true) {
		return nil, tempError{}
	}
	return l.Listener.Accept()
}

func newAdminRelay(t *testing.T, logs io.Writer) *Relay {
	t.Helper()
	cfg := testConfig("127.0.0.1:1")
	cfg.Logger = jsonLogger(logs)
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func listenLocal(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// TestAdminErrorLog: the admin server's own errors go through the relay's
// logger (so --log-format json stays JSON), not to the standard logger.
func TestAdminErrorLog(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	r := newAdminRelay(t, &logs)
	ln := &flakyListener{Listener: listenLocal(t)}
	stop := r.serveAdmin(ln)
	waitFor(t, "the admin server's accept error in the relay's log", func() bool {
		return strings.Contains(logs.String(), "Accept error")
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(logs.String()) {
		if !strings.HasPrefix(line, "{") || !strings.Contains(line, `"component":"admin"`) {
			t.Errorf("log line %q: want JSON from component admin", line)
		}
	}
}

// TestAdminTimeouts: the admin server closes a keep-alive connection that
// stays idle, and one that never finishes its request header.
func TestAdminTimeouts(t *testing.T) {
	t.Parallel()
	r := newAdminRelay(t, io.Discard)
	r.admTime = adminTimeouts{readHeader: 100 * time.Millisecond, idle: 100 * time.Millisecond}
	ln := listenLocal(t)
	stop := r.serveAdmin(ln)
	defer stop()
	for _, tc := range []struct {
		name, request string
		response      bool
	}{
		{"idle keep-alive", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", true},
		{"unfinished header", "GET /healthz HTTP/1.1\r\nHost: x\r\n", false},
	} {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, tc.request); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		if tc.response {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		start := time.Now()
		_, err = io.Copy(io.Discard, br) // until the server closes
		if err != nil || time.Since(start) > 3*time.Second {
			t.Errorf("%s: got %v after %v want the server to close the connection within ~100ms",
				tc.name, err, time.Since(start).Round(time.Millisecond))
		}
	}
}

// alwaysTemporary fails every Accept with a temporary error until closed.
type alwaysTemporary struct {
	calls  atomic.Int64
	closed chan struct{}
	once   sync.Once
}

func (l *alwaysTemporary) Accept() (net.Conn, error) {
	select {
	case <-l.closed:
		return nil, net.ErrClosed
	default:
	}
	l.calls.Add(1)
	return nil, tempError{}
}

func (l *alwaysTemporary) Close() error   { l.once.Do(func() { close(l.closed) }); return nil }
func (l *alwaysTemporary) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// TestAcceptBackoffInterruptible: while the accept loop backs off (here
// at its longest, 1 s, on a clock that does not move), shutdown ends the
// wait at once.
func TestAcceptBackoffInterruptible(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	cfg := testConfig("127.0.0.1:1")
	cfg.Clock = clock
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln := &alwaysTemporary{closed: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx, ln) }()
	<-r.Ready()
	// Delays 5ms, 10ms, … reach the 1 s cap by the 9th failure.
	waitFor(t, "ten failed accepts", func() bool {
		clock.Advance(time.Second)
		return ln.calls.Load() >= 10
	})
	calls := ln.calls.Load()
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve still waiting for the accept backoff 5 s after shutdown started")
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("shutdown took %v with the accept loop backing off: want it interrupted", took)
	}
	if got := ln.calls.Load(); got > calls+1 {
		t.Errorf("%d accepts after shutdown started", got-calls)
	}
}
