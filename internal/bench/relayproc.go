package bench

import (
	"bufio"
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
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/logrelay/logrelay/internal/bench/procstat"
	"github.com/logrelay/logrelay/internal/relay"
	"github.com/logrelay/logrelay/internal/sink"
	"github.com/logrelay/logrelay/internal/wire"
)

// relayStats is what the bench reads from a relay while it runs.
type relayStats struct {
	ConnsOpen, Pending                                 int64
	ConnsTotal, Received, Delivered, Rejected, Retries uint64
	SinkErrors                                         uint64
	Batches                                            map[string]uint64
	Goroutines, FDs                                    int
}

// relayHandle is a relay under test: in this process, its own process, or
// an external one.
type relayHandle interface {
	Addr() string
	// Stats reads the relay's counters.
	Stats() (relayStats, error)
	// PID is the process to sample for CPU and RSS (this process for an
	// in-process relay; 0 = unknown).
	PID() int
	// Stop shuts the relay down gracefully and waits for it.
	Stop(ctx context.Context) shutdownResult
	Kind() string
}

type shutdownResult struct {
	Exited   bool
	ExitCode int
	Err      error
	Took     time.Duration
	Received uint64 // messages read, from the relay's own final count
	Counted  bool
}

// relayConfig is what a scenario asks of its relay.
type relayConfig struct {
	Sink            string // host:port of mockdest
	MaxPending      int
	SendTimeout     time.Duration
	ShutdownTimeout time.Duration
	Admin           bool // serve /metrics and pprof (process relays always do)
	Profile         bool // enable mutex and block profiling
}

func (e *env) relayCfg(rc relayConfig) (relay.Config, error) {
	c := relay.DefaultConfig()
	c.Listen = "127.0.0.1:0"
	c.Admin = ""
	var err error
	if c.Sink, err = sink.FromURL("tcp://"+rc.Sink, sink.Options{}); err != nil {
		return c, err
	}
	c.BatchSize = e.cfg.BatchSize
	c.FlushInterval = e.cfg.FlushInterval
	c.RetryBase = 20 * time.Millisecond
	c.RetryMax = 500 * time.Millisecond
	c.ShutdownTimeout = 20 * time.Second
	if rc.MaxPending > 0 {
		c.MaxPending = rc.MaxPending
	}
	if rc.SendTimeout > 0 {
		c.SendTimeout = rc.SendTimeout
	}
	if rc.ShutdownTimeout > 0 {
		c.ShutdownTimeout = rc.ShutdownTimeout
	}
	return c, nil
}

