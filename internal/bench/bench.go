// Package bench provides logrelay's scenario suite: it runs the scenarios
// (package scenario) that prove the batch-size and flush-interval rules
// under stress — each with its own mockdest, relay and loadgen, the relay
// in the bench's process by default and as its own process where its CPU
// and memory must be its own — checks every rule (package rules), gates
// the throughput against a baseline, and writes the verdict and the
// reports (package report).
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/logrelay/logrelay/internal/bench/dest"
	"github.com/logrelay/logrelay/internal/bench/progress"
	"github.com/logrelay/logrelay/internal/bench/report"
	"github.com/logrelay/logrelay/internal/bench/rules"
	"github.com/logrelay/logrelay/internal/bench/scenario"
	"github.com/logrelay/logrelay/internal/bench/stats"
	"github.com/logrelay/logrelay/internal/bench/sut"
)

// Config configures a bench run: what the scenarios are told
// (scenario.Config: the relay's rules, how to run the relay and mockdest,
// the scaling flags) and what the suite does around them. The zero value
// plus DefaultConfig's rule parameters runs the default suite, the relay
// in-process except in the scenarios that need it as its own process.
type Config struct {
	scenario.Config

	// Scenarios limits the run to these names; empty = all.
	Scenarios []string
	// Baseline is a report.json whose throughput replicates this run is
	// gated against; "" = no gate.
	Baseline string
	// Alpha is the gate's significance level (0.10 = 90% confidence), and
	// MinEffect the smallest relative drop that fails it (0.05 = 5%).
	Alpha, MinEffect float64

	// Stdout receives the verdict table; Progress the live progress lines
	// (ProgressTTY: rewrite one line in place).
	Stdout      io.Writer
	Progress    io.Writer
	ProgressTTY bool
	// StepSummary is the GITHUB_STEP_SUMMARY file; "" = none.
	StepSummary string
	// Command is recorded in the report.
	Command []string
}

// DefaultConfig returns the relay's default rules and the regression
// gate's thresholds.
func DefaultConfig() Config {
	return Config{
		Config: scenario.Config{
			BatchSize:     100,
			FlushInterval: 10 * time.Second,
			AgeTolerance:  100 * time.Millisecond,
			DestMode:      "frames",
			DurationScale: 1,
		},
		Alpha:     0.10,
		MinEffect: 0.05,
	}
}

