package scenario

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/logrelay/logrelay/internal/bench/dest"
	"github.com/logrelay/logrelay/internal/bench/pipe"
	"github.com/logrelay/logrelay/internal/bench/progress"
	"github.com/logrelay/logrelay/internal/bench/report"
	"github.com/logrelay/logrelay/internal/bench/rules"
	"github.com/logrelay/logrelay/internal/bench/sut"
)

// Peer is another relay to measure in the throughput scenario, already
// running: it listens on Addr for newline-delimited TCP and forwards to
// DestAddr, where the bench runs mockdest (in lines mode unless DestMode
// says "frames").
type Peer struct {
	Name     string
	Addr     string
	DestAddr string
	DestMode string
	PID      int // for CPU and RSS; 0 = not sampled
}

// Config is what the scenarios of a run are told: the relay's rules, how
// to run the relay and mockdest, and the scaling flags.
type Config struct {
	// Quick shortens every scenario so the suite stays under 90 s.
	Quick bool
	// Out is the run directory: each scenario's files go to OUT/SCENARIO/,
	// the profiles to OUT/profiles/.
	Out string
	// Profile saves the relay's CPU, heap, allocs, goroutine, mutex and
	// block profiles from an extra full-speed run in the throughput
	// scenario, left out of the median and the regression gate.
	Profile bool

	// RelayBin is a relay binary for the scenarios that run the relay as a
	// process; "" = build ./relay on the fly into a temporary directory,
	// removed when the run ends (with Profile, a copy is kept in
	// OUT/profiles/ for pprof).
	RelayBin string
	// RelayProcess runs the relay as its own process in every scenario.
	RelayProcess bool
	// RelayAddr is an external relay to test instead of starting one; its
	// sink must point at DestAddr. RelayAdmin is its admin address (for
	// /metrics), RelayPID its process id (for CPU and RSS).
	RelayAddr, RelayAdmin string
	RelayPID              int
	// DestAddr is the address mockdest listens on; "" = 127.0.0.1:0. An
	// external relay's sink must point at it.
	DestAddr string
	// DestMode is "frames" (our relay) or "lines" (another relay at
	// RelayAddr; then the batch rules cannot be checked and are left out).
	DestMode string
	// Sink is the relay's sink in every scenario: dest.SinkTCP ("" too)
	// into mockdest's frames receiver, or dest.SinkElasticsearch into its
	// _bulk receiver (the acknowledgement failures become failed items and
	// requests, see package dest).
	Sink string
	// SinkConcurrency is the relay's --sink-concurrency; 0 = the relay's
	// default for the tcp sink, 1 for the elasticsearch sink (the only
	// setting at which it keeps a stream's order, so the order rule can be
	// judged).
	SinkConcurrency int
	// Peers are other relays measured in the throughput scenario.
	Peers []Peer
	// PipeBin and PipeArgs run the bare TCP pipe as its own process:
	// PipeBin PipeArgs... --listen ADDR --to TARGET (the bench main
	// re-executes itself as "bench pipe --listen ADDR --to TARGET"); ""
	// = the pipe runs in-process.
	PipeBin  string
	PipeArgs []string

	// BatchSize and FlushInterval are the relay's rules; AgeTolerance is
	// the slack allowed on the flush interval.
	BatchSize     int
	FlushInterval time.Duration
	AgeTolerance  time.Duration

	// Scaling: Rate and Conns override the size scenario's (Conns also the
	// throughput scenario's), ManyConns the many-conns scenario's,
	// DurationScale multiplies load durations, Replicates sets the
	// throughput replicates.
	Rate          float64
	Conns         int
	ManyConns     int
	DurationScale float64
	Replicates    int

	// Logger receives the components' logs; nil = discard.
	Logger *slog.Logger
}

