package sut

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/logrelay/logrelay/internal/relay"
)

// ProcessRelay is a relay binary run as a child process: its admin
// address serves /metrics and pprof.
type ProcessRelay struct {
	cmd         *exec.Cmd
	bin         string
	addr, admin string
	maxPending  int
	stderr      *tailBuffer
	waitDone    chan struct{}
	waitErr     error
	once        sync.Once
	res         Shutdown
	client      *http.Client
}

func (h *ProcessRelay) Kind() Kind      { return Process }
func (h *ProcessRelay) Addr() string    { return h.addr }
func (h *ProcessRelay) PID() int        { return h.cmd.Process.Pid }
func (h *ProcessRelay) MaxPending() int { return h.maxPending }

// Stats scrapes the relay's /metrics.
func (h *ProcessRelay) Stats() (Stats, error) { return scrape(h.client, h.admin) }

// Stop sends SIGTERM and waits for the exit status; the relay's last log
// line ("relay stopped", JSON) gives its final received count.
func (h *ProcessRelay) Stop(ctx context.Context) Shutdown {
	h.once.Do(func() {
		start := time.Now()
		if err := h.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			h.res.Err = fmt.Errorf("SIGTERM: %w", err)
		}
		select {
		case <-h.waitDone:
		case <-ctx.Done():
			h.cmd.Process.Kill()
			<-h.waitDone
			h.res.Err = fmt.Errorf("relay did not exit after SIGTERM: killed: %w", ctx.Err())
		}
		h.res.Took = time.Since(start)
		h.res.Exited = h.res.Err == nil
		h.res.ExitCode = h.cmd.ProcessState.ExitCode()
		if h.waitErr != nil && h.res.Err == nil && h.res.ExitCode != 0 {
			h.res.Err = fmt.Errorf("exit status %d: %s", h.res.ExitCode, h.stderr.lastError())
		}
		h.res.Received, h.res.Counted = h.stderr.received()
	})
	return h.res
}

// kill ends the process without a graceful shutdown (cleanup on errors).
func (h *ProcessRelay) kill() {
	if h.cmd.Process != nil && h.cmd.ProcessState == nil {
		h.cmd.Process.Kill()
	}
}

// binary returns the relay binary: Bin, or ./relay built once into the
// Starter's temporary directory.
func (s *Starter) binary(ctx context.Context) (string, error) {
	if s.Bin != "" {
		return s.Bin, nil
	}
	s.binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "logrelay-bench-")
		if err != nil {
			s.binErr = err
			return
		}
		s.tmp = dir
		bin := filepath.Join(dir, "relay")
		root, err := moduleRoot()
		if err != nil {
			s.binErr = err
			return
		}
		if s.Notify != nil {
			s.Notify(fmt.Sprintf("building the relay: go build -o %s ./relay", bin))
		}
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./relay")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			s.binErr = fmt.Errorf("go build ./relay: %w: %s", err, bytes.TrimSpace(out))
			return
		}
		s.bin = bin
	})
	return s.bin, s.binErr
}

// moduleRoot finds the directory holding go.mod, from the working
// directory upwards.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory; give --relay-bin")
		}
		dir = parent
	}
}

// FreeAddr returns a loopback address with a port that was free a moment
// ago (for a child process that must be told its ports).
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (s *Starter) startProcess(ctx context.Context, c Config, rc relay.Config) (*ProcessRelay, error) {
	bin, err := s.binary(ctx)
	if err != nil {
		return nil, err
	}
	var last error
	for range 3 { // a "free" port may be taken in between: retry
		h, err := tryProcess(bin, c, rc)
		if err == nil {
			return h, nil
		}
		last = err
	}
	return nil, last
}

// tryProcess runs bin with rc's settings as flags and c's sink, and waits
// until it serves /metrics and accepts connections.
func tryProcess(bin string, c Config, rc relay.Config) (*ProcessRelay, error) {
	listen, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	admin, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	args := []string{"--listen", listen, "--admin", admin, "--sink", c.Sink,
		"--batch-size", strconv.Itoa(rc.BatchSize), "--flush-interval", rc.FlushInterval.String(),
		"--max-pending", strconv.Itoa(rc.MaxPending), "--send-timeout", rc.SendTimeout.String(),
		"--retry-base", rc.RetryBase.String(), "--retry-max", rc.RetryMax.String(),
		"--shutdown-timeout", rc.ShutdownTimeout.String(), "--log-format", "json", "--log-level", "info"}
	if c.Profile {
		args = append(args, "--mutex-profile-fraction", "100", "--block-profile-rate", "100000")
	}
	cmd := exec.Command(bin, args...)
	// If the bench dies, the relay goes with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	tb := &tailBuffer{}
	cmd.Stderr = tb
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start relay %s: %w", bin, err)
	}
	h := &ProcessRelay{cmd: cmd, bin: bin, addr: listen, admin: admin, maxPending: rc.MaxPending, stderr: tb, waitDone: make(chan struct{}),
		client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
	go func() { h.waitErr = cmd.Wait(); close(h.waitDone) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := h.Stats(); err == nil {
			if c, err := net.DialTimeout("tcp", listen, time.Second); err == nil {
				c.Close()
				return h, nil
			}
		}
		select {
		case <-h.waitDone:
			return nil, fmt.Errorf("relay exited at start: %s", tb.lastError())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			h.kill()
			<-h.waitDone
			return nil, fmt.Errorf("relay not ready after 10 s: %s", tb.lastError())
		}
	}
}

// tailBuffer keeps the last lines a child process wrote to stderr.
type tailBuffer struct {
	mu    sync.Mutex
	lines [][]byte
	part  []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.part = append(t.part, p...)
	for {
		i := bytes.IndexByte(t.part, '\n')
		if i < 0 {
			break
		}
		t.lines = append(t.lines, bytes.Clone(t.part[:i]))
		t.part = t.part[i+1:]
		if len(t.lines) > 200 {
			t.lines = t.lines[len(t.lines)-100:]
		}
	}
	if len(t.part) > 64<<10 {
		t.part = t.part[:0]
	}
	return len(p), nil
}

// received returns the "received" total of the relay's final log line.
func (t *tailBuffer) received() (uint64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := len(t.lines) - 1; i >= 0; i-- {
		var m struct {
			Msg      string  `json:"msg"`
			Received *uint64 `json:"received"`
		}
		if json.Unmarshal(t.lines[i], &m) == nil && m.Msg == "relay stopped" && m.Received != nil {
			return *m.Received, true
		}
	}
	return 0, false
}

// lastError returns the last log lines, for error messages.
func (t *tailBuffer) lastError() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var b bytes.Buffer
	for _, l := range t.lines[max(0, len(t.lines)-3):] {
		b.Write(l)
		b.WriteByte(' ')
	}
	return string(bytes.TrimSpace(b.Bytes()))
}