// startRelay starts the scenario's relay: external if configured, as a
// process if asked (or if every relay must be a process), else in-process.
func (e *env) startRelay(ctx context.Context, rc relayConfig, process bool) (relayHandle, relay.Config, error) {
	c, err := e.relayCfg(rc)
	if err != nil {
		return nil, c, err
	}
	switch {
	case e.cfg.RelayAddr != "":
		return &extRelay{addr: e.cfg.RelayAddr, admin: e.cfg.RelayAdmin, pid: e.cfg.RelayPID}, c, nil
	case process || e.cfg.RelayProcess:
		h, err := e.startRelayProcess(ctx, c, rc.Profile)
		return h, c, err
	}
	c.Logger = e.cfg.Logger.With("component", "relay")
	r, err := relay.New(c)
	if err != nil {
		return nil, c, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, c, err
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	h := &inRelay{r: r, cancel: cancel, done: make(chan error, 1), addr: ln.Addr().String()}
	go func() { h.done <- r.Serve(rctx, ln) }()
	select {
	case <-r.Ready():
	case err := <-h.done:
		cancel()
		return nil, c, fmt.Errorf("relay: %w", err)
	}
	return h, c, nil
}

// inRelay is a relay in the bench's process.
type inRelay struct {
	r      *relay.Relay
	cancel context.CancelFunc
	done   chan error
	addr   string
	once   sync.Once
	res    shutdownResult
}

func (h *inRelay) Addr() string { return h.addr }
func (h *inRelay) PID() int     { return os.Getpid() }
func (h *inRelay) Kind() string { return "in-process" }

func (h *inRelay) Stats() (relayStats, error) {
	s := h.r.Stats()
	rs := relayStats{ConnsOpen: s.ConnsOpen, Pending: s.Pending, ConnsTotal: s.ConnsTotal, Received: s.Received,
		Delivered: s.Delivered, Rejected: s.RejectedTotal(), Retries: s.Retries, SinkErrors: s.SinkErrors,
		Batches: map[string]uint64{}, Goroutines: runtime.NumGoroutine(), FDs: -1}
	for r, n := range s.Batches {
		rs.Batches[r.String()] = n
	}
	if ps, err := procstat.Read(0); err == nil {
		rs.FDs = ps.FDs
	}
	return rs, nil
}

// Stop cancels the relay's context (its graceful shutdown) and waits.
func (h *inRelay) Stop(ctx context.Context) shutdownResult {
	h.once.Do(func() {
		start := time.Now()
		h.cancel()
		select {
		case err := <-h.done:
			h.res = shutdownResult{Exited: true, Err: err, Took: time.Since(start)}
			if err != nil {
				h.res.ExitCode = 1
			}
			h.res.Received, h.res.Counted = h.r.Stats().Received, true
		case <-ctx.Done():
			h.res = shutdownResult{Err: fmt.Errorf("relay did not stop: %w", ctx.Err()), Took: time.Since(start)}
		}
	})
	return h.res
}

// procRelay is a relay binary run as a child process.
type procRelay struct {
	cmd         *exec.Cmd
	addr, admin string
	stderr      *tailBuffer
	waitDone    chan struct{}
	waitErr     error
	once        sync.Once
	res         shutdownResult
	client      *http.Client
}

func (h *procRelay) Addr() string { return h.addr }
func (h *procRelay) PID() int     { return h.cmd.Process.Pid }
func (h *procRelay) Kind() string { return "process" }

func (h *procRelay) Stats() (relayStats, error) { return scrape(h.client, h.admin) }

// Stop sends SIGTERM and waits for the exit status; the relay's last log
// line ("relay stopped", JSON) gives its final received count.
func (h *procRelay) Stop(ctx context.Context) shutdownResult {
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
func (h *procRelay) kill() {
	if h.cmd.Process != nil && h.cmd.ProcessState == nil {
		h.cmd.Process.Kill()
	}
}

// relayBinary returns the relay binary: --relay-bin, or ./relay built
// once into the bench's temporary directory.
func (e *env) relayBinary(ctx context.Context) (string, error) {
	if e.cfg.RelayBin != "" {
		return e.cfg.RelayBin, nil
	}
	e.binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "logrelay-bench-")
		if err != nil {
			e.binErr = err
			return
		}
		e.tmp = dir
		bin := filepath.Join(dir, "relay")
		root, err := moduleRoot()
		if err != nil {
			e.binErr = err
			return
		}
		e.prog.printf("building the relay: go build -o %s ./relay\n", bin)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./relay")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			e.binErr = fmt.Errorf("go build ./relay: %w: %s", err, bytes.TrimSpace(out))
			return
		}
		e.bin = bin
	})
	return e.bin, e.binErr
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

// freeAddr returns a loopback address with a port that was free a moment
// ago (for a child process that must be told its ports).
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (e *env) startRelayProcess(ctx context.Context, c relay.Config, profile bool) (*procRelay, error) {
	bin, err := e.relayBinary(ctx)
	if err != nil {
		return nil, err
	}
	var last error
	for range 3 { // a "free" port may be taken in between: retry
		h, err := e.tryRelayProcess(bin, c, profile)
		if err == nil {
			return h, nil
		}
		last = err
	}
	return nil, last
}