// Env is what the scenarios of one run share: the configuration, the
// relay starter (and the relay binary it builds once), the progress
// display, and what the run records beyond the scenarios (the profiles,
// the kinds of relay each scenario started).
type Env struct {
	cfg    *Config
	relays *sut.Starter
	prog   *progress.Progress

	mu       sync.Mutex
	profiles []report.Profile
	started  map[string][]string // per scenario, the kinds of relay it started
}

// NewEnv returns the Env of a run with cfg, showing progress on prog (nil
// = none). Close it when the run ends.
func NewEnv(cfg *Config, prog *progress.Progress) *Env {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Env{cfg: cfg, prog: prog}
	e.relays = &sut.Starter{
		BatchSize: cfg.BatchSize, FlushInterval: cfg.FlushInterval,
		Bin: cfg.RelayBin, AllProcesses: cfg.RelayProcess,
		ExternalAddr: cfg.RelayAddr, ExternalAdmin: cfg.RelayAdmin, ExternalPID: cfg.RelayPID,
		Logger: cfg.Logger, Notify: func(msg string) { prog.Printf("%s\n", msg) },
	}
	return e
}

// Close removes what the run built (the relay binary).
func (e *Env) Close() { e.relays.Close() }

// Profiles returns the profiles the run saved.
func (e *Env) Profiles() []report.Profile {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.profiles)
}

// startDest starts a mockdest for c, in the run's mode and at its address
// unless c says otherwise.
func (e *Env) startDest(ctx context.Context, c dest.Config) (*dest.Dest, error) {
	if c.Sink == "" && c.Mode == "" {
		c.Sink = e.cfg.Sink
	}
	if c.Mode == "" && c.Sink != dest.SinkElasticsearch {
		c.Mode = e.cfg.DestMode
	}
	if c.Listen == "" {
		c.Listen = e.cfg.DestAddr
	}
	c.Logger = e.cfg.Logger
	return dest.Start(ctx, c)
}

// startRelay starts a relay for c of the kind sut.Starter.KindFor(want)
// names, and records that the named scenario started that kind.
func (e *Env) startRelay(ctx context.Context, scenario string, c sut.Config, want sut.Kind) (sut.Relay, error) {
	if c.SinkConcurrency == 0 {
		c.SinkConcurrency = e.sinkConcurrency()
	}
	h, err := e.relays.Start(ctx, c, want)
	if err != nil {
		return nil, err
	}
	e.noteStarted(scenario, h.Kind())
	return h, nil
}

// noteStarted records that the named scenario started a relay of kind k.
func (e *Env) noteStarted(scenario string, k sut.Kind) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started == nil {
		e.started = map[string][]string{}
	}
	if s := k.String(); !slices.Contains(e.started[scenario], s) {
		e.started[scenario] = append(e.started[scenario], s)
	}
}

// sinkConcurrency is the relay's --sink-concurrency in this run (0 = the
// relay's default).
func (e *Env) sinkConcurrency() int {
	if e.cfg.SinkConcurrency == 0 && e.cfg.Sink == dest.SinkElasticsearch {
		return 1
	}
	return e.cfg.SinkConcurrency
}

// SinkDescription says which sink the run's relays use and where it
// delivers, for the report.
func (e *Env) SinkDescription() string {
	conc := "relay default"
	if n := e.sinkConcurrency(); n > 0 {
		conc = fmt.Sprint(n)
	}
	if e.cfg.Sink == dest.SinkElasticsearch {
		return fmt.Sprintf("elasticsearch+http://…/%s/_bulk into mockdest's _bulk receiver (elasticsearch flavour), sink-concurrency %s", dest.BulkIndex, conc)
	}
	return fmt.Sprintf("tcp:// into mockdest (%s), sink-concurrency %s", e.cfg.DestMode, conc)
}

// startedBy returns the kinds of relay the named scenario started, in
// order of first use.
func (e *Env) startedBy(scenario string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.started[scenario])
}