// setDefaults fills the fields whose zero value means "the default".
func (c *Config) setDefaults() {
	if c.Stdout == nil {
		c.Stdout = io.Discard
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Out == "" {
		c.Out = filepath.Join("bench-results", time.Now().Format("20060102-150405"))
	}
	if c.DurationScale <= 0 {
		c.DurationScale = 1
	}
	if c.DestMode == "" {
		c.DestMode = "frames"
	}
	if c.Sink == "" {
		c.Sink = dest.SinkTCP
	}
}

func (c *Config) validate() error {
	if c.BatchSize < 1 || c.FlushInterval <= 0 || c.AgeTolerance < 0 {
		return fmt.Errorf("%w: batch-size %d, flush-interval %s, age tolerance %s", ErrConfig, c.BatchSize, c.FlushInterval, c.AgeTolerance)
	}
	if c.DestMode != "frames" && c.DestMode != "lines" {
		return fmt.Errorf("%w: dest mode %q: want frames or lines", ErrConfig, c.DestMode)
	}
	if c.Sink != "" && !slices.Contains(dest.Sinks, c.Sink) {
		return fmt.Errorf("%w: sink %q: want %s", ErrConfig, c.Sink, strings.Join(dest.Sinks, " or "))
	}
	if c.Sink == dest.SinkElasticsearch && c.DestMode != "frames" {
		return fmt.Errorf("%w: --sink elasticsearch delivers to mockdest's _bulk receiver; --dest-mode %s is for the tcp sink", ErrConfig, c.DestMode)
	}
	if c.SinkConcurrency < 0 {
		return fmt.Errorf("%w: sink concurrency %d: want ≥ 0 (0 = default)", ErrConfig, c.SinkConcurrency)
	}
	if c.RelayAddr != "" && c.DestAddr == "" {
		return fmt.Errorf("%w: --relay-addr needs --dest-addr (where the relay's sink points)", ErrConfig)
	}
	if c.DestMode == "lines" && c.RelayAddr == "" {
		// The relays the bench starts itself send frames.
		return fmt.Errorf("%w: --dest-mode lines is for another relay at --relay-addr; logrelay's relay sends frames", ErrConfig)
	}
	if c.Alpha <= 0 || c.Alpha >= 1 || c.MinEffect < 0 {
		return fmt.Errorf("%w: alpha %v, min effect %v", ErrConfig, c.Alpha, c.MinEffect)
	}
	for _, p := range c.Peers {
		if p.Name == "" || p.Addr == "" || p.DestAddr == "" {
			return fmt.Errorf("%w: peer %+v needs a name, an address and a destination address", ErrConfig, p)
		}
	}
	return nil
}

// Select returns the scenarios named by names (all when empty), in suite
// order.
func Select(names []string) ([]*scenario.Scenario, error) {
	all := scenario.Suite()
	if len(names) == 0 {
		return slices.DeleteFunc(all, func(s *scenario.Scenario) bool { return s.OptIn }), nil
	}
	var out []*scenario.Scenario
	for _, s := range all {
		if slices.Contains(names, s.Name) {
			out = append(out, s)
		}
	}
	for _, n := range names {
		if !slices.ContainsFunc(all, func(s *scenario.Scenario) bool { return s.Name == n }) {
			return nil, fmt.Errorf("%w: %q (have %s)", ErrUnknownScenario, n, strings.Join(scenario.Names(), ", "))
		}
	}
	return out, nil
}

// Run runs the suite, prints the verdict table, writes the run directory
// and returns the suite. The error wraps ErrFailed when a rule failed.
func Run(ctx context.Context, cfg Config) (*report.Suite, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	scs, err := Select(cfg.Scenarios)
	if err != nil {
		return nil, err
	}
	if cfg.RelayAddr != "" && len(cfg.Scenarios) == 0 {
		// The bench cannot signal a relay it did not start.
		scs = slices.DeleteFunc(scs, (*scenario.Scenario).Signals)
		fmt.Fprintln(cfg.Progress, "external relay: the shutdown and restart scenarios are left out (the bench cannot signal it)")
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, fmt.Errorf("run directory: %w", err)
	}
	host, _ := os.Hostname()
	suite := &report.Suite{
		Command: cfg.Command, Start: time.Now(), Quick: cfg.Quick, Dir: cfg.Out,
		Host:      report.Host{Hostname: host, GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU()},
		BatchSize: cfg.BatchSize, FlushInterval: cfg.FlushInterval, AgeTolerance: cfg.AgeTolerance,
	}
	prog := progress.New(cfg.Progress, cfg.ProgressTTY)
	e := scenario.NewEnv(&cfg.Config, prog)
	defer e.Close()
	progCtx, stopProg := context.WithCancel(ctx)
	var progWG sync.WaitGroup
	progWG.Add(1)
	go func() { defer progWG.Done(); prog.Run(progCtx) }()

	results := make([]*report.Scenario, len(scs))
	var wg sync.WaitGroup
	// Concurrent scenarios start first (or after their StartAfter) and
	// run alongside the sequential ones, each with its own relay and
	// mockdest. With an external relay
	// everything is sequential (one relay, one destination address).
	concurrent := cfg.RelayAddr == "" && cfg.DestAddr == ""
	for i, sc := range scs {
		if sc.Concurrent && concurrent {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if d := sc.Params(&cfg.Config).StartAfter; d > 0 {
					select {
					case <-ctx.Done():
					case <-time.After(d):
					}
				}
				results[i] = e.Run(ctx, sc)
			}()
		}
	}
	for i, sc := range scs {
		if !(sc.Concurrent && concurrent) {
			results[i] = e.Run(ctx, sc)
		}
	}
	wg.Wait()
	stopProg()
	progWG.Wait()
	suite.Scenarios = results
	suite.Profiles = e.Profiles()
	suite.RelayMode = relayMode(&cfg, results)
	suite.Sink = e.SinkDescription()
	if cfg.Baseline != "" {
		if tp := suite.Scenario("throughput"); tp != nil {
			suite.Regression = regression(&cfg, tp)
			r := rules.Regression(suite.Regression)
			r.Scenario = tp.Name
			tp.Rules = append(tp.Rules, r)
		} else {
			suite.Regression = &report.Regression{Baseline: cfg.Baseline, Err: "the throughput scenario did not run"}
			if len(results) > 0 {
				r := rules.Regression(suite.Regression)
				r.Scenario = results[0].Name
				results[0].Rules = append(results[0].Rules, r)
			}
		}
	}
	suite.End = time.Now()

	var errs []error
	if err := report.WriteTable(cfg.Stdout, suite); err != nil {
		errs = append(errs, err)
	}
	if tp := suite.Scenario("throughput"); tp != nil && tp.Obs.Throughput != nil && len(tp.Obs.Throughput.Replicates) > 0 {
		fmt.Fprintf(cfg.Stdout, "\nthroughput, %d-byte messages over %d connections (msgs/s = arrivals at mockdest; CPU s and peak RSS of the relay's own process):\n",
			tp.Obs.Throughput.Replicates[0].Size, tp.Obs.Throughput.Replicates[0].Conns)
		errs = append(errs, report.WriteStepsTable(cfg.Stdout, tp.Obs.Throughput))
	}
	if r := suite.Regression; r != nil {
		fmt.Fprintln(cfg.Stdout, regressionLine(r))
	}
	if err := report.WriteDir(cfg.Out, suite); err != nil {
		errs = append(errs, err)
	}
	if err := report.AppendStepSummary(cfg.StepSummary, suite); err != nil {
		errs = append(errs, err)
	}
	fmt.Fprintf(cfg.Stdout, "reports: %s\n", filepath.Join(cfg.Out, "report.html"))
	for _, p := range suite.Profiles {
		fmt.Fprintf(cfg.Stdout, "profile %-10s %s\n", p.Kind+":", p.Command)
	}
	if err := report.WriteFailures(cfg.Stdout, suite); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return suite, fmt.Errorf("write reports: %w", err)
	}
	if !suite.Passed() {
		return suite, fmt.Errorf("%w: %d of %d", ErrFailed, len(suite.Failed()), len(suite.Rules()))
	}
	return suite, nil
}

