package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/loadgen"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseFlags(t *testing.T) {
	t.Setenv("LOADGEN_CONNS", "12")
	t.Setenv("LOADGEN_RATE", "5k")
	cfg, code := parseFlags([]string{"--addr", "127.0.0.1:9", "--rate-steps", "10k,50k", "--step-duration", "2s",
		"--duration", "3s", "--progress=false", "--rate", "1M"})
	if code != -1 {
		t.Fatalf("exit code %d want -1 (run)", code)
	}
	if cfg.Conns != 12 || cfg.Rate != 1e6 || len(cfg.RateSteps) != 2 || cfg.RateSteps[1] != 5e4 ||
		cfg.StepDuration != 2*time.Second || cfg.Progress != nil || cfg.Addr != "127.0.0.1:9" {
		t.Errorf("got %+v want conns 12 (env), rate 1M (flag beats env), steps [10k 50k]", cfg)
	}
	for _, rate := range []string{"fast", "5m"} {
		if _, code := parseFlags([]string{"--rate", rate}); code != 2 {
			t.Errorf("rate %q: exit code %d want 2", rate, code)
		}
	}
	t.Setenv("LOADGEN_STREAM_BASE", "5000")
	if cfg, code := parseFlags([]string{"--conns", "10"}); code != -1 || cfg.StreamBase != 5000 {
		t.Errorf("got exit code %d, stream base %d want -1 (run), 5000 (env)", code, cfg.StreamBase)
	}
	if cfg, _ := parseFlags([]string{"--stream-base", "7"}); cfg.StreamBase != 7 {
		t.Errorf("got stream base %d want 7 (flag beats env)", cfg.StreamBase)
	}
	for _, tc := range []struct {
		args []string
		want time.Duration
	}{{nil, loadgen.DefaultGiveUp}, {[]string{"--give-up", "5s"}, 5 * time.Second}, {[]string{"--give-up", "0"}, -1}} {
		if cfg, _ := parseFlags(tc.args); cfg.GiveUp != tc.want {
			t.Errorf("%q: give-up %v want %v (0 on the command line means never)", tc.args, cfg.GiveUp, tc.want)
		}
	}
	if _, code := parseFlags([]string{"extra"}); code != 2 {
		t.Errorf("extra argument: exit code %d want 2", code)
	}
}

// TestRunExitCode: a run that never connects exits 1 and says so; a run
// that delivers exits 0.
func TestRunExitCode(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln.Addr().String()
	ln.Close()
	ln = discardListener(t)
	for _, tc := range []struct {
		addr string
		want int
		says string
	}{{refused, 1, "never connected to " + refused}, {ln.Addr().String(), 0, ""}} {
		cfg, code := parseFlags([]string{"--addr", tc.addr, "--rate", "2k", "--duration", "200ms", "--progress=false",
			"--reconnect-base", "5ms", "--reconnect-max", "20ms"})
		if code != -1 {
			t.Fatalf("parseFlags: exit code %d want -1", code)
		}
		var stdout, stderr strings.Builder
		if code := run(context.Background(), cfg, &stdout, &stderr); code != tc.want ||
			!strings.Contains(stderr.String(), tc.says) || !strings.Contains(stdout.String(), "sent") {
			t.Errorf("%s: got exit code %d, stderr %q want %d, %q and the report on stdout", tc.addr, code, stderr.String(), tc.want, tc.says)
		}
	}
}

// discardListener accepts connections on loopback and discards what they
// send until the test ends.
func discardListener(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln
}

func TestMergeCommand(t *testing.T) {
	dir := t.TempDir()
	log := "#[Histogram log format version 1.3]\n#[StartTime: 1700000000 (seconds since epoch), 2023-11-14T22:13:20Z]\n"
	if err := os.WriteFile(filepath.Join(dir, "empty.hlog"), []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := merge([]string{filepath.Join(dir, "empty.hlog")}); code != 1 {
		t.Errorf("merging a log without histograms: exit code %d want 1", code)
	}
	if code := merge(nil); code != 2 {
		t.Errorf("no files: exit code %d want 2", code)
	}
	if code := merge([]string{filepath.Join(dir, "missing.hlog")}); code != 1 {
		t.Errorf("missing file: exit code %d want 1", code)
	}
}

// TestMergeRuns: two runs' .hlog files merge into hgrm files and a log.
func TestMergeRuns(t *testing.T) {
	ln := discardListener(t)
	dir := t.TempDir()
	var logs []string
	for i := range 2 {
		p := filepath.Join(dir, fmt.Sprintf("run%d.hlog", i))
		g, err := loadgen.New(loadgen.Config{Addr: ln.Addr().String(), Conns: 2, Rate: 2000, Count: 500, HlogPath: p})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		logs = append(logs, p)
	}
	out := filepath.Join(dir, "merged")
	if code := merge(append([]string{"--out", out, "--hlog", filepath.Join(dir, "all.hlog")}, logs...)); code != 0 {
		t.Fatalf("merge: exit code %d want 0", code)
	}
	for _, f := range []string{"merged/lag.hgrm", "merged/connect.hgrm", "all.hlog"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || len(b) == 0 {
			t.Errorf("%s: %v, %d bytes", f, err, len(b))
		}
	}
	b, _ := os.ReadFile(filepath.Join(out, "lag.hgrm"))
	if !regexp.MustCompile(`Total count\s*=\s*1000\]`).Match(b) {
		t.Errorf("lag.hgrm does not count both runs' 1000 messages:\n%s", b)
	}
}