// pipeConfig is where the bare TCP pipe to target runs.
func (e *Env) pipeConfig(target string) (pipe.Config, error) {
	c := pipe.Config{Target: target, Bin: e.cfg.PipeBin, Args: e.cfg.PipeArgs}
	if c.Bin != "" {
		addr, err := sut.FreeAddr()
		if err != nil {
			return c, err
		}
		c.Listen = addr
	}
	return c, nil
}

// Trial is one scenario running: what its Run function gets.
type Trial struct {
	*Env
	Scenario *Scenario
	P        Params
	Rec      *report.Scenario
}

// Run runs sc and checks its rules. A run error becomes a failed rule; the
// checks then judge whatever was recorded.
func (e *Env) Run(ctx context.Context, sc *Scenario) *report.Scenario {
	p := sc.Params(e.cfg)
	rec := &report.Scenario{
		Name: sc.Name, Description: sc.Description, Params: p.describe(),
		ExpectedSeconds: p.Expected.Seconds(), Start: time.Now(),
		Obs: report.Observation{BatchSize: e.cfg.BatchSize, FlushInterval: e.cfg.FlushInterval, AgeTolerance: e.cfg.AgeTolerance},
	}
	err := ctx.Err() // interrupted: the remaining scenarios do not start
	if err == nil {
		e.prog.Start(sc.Name, p.Expected)
		err = sc.Run(ctx, &Trial{Env: e, Scenario: sc, P: p, Rec: rec})
		e.prog.Done(sc.Name)
	}
	rec.End = time.Now()
	rec.Relays = e.startedBy(sc.Name)
	cs := sc.Checks
	if e.cfg.RelayAddr != "" && slices.ContainsFunc(cs, func(c rules.Check) bool { return c.Name == rules.CheckPendingBound.Name }) {
		cs = slices.DeleteFunc(slices.Clone(cs), func(c rules.Check) bool { return c.Name == rules.CheckPendingBound.Name })
		rec.Notes = append(rec.Notes, "external relay: its max-pending is not known to the bench, so the backpressure bound is not checked (its pending peak is reported).")
	}
	if e.cfg.DestMode == "lines" {
		cs = slices.DeleteFunc(slices.Clone(cs), rules.Check.NeedsFrames)
		rec.Notes = append(rec.Notes, "mockdest in lines mode: the relay's batch boundaries, reasons and ages are not visible, so the batch rules are not checked.")
	}
	if e.cfg.Sink == dest.SinkElasticsearch {
		var notes []string
		conc := p.SinkConcurrency
		if conc == 0 {
			conc = e.sinkConcurrency()
		}
		cs, notes = rules.ForBulk(cs, conc)
		rec.Notes = append(rec.Notes, notes...)
	}
	if errors.Is(err, ErrNotApplicable) {
		// Nothing to judge: one rule says why, and SKIP.
		rec.Rules = []report.Rule{{Rule: "applicable", Expected: "what the scenario needs is there", Measured: err.Error(), Pass: true, Skipped: true}}
		cs = nil
	} else if err != nil {
		rec.Error = err.Error()
		rec.Rules = append(rec.Rules, report.Rule{Rule: "ran to completion", Expected: "no error", Measured: err.Error()})
	}
	for _, c := range cs {
		rec.Rules = append(rec.Rules, c.Judge(p.Want(), &rec.Obs))
	}
	for i := range rec.Rules {
		rec.Rules[i].Scenario = sc.Name
	}
	verdict := map[bool]string{true: "PASS", false: "FAIL"}[rec.Passed()]
	if errors.Is(err, ErrNotApplicable) {
		verdict = "SKIP"
	}
	e.prog.Printf("%s: %s in %.1f s\n", sc.Name, verdict, rec.Seconds())
	return rec
}

// dir is the scenario's directory in the run directory.
func (t *Trial) dir() string { return filepath.Join(t.cfg.Out, t.Scenario.Name) }

// errJoin joins non-nil errors, ignoring context cancellation at the end of
// a run.
func errJoin(errs ...error) error {
	var keep []error
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			keep = append(keep, err)
		}
	}
	return errors.Join(keep...)
}