// relayMode describes how the scenarios ran their relays, from what each
// recorded: "external (ADDR)", "in-process (every scenario)", "process
// (every scenario)", or "in-process: NAMES; process: NAMES" (a scenario
// that ran both appears in both lists), or "none started".
func relayMode(cfg *Config, scs []*report.Scenario) string {
	if cfg.RelayAddr != "" {
		return "external (" + cfg.RelayAddr + ")"
	}
	var in, proc []string
	for _, sc := range scs {
		if sc == nil {
			continue
		}
		if slices.Contains(sc.Relays, sut.InProcess.String()) {
			in = append(in, sc.Name)
		}
		if slices.Contains(sc.Relays, sut.Process.String()) {
			proc = append(proc, sc.Name)
		}
	}
	switch {
	case len(in) == 0 && len(proc) == 0:
		return "none started"
	case len(proc) == 0:
		return "in-process (every scenario)"
	case len(in) == 0:
		return "process (every scenario)"
	}
	return "in-process: " + strings.Join(in, ", ") + "; process: " + strings.Join(proc, ", ")
}

// regression gates this run's throughput replicates against the
// baseline's.
func regression(cfg *Config, tp *report.Scenario) *report.Regression {
	r := &report.Regression{Baseline: cfg.Baseline, Alpha: cfg.Alpha, MinEffect: cfg.MinEffect}
	base, err := report.ReadJSON(cfg.Baseline)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	if b := base.Scenario("throughput"); b != nil && b.Obs.Throughput != nil {
		r.Before = b.Obs.Throughput.Rates()
	}
	if tp.Obs.Throughput != nil {
		r.After = tp.Obs.Throughput.Rates()
	}
	g, err := stats.Compare(r.Before, r.After, cfg.Alpha, cfg.MinEffect)
	if err != nil {
		r.Err = fmt.Sprintf("%d baseline and %d new replicates: %v", len(r.Before), len(r.After), err)
		return r
	}
	r.Gate = g
	return r
}

func regressionLine(r *report.Regression) string {
	if r.Err != "" {
		return "regression gate: not computed: " + r.Err
	}
	g := r.Gate
	v := "no regression"
	if g.Regressed {
		v = "REGRESSION"
	}
	return fmt.Sprintf("regression gate vs %s: delta %+.2f%%, p-value %.4f (Welch's t = %.3f, df = %.1f): %s (fails only if p < %.2f and the drop exceeds %.0f%%)",
		r.Baseline, 100*g.Delta, g.P, g.T, g.DF, v, r.Alpha, 100*r.MinEffect)
}
