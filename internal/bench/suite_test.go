package bench

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/bench/report"
	"github.com/logrelay/logrelay/internal/bench/scenario"
)

func TestSelectAndConfig(t *testing.T) {
	t.Parallel()
	if _, err := Select([]string{"size", "nope"}); err == nil {
		t.Error("unknown scenario: nil error")
	}
	scs, err := Select([]string{"throughput", "size"})
	if err != nil || len(scs) != 2 || scs[0].Name != "size" {
		t.Errorf("Select: got %v, %v want size then throughput", scs, err)
	}
	all, _ := Select(nil)
	if slices.ContainsFunc(all, func(s *scenario.Scenario) bool { return s.OptIn }) || len(all) == 0 {
		t.Errorf("the default suite holds an opt-in scenario: %d scenarios", len(all))
	}
	if scs, err := Select([]string{"victorialogs"}); err != nil || len(scs) != 1 || !scs[0].OptIn {
		t.Errorf("Select victorialogs: got %v, %v want the opt-in scenario", scs, err)
	}
	for _, in := range []string{"name=x,addr=a", "name=x,addr=a,dest=b,pid=-1", "name=x,addr=a,dest=b,color=red", "junk"} {
		if _, err := ParsePeer(in); err == nil {
			t.Errorf("ParsePeer(%q): nil error", in)
		}
	}
	p, err := ParsePeer("name=rsyslog,addr=127.0.0.1:1,dest=127.0.0.1:2,pid=7,mode=lines")
	if err != nil || p.PID != 7 || p.DestMode != "lines" {
		t.Errorf("ParsePeer: got %+v, %v", p, err)
	}
}

// TestRunExternalNilProgress: an embedder may leave Progress (and Stdout,
// Logger) nil, also with an external relay and the whole suite, where Run
// says on Progress that the shutdown and restart scenarios are left out.
func TestRunExternalNilProgress(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.RelayAddr, cfg.DestAddr = "127.0.0.1:1", "127.0.0.1:2"
	cfg.Out = t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no scenario starts: each is recorded as not run
	suite, err := Run(ctx, cfg)
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("Run: got %v want ErrFailed (no scenario ran)", err)
	}
	for _, n := range []string{"shutdown", "relp-restart", "relp-restart-bulk"} {
		if suite.Scenario(n) != nil {
			t.Errorf("external relay: the %s scenario ran", n)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*Config)
		ok   bool
	}{
		{"defaults", func(*Config) {}, true},
		{"external relay without dest addr", func(c *Config) { c.RelayAddr = "127.0.0.1:1" }, false},
		{"external relay", func(c *Config) { c.RelayAddr, c.DestAddr = "127.0.0.1:1", "127.0.0.1:2" }, true},
		{"bad dest mode", func(c *Config) { c.DestMode = "json" }, false},
		// Our own relay sends frames: a lines-mode mockdest would misread them.
		{"lines mode for our relay", func(c *Config) { c.DestMode = "lines" }, false},
		{"lines mode for our relay process", func(c *Config) { c.DestMode, c.RelayProcess = "lines", true }, false},
		{"lines mode for an external relay", func(c *Config) {
			c.DestMode, c.RelayAddr, c.DestAddr = "lines", "127.0.0.1:1", "127.0.0.1:2"
		}, true},
		{"zero batch size", func(c *Config) { c.BatchSize = 0 }, false},
		{"elasticsearch sink", func(c *Config) { c.Sink = "elasticsearch" }, true},
		{"unknown sink", func(c *Config) { c.Sink = "kafka" }, false},
		{"elasticsearch sink into lines mode", func(c *Config) {
			c.Sink, c.DestMode, c.RelayAddr, c.DestAddr = "elasticsearch", "lines", "127.0.0.1:1", "127.0.0.1:2"
		}, false},
		{"negative sink concurrency", func(c *Config) { c.SinkConcurrency = -1 }, false},
	}
	for _, tt := range tests {
		c := DefaultConfig()
		tt.edit(&c)
		err := c.validate()
		if got := err == nil; got != tt.ok {
			t.Errorf("%s: got %v want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrConfig) {
			t.Errorf("%s: got %v want ErrConfig", tt.name, err)
		}
	}
}

func TestRelayMode(t *testing.T) {
	t.Parallel()
	sc := func(name string, relays ...string) *report.Scenario {
		return &report.Scenario{Name: name, Relays: relays}
	}
	tests := []struct {
		name string
		cfg  Config
		scs  []*report.Scenario
		want string
	}{
		{"all in-process", Config{}, []*report.Scenario{sc("size", "in-process"), sc("age", "in-process")}, "in-process (every scenario)"},
		{"all processes", Config{Config: scenario.Config{RelayProcess: true}}, []*report.Scenario{sc("size", "process"), sc("shutdown", "process")}, "process (every scenario)"},
		{"mixed", Config{}, []*report.Scenario{sc("size", "in-process"), sc("many-conns", "process"), sc("chaos", "process"),
			sc("shutdown", "in-process", "process"), nil, sc("throughput", "process"), sc("not run")},
			"in-process: size, shutdown; process: many-conns, chaos, shutdown, throughput"},
		{"nothing started", Config{}, []*report.Scenario{sc("size")}, "none started"},
		{"external", Config{Config: scenario.Config{RelayAddr: "127.0.0.1:5"}}, []*report.Scenario{sc("size", "external")}, "external (127.0.0.1:5)"},
	}
	for _, tt := range tests {
		if got := relayMode(&tt.cfg, tt.scs); got != tt.want {
			t.Errorf("%s: got %q want %q", tt.name, got, tt.want)
		}
	}
}