func (e *env) tryRelayProcess(bin string, c relay.Config, profile bool) (*procRelay, error) {
	listen, err := freeAddr()
	if err != nil {
		return nil, err
	}
	admin, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := []string{"--listen", listen, "--admin", admin, "--sink", c.Sink.String(),
		"--batch-size", strconv.Itoa(c.BatchSize), "--flush-interval", c.FlushInterval.String(),
		"--max-pending", strconv.Itoa(c.MaxPending), "--send-timeout", c.SendTimeout.String(),
		"--retry-base", c.RetryBase.String(), "--retry-max", c.RetryMax.String(),
		"--shutdown-timeout", c.ShutdownTimeout.String(), "--log-format", "json", "--log-level", "info"}
	if profile {
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
	h := &procRelay{cmd: cmd, addr: listen, admin: admin, stderr: tb, waitDone: make(chan struct{}),
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

// extRelay is a relay the bench did not start.
type extRelay struct {
	addr, admin string
	pid         int
}

func (h *extRelay) Addr() string { return h.addr }
func (h *extRelay) PID() int     { return h.pid }
func (h *extRelay) Kind() string { return "external" }

func (h *extRelay) Stats() (relayStats, error) {
	if h.admin == "" {
		return relayStats{}, errors.New("no --relay-admin: relay counters unavailable")
	}
	return scrape(&http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}, h.admin)
}

func (h *extRelay) Stop(ctx context.Context) shutdownResult {
	return shutdownResult{Err: fmt.Errorf("%w: cannot stop an external relay", ErrNotApplicable)}
}

// scrape reads the relay's Prometheus /metrics.
func scrape(c *http.Client, admin string) (relayStats, error) {
	resp, err := c.Get("http://" + admin + "/metrics")
	if err != nil {
		return relayStats{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return relayStats{}, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return parseMetrics(resp.Body)
}

// parseMetrics extracts the relay's counters from the Prometheus text
// format. A metric the bench needs that is absent is an error.
func parseMetrics(r io.Reader) (relayStats, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return relayStats{}, fmt.Errorf("parse /metrics: %w", err)
	}
	var missing []string
	sum := func(name string) float64 {
		f, ok := fams[name]
		if !ok {
			missing = append(missing, name)
			return 0
		}
		var v float64
		for _, m := range f.GetMetric() {
			switch {
			case m.Counter != nil:
				v += m.GetCounter().GetValue()
			case m.Gauge != nil:
				v += m.GetGauge().GetValue()
			case m.Untyped != nil:
				v += m.GetUntyped().GetValue()
			}
		}
		return v
	}
	s := relayStats{
		ConnsOpen:  int64(sum("logrelay_connections_open")),
		ConnsTotal: uint64(sum("logrelay_connections_total")),
		Received:   uint64(sum("logrelay_messages_received_total")),
		Delivered:  uint64(sum("logrelay_messages_delivered_total")),
		Rejected:   uint64(sum("logrelay_messages_rejected_total")),
		Pending:    int64(sum("logrelay_pending_messages")),
		Retries:    uint64(sum("logrelay_sink_retries_total")),
		SinkErrors: uint64(sum("logrelay_sink_errors_total")),
		Goroutines: int(sum("go_goroutines")),
		FDs:        int(sum("process_open_fds")),
		Batches:    map[string]uint64{},
	}
	if f, ok := fams["logrelay_batches_flushed_total"]; ok {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" {
					s.Batches[l.GetValue()] += uint64(m.GetCounter().GetValue())
				}
			}
		}
	} else {
		missing = append(missing, "logrelay_batches_flushed_total")
	}
	if len(missing) > 0 {
		return s, fmt.Errorf("/metrics lacks %v", missing)
	}
	return s, nil
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

// sendStamped writes n stamped messages of stream, seqs from..from+n-1, on
// one new connection and closes it gracefully.
func sendStamped(ctx context.Context, addr string, stream uint32, from uint64, n, size int) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	w := bufio.NewWriterSize(c, 64<<10)
	line := make([]byte, max(size, wire.StampLen+8))
	copy(line, "probe ")
	for i := range line[6:] {
		line[6+i] = 'x'
	}
	line[len(line)-1] = '\n'
	now := time.Now().UnixNano()
	for i := range n {
		wire.PutStamp(line[6:], wire.Stamp{Stream: stream, Seq: from + uint64(i), SentNs: now})
		if _, err := w.Write(line); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return c.(*net.TCPConn).CloseWrite()
}
