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
	relpAddr    string
	args        []string // the command line's flags: Restart reuses them
	maxPending  int
	stderr      *tailBuffer
	waitDone    chan struct{}
	waitErr     error
	once        sync.Once
	res         Shutdown
	client      *http.Client
}

func (h *ProcessRelay) Kind() Kind   { return Process }
func (h *ProcessRelay) Addr() string { return h.addr }

// RELPAddr is where the process listens for RELP.
func (h *ProcessRelay) RELPAddr() string { return h.relpAddr }
func (h *ProcessRelay) PID() int         { return h.cmd.Process.Pid }
func (h *ProcessRelay) MaxPending() int  { return h.maxPending }

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
	relpAddr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	args := []string{"--listen", listen, "--admin", admin, "--relp-listen", relpAddr, "--sink", c.Sink,
		"--batch-size", strconv.Itoa(rc.BatchSize), "--flush-interval", rc.FlushInterval.String(),
		"--max-pending", strconv.Itoa(rc.MaxPending), "--send-timeout", rc.SendTimeout.String(),
		"--retry-base", rc.RetryBase.String(), "--retry-max", rc.RetryMax.String(),
		"--shutdown-timeout", rc.ShutdownTimeout.String(), "--sink-concurrency", strconv.Itoa(rc.SinkConcurrency),
		"--log-format", "json", "--log-level", "info"}
	if c.Profile {
		args = append(args, "--mutex-profile-fraction", "100", "--block-profile-rate", "100000")
	}
	args = append(args, c.Args...)
	return launch(bin, args, listen, admin, relpAddr, rc.MaxPending, 10*time.Second)
}

// launch runs bin with args, whose ports are listen, admin and relpAddr,
// and waits up to ready until it serves /metrics and accepts connections.
func launch(bin string, args []string, listen, admin, relpAddr string, maxPending int, ready time.Duration) (*ProcessRelay, error) {
	cmd := exec.Command(bin, args...)
	// If the bench dies, the relay goes with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	tb := &tailBuffer{}
	cmd.Stderr = tb
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start relay %s: %w", bin, err)
	}
	h := &ProcessRelay{cmd: cmd, bin: bin, addr: listen, admin: admin, relpAddr: relpAddr, args: args, maxPending: maxPending, stderr: tb, waitDone: make(chan struct{}),
		client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
	go func() { h.waitErr = cmd.Wait(); close(h.waitDone) }()
	deadline := time.Now().Add(ready)
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
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			h.kill()
			<-h.waitDone
			return nil, fmt.Errorf("relay not ready after %s: %s", ready, tb.lastError())
		}
	}
}

// Kill ends the process with SIGKILL, by its PID, and waits for it: no
// flush, no answer to what it holds. Stop afterwards returns the kill's
// result (not exited cleanly).
func (h *ProcessRelay) Kill() {
	h.once.Do(func() {
		start := time.Now()
		if err := h.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			h.res.Err = fmt.Errorf("SIGKILL: %w", err)
		}
		<-h.waitDone
		h.res.Took = time.Since(start)
		h.res.ExitCode = h.cmd.ProcessState.ExitCode()
		if h.res.Err == nil {
			h.res.Err = ErrKilled
		}
	})
}

// Restart starts the relay again, after Kill or Stop, with the same
// binary and flags: the same listen, RELP and admin ports, so that its
// clients reconnect to the address they know. A port the old process's
// connections still hold is retried until ctx ends or 10 s pass.
func (h *ProcessRelay) Restart(ctx context.Context) (*ProcessRelay, error) {
	select {
	case <-h.waitDone:
	default:
		return nil, fmt.Errorf("restart: relay process %d is still running", h.PID())
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := launch(h.bin, h.args, h.addr, h.admin, h.relpAddr, h.maxPending, 10*time.Second)
		if err == nil {
			return n, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("restart on %s: %w", h.addr, err)
		}
		time.Sleep(50 * time.Millisecond)
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

// ProfileKinds are the profiles Profiles saves, besides the CPU profile.
var ProfileKinds = []string{"heap", "allocs", "goroutine", "mutex", "block"}

// Profile is a pprof profile saved to a file, with the command that opens it.
type Profile struct {
	Kind, Path, Command string
}

// CPUProfile saves a CPU profile of the relay over most of d (d − 0.5 s,
// at least 1 s) into dir/relay-cpu.pb.gz, with a copy of the relay binary
// next to it for pprof. It blocks for that long.
func (h *ProcessRelay) CPUProfile(ctx context.Context, dir string, d time.Duration) (Profile, error) {
	secs := max(1, int((d - 500*time.Millisecond).Seconds()))
	return h.saveProfile(ctx, dir, "cpu", fmt.Sprintf("profile?seconds=%d", secs), time.Duration(secs+10)*time.Second)
}

// Profiles saves the ProfileKinds into dir/relay-KIND.pb.gz and the
// relay's /metrics text into dir/relay-metrics.txt, with a copy of the
// relay binary. It returns the profiles it saved and the errors of the
// others.
func (h *ProcessRelay) Profiles(ctx context.Context, dir string) ([]Profile, error) {
	var ps []Profile
	var errs []error
	for _, k := range ProfileKinds {
		p, err := h.saveProfile(ctx, dir, k, k, 10*time.Second)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ps = append(ps, p)
	}
	errs = append(errs, h.saveMetrics(dir))
	return ps, errors.Join(errs...)
}

func (h *ProcessRelay) saveProfile(ctx context.Context, dir, kind, path string, timeout time.Duration) (Profile, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Profile{}, err
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, "http://"+h.admin+"/debug/pprof/"+path, nil)
	if err != nil {
		return Profile{}, err
	}
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		return Profile{}, fmt.Errorf("profile %s: %w", kind, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Profile{}, fmt.Errorf("profile %s: %s", kind, resp.Status)
	}
	file := filepath.Join(dir, "relay-"+kind+".pb.gz")
	f, err := os.Create(file)
	if err != nil {
		return Profile{}, err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return Profile{}, fmt.Errorf("profile %s: %w", kind, err)
	}
	if err := f.Close(); err != nil {
		return Profile{}, err
	}
	bin, err := h.keepBinary(dir)
	if err != nil {
		return Profile{}, err
	}
	return Profile{Kind: kind, Path: file, Command: fmt.Sprintf("go tool pprof -http=127.0.0.1:0 %s %s", bin, file)}, nil
}

// keepBinary copies the relay binary into dir once, so that the pprof
// commands work after the bench removed its build.
func (h *ProcessRelay) keepBinary(dir string) (string, error) {
	dst := filepath.Join(dir, "relay")
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	b, err := os.ReadFile(h.bin)
	if err != nil {
		return "", err
	}
	return dst, os.WriteFile(dst, b, 0o755)
}

// saveMetrics saves the relay's /metrics text into dir.
func (h *ProcessRelay) saveMetrics(dir string) error {
	resp, err := h.client.Get("http://" + h.admin + "/metrics")
	if err != nil {
		return fmt.Errorf("save /metrics: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("save /metrics: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, "relay-metrics.txt"), b, 0o644)
}