// TestShutdownRounds runs the shutdown scenario with every relay a process
// (the relay built on the fly): both rounds stop it with SIGTERM and their
// rules say so, each round's files are in its own directory, and a
// mockdest that cannot write its files fails the scenario with its error.
func TestShutdownRounds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the relay binary")
	}
	t.Parallel()
	cfg := DefaultConfig()
	cfg.Quick, cfg.RelayProcess = true, true
	cfg.Scenarios = []string{"shutdown"}
	cfg.FlushInterval, cfg.AgeTolerance = 2*time.Second, 250*time.Millisecond
	cfg.DurationScale = 0.5
	cfg.Out = t.TempDir()
	// A file where round 2's mockdest directory goes.
	if err := os.MkdirAll(filepath.Join(cfg.Out, "shutdown", "round-2"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.Out, "shutdown", "round-2", "mockdest"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var out, prog bytes.Buffer
	cfg.Stdout, cfg.Progress = &out, &prog
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	suite, err := Run(ctx, cfg)
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("Run: got %v want ErrFailed (round 2's mockdest could not write its files)\n%s\n%s", err, out.String(), prog.String())
	}
	sc := suite.Scenario("shutdown")
	if !strings.Contains(sc.Error, "round 2") || !strings.Contains(sc.Error, "mockdest") {
		t.Errorf("scenario error: got %q want round 2's mockdest error", sc.Error)
	}
	var roundRules int
	for _, r := range sc.Rules {
		if strings.HasPrefix(r.Rule, "round ") {
			roundRules++
			if !strings.Contains(r.Rule, "SIGTERM") || strings.Contains(r.Expected, "Serve") || !r.Pass {
				t.Errorf("rule %q (expected %q): %s, %s; want named after SIGTERM, passed", r.Rule, r.Expected, r.Verdict(), r.Measured)
			}
		}
	}
	if roundRules != 7 { // exit and delivery of each round, round 2's three batch rules
		t.Errorf("got %d round rules want 7:\n%s", roundRules, out.String())
	}
	for _, f := range []string{"round-1/loadgen/schedule_lag.hgrm", "round-2/loadgen/schedule_lag.hgrm", "round-1/mockdest/latency.hgrm"} {
		if _, err := os.Stat(filepath.Join(cfg.Out, "shutdown", f)); err != nil {
			t.Errorf("shutdown/%s: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(cfg.Out, "shutdown", "latency.hgrm")); err == nil {
		t.Error("round 1's mockdest files also written to shutdown/")
	}
	if len(sc.Notes) == 0 || !strings.Contains(sc.Notes[0], "judge both rounds") {
		t.Errorf("notes: %q, want one saying which round the batch rules judge", sc.Notes)
	}
	if !slices.Equal(sc.Relays, []string{"process"}) || suite.RelayMode != "process (every scenario)" {
		t.Errorf("relays %q, mode %q: want process only", sc.Relays, suite.RelayMode)
	}
}

// TestList: the listing names every scenario and says how each would run
// its relay under the configuration given.
func TestList(t *testing.T) {
	t.Parallel()
	def := List(DefaultConfig())
	for _, name := range scenario.Names() {
		if !strings.Contains(def, name+" ") {
			t.Errorf("listing lacks %s:\n%s", name, def)
		}
	}
	if !strings.Contains(def, "in-process relay") || !strings.Contains(def, "relay process") {
		t.Errorf("default listing: want in-process and process relays:\n%s", def)
	}
	cfg := DefaultConfig()
	cfg.RelayProcess = true
	if got := List(cfg); strings.Contains(got, "; in-process relay") || !strings.Contains(got, "a relay process in both rounds") {
		t.Errorf("--relay-process listing still names in-process relays:\n%s", got)
	}
	cfg = DefaultConfig()
	cfg.RelayAddr = "127.0.0.1:1234"
	if got := List(cfg); !strings.Contains(got, "external relay at 127.0.0.1:1234") || !strings.Contains(got, "not applicable") {
		t.Errorf("--relay-addr listing:\n%s", got)
	}
}

// TestNotApplicableSkips: the victorialogs scenario without a
// victoria-logs binary is one SKIP rule saying why, and the run passes.
func TestNotApplicableSkips(t *testing.T) {
	t.Setenv("LOGRELAY_VICTORIALOGS", filepath.Join(t.TempDir(), "no-such-binary"))
	cfg := DefaultConfig()
	cfg.Quick, cfg.Scenarios, cfg.Out = true, []string{"victorialogs"}, t.TempDir()
	var out bytes.Buffer
	cfg.Stdout = &out
	suite, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	rs := suite.Rules()
	if len(rs) != 1 || !rs[0].Skipped || !rs[0].Pass || rs[0].Verdict() != "SKIP" || !strings.Contains(rs[0].Measured, "victoria-logs binary not found") {
		t.Errorf("rules %+v want one SKIP naming the missing binary", rs)
	}
	if !strings.Contains(out.String(), "SKIP") {
		t.Errorf("table lacks SKIP:\n%s", out.String())
	}
}
