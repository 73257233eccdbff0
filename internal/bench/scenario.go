package bench

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/logrelay/logrelay/internal/bench/report"
)

// Params are one scenario's load and thresholds. Each scenario has a quick
// and a full set; the scaling flags of Config override some fields.
type Params struct {
	Expected time.Duration // about how long the scenario takes
	Duration time.Duration // load duration
	Rate     float64       // aggregate messages/s; 0 = as fast as possible
	Conns    int           // client connections
	Size     int           // bytes per message

	MinRate       float64 // CheckRate threshold, messages/s
	MinAgeFlushes int     // CheckAgeFlushes threshold
	MaxRSS        uint64  // CheckRSS threshold, bytes

	Burst    int             // bursts: messages per connection per burst
	Silences []time.Duration // bursts: the silences between bursts

	ChaosProb     float64 // chaos: each connection closed with this probability per second
	ChaosAbortive float64 // chaos: fraction of closes that are abortive (RST)

	DownFor, DownEvery  time.Duration // outage: mockdest down DownFor every DownEvery
	AckDelay, AckJitter time.Duration // acks: acknowledgement delay
	NackRate, NoAckRate float64       // acks: fraction of batches nacked / never acked
	MaxPending          int           // relay max-pending (small to force backpressure)
	SendTimeout         time.Duration // relay per-attempt timeout

	ShutdownAfter time.Duration // shutdown: load time before the signal

	Quiet int // overload: quiet clients, 10 msgs/s each

	Replicates   int           // throughput: saturation replicates
	StepDuration time.Duration // throughput: each step's load duration
}

// Scenario is one scenario of the suite: its rules are checked on what it
// records.
type Scenario struct {
	Name        string
	Description string
	Quick, Full Params
	// Concurrent scenarios are long and light (a trickle, bursts between
	// silences); they run alongside the others, each with its own relay
	// and mockdest.
	Concurrent bool
	// Relay is how the scenario runs its relay.
	Relay  relayUse
	Checks []Check
	run    func(ctx context.Context, e *env, p Params, rec *report.Scenario) error
}

// relayUse is how a scenario runs its relay. Config.RelayProcess makes
// every relay a process; Config.RelayAddr replaces them all with the
// external relay.
type relayUse int

const (
	inProcess  relayUse = iota // in the bench's process
	ownProcess                 // its own process: CPU, RSS, fds and goroutines of its own
	bothWays                   // the shutdown scenario: in-process, then as a process
)

func (u relayUse) String() string {
	switch u {
	case ownProcess:
		return "relay process"
	case bothWays:
		return "in-process relay, then a relay process"
	}
	return "in-process relay"
}

// basic are the checks that hold in every scenario that moves messages.
var basic = []Check{CheckMaxBatch, CheckAgeBound, CheckNoLoss, CheckNoDuplicates}

func checks(cs ...[]Check) []Check {
	var out []Check
	for _, c := range cs {
		out = append(out, c...)
	}
	return out
}

// Scenarios returns the suite, in the order it runs.
func Scenarios() []*Scenario {
	return []*Scenario{
		{
			Name:        "size",
			Description: "Size rule under stress: a high rate over 50 connections (or --conns). Every batch closed by size has exactly batch-size messages; none exceeds it; nothing is lost or duplicated; per-stream order holds.",
			Quick:       Params{Expected: 7 * time.Second, Duration: 5 * time.Second, Rate: 120_000, Conns: 50, Size: 200, MinRate: 100_000},
			Full:        Params{Expected: 22 * time.Second, Duration: 20 * time.Second, Rate: 120_000, Conns: 50, Size: 200, MinRate: 100_000},
			Checks:      checks([]Check{CheckRate, CheckSizeExact, CheckExactCount, CheckOrder}, basic),
			run:         runSteady,
		},
		{
			Name:        "age",
			Description: "Age rule: a trickle over a few connections, long enough for at least three age flushes with the real flush interval. Every batch's age at flush is ≤ flush-interval + tolerance, and no age flush comes much earlier than the interval.",
			Quick:       Params{Expected: 38 * time.Second, Duration: 36 * time.Second, Rate: 4, Conns: 3, Size: 200, MinAgeFlushes: 3},
			Full:        Params{Expected: 46 * time.Second, Duration: 44 * time.Second, Rate: 4, Conns: 3, Size: 200, MinAgeFlushes: 4},
			Concurrent:  true,
			Checks:      checks([]Check{CheckAgeFlushes, CheckAgeNotEarly, CheckExactCount, CheckOrder}, basic),
			run:         runSteady,
		},
		{
			Name:        "bursts",
			Description: "Mixed load: bursts of a few thousand messages separated by silences longer and shorter than the flush interval. Both rules hold throughout.",
			Quick: Params{Expected: 30 * time.Second, Conns: 4, Size: 200, Burst: 777, MinAgeFlushes: 1,
				Silences: []time.Duration{12 * time.Second, 3 * time.Second, 500 * time.Millisecond, 11 * time.Second}},
			Full: Params{Expected: 50 * time.Second, Conns: 8, Size: 200, Burst: 777, MinAgeFlushes: 2,
				Silences: []time.Duration{12 * time.Second, 3 * time.Second, 500 * time.Millisecond, 11 * time.Second, 7 * time.Second, 14 * time.Second}},
			Concurrent: true,
			Checks:     checks([]Check{CheckSizeExact, CheckAgeFlushes, CheckAgeNotEarly, CheckExactCount, CheckOrder}, basic),
			run:        runBursts,
		},
		{
			Name:        "many-conns",
			Description: "Thousands of concurrent connections at a moderate total rate: the rules hold, nothing is lost, and the relay's RSS is reported.",
			Quick:       Params{Expected: 10 * time.Second, Duration: 6 * time.Second, Rate: 10_000, Conns: 2000, Size: 200, MaxRSS: 512 << 20},
			Full:        Params{Expected: 25 * time.Second, Duration: 20 * time.Second, Rate: 20_000, Conns: 5000, Size: 200, MaxRSS: 512 << 20},
			Checks:      checks([]Check{CheckConns, CheckRSS, CheckExactCount, CheckOrder}, basic),
			Relay:       ownProcess,
			run:         runSteady,
		},
		{
			Name:        "chaos",
			Description: "Chaos clients: connections closed at random, gracefully (FIN) and abortively (RST), while sending, with reconnects. The relay keeps running, the rules hold, every message loadgen reports as safely sent arrives, and the relay's goroutines and file descriptors return to their baseline.",
			Quick:       Params{Expected: 10 * time.Second, Duration: 7 * time.Second, Rate: 20_000, Conns: 100, Size: 200, ChaosProb: 0.5, ChaosAbortive: 0.5},
			Full:        Params{Expected: 23 * time.Second, Duration: 20 * time.Second, Rate: 30_000, Conns: 200, Size: 200, ChaosProb: 0.5, ChaosAbortive: 0.5},
			Checks:      checks([]Check{CheckChaos, CheckAlive, CheckLeaks}, basic),
			Relay:       ownProcess,
			run:         runChaos,
		},
		{
			Name:        "outage",
			Description: "Destination outage: mockdest goes down and comes back several times. The relay retries and applies backpressure (pending stays within max-pending); nothing is lost; per-stream order holds through the resends; batches never exceed batch-size.",
			Quick: Params{Expected: 12 * time.Second, Duration: 10 * time.Second, Rate: 20_000, Conns: 20, Size: 200,
				DownFor: time.Second, DownEvery: 3 * time.Second, MaxPending: 20_000},
			Full: Params{Expected: 25 * time.Second, Duration: 22 * time.Second, Rate: 30_000, Conns: 20, Size: 200,
				DownFor: 2 * time.Second, DownEvery: 5 * time.Second, MaxPending: 20_000},
			Checks: checks([]Check{CheckOutage, CheckPendingBound, CheckExactCount, CheckOrder}, basic),
			run:    runSteady,
		},
		{
			Name:        "acks",
			Description: "Destination outage, second half: mockdest delays acknowledgements, negatively acknowledges some batches and never acknowledges others. The relay resends (duplicate batches are expected and reported); nothing is lost; per-stream order holds through the resends; batches never exceed batch-size.",
			Quick: Params{Expected: 8 * time.Second, Duration: 6 * time.Second, Rate: 20_000, Conns: 20, Size: 200,
				AckDelay: 2 * time.Millisecond, AckJitter: 5 * time.Millisecond, NackRate: 0.02, NoAckRate: 0.01,
				MaxPending: 20_000, SendTimeout: 250 * time.Millisecond},
			Full: Params{Expected: 22 * time.Second, Duration: 15 * time.Second, Rate: 20_000, Conns: 20, Size: 200,
				AckDelay: 2 * time.Millisecond, AckJitter: 5 * time.Millisecond, NackRate: 0.02, NoAckRate: 0.01,
				MaxPending: 20_000, SendTimeout: 250 * time.Millisecond},
			Checks: checks([]Check{CheckAckTrouble, CheckPendingBound, CheckExactCount, CheckOrder}, basic),
			run:    runSteady,
		},
		{
			Name:        "shutdown",
			Description: "Graceful shutdown, in two rounds: the relay is stopped in the middle of a steady load, in round 1 as the suite runs it (in-process: its context is cancelled; under --relay-process: SIGTERM), in round 2 as its own process with SIGTERM. Each time it exits cleanly after flushing, and every message it read arrives.",
			Quick:       Params{Expected: 6 * time.Second, Rate: 50_000, Conns: 20, Size: 200, ShutdownAfter: 2 * time.Second},
			Full:        Params{Expected: 12 * time.Second, Rate: 50_000, Conns: 20, Size: 200, ShutdownAfter: 5 * time.Second},
			Checks: []Check{CheckShutdownExit, CheckShutdownDelivered, CheckSignalExit, CheckSignalDelivered,
				CheckMaxBatch, CheckAgeBound, CheckNoDuplicates, CheckSignalMaxBatch, CheckSignalAgeBound, CheckSignalNoDuplicates},
			Relay: bothWays,
			run:   runShutdown,
		},
		overloadScenario,
		{
			Name:        "throughput",
			Description: throughputDescription(),
			Quick:       Params{Expected: 16 * time.Second, Conns: 50, Size: 200, Replicates: 3, StepDuration: 2 * time.Second},
			Full:        Params{Expected: 35 * time.Second, Conns: 50, Size: 200, Replicates: 5, StepDuration: 4 * time.Second},
			Relay:       ownProcess,
			Checks:      checks([]Check{CheckThroughput, CheckSustained, CheckStepsLossless, CheckSizeExact}, basic),
			run:         runThroughput,
		},
	}
}

// ScenarioNames returns the names of the suite's scenarios.
func ScenarioNames() []string {
	var ns []string
	for _, s := range Scenarios() {
		ns = append(ns, s.Name)
	}
	return ns
}

// params returns the scenario's parameters for cfg, with the scaling flags
// applied.
func (s *Scenario) params(cfg *Config) Params {
	p := s.Full
	if cfg.Quick {
		p = s.Quick
	}
	if f := cfg.DurationScale; f > 0 && f != 1 {
		scale := func(d time.Duration) time.Duration { return time.Duration(float64(d) * f) }
		if s.Name != "age" && s.Name != "bursts" { // their timing follows the flush interval
			p.Duration, p.Expected, p.StepDuration = scale(p.Duration), scale(p.Expected), scale(p.StepDuration)
			p.ShutdownAfter, p.DownFor, p.DownEvery = scale(p.ShutdownAfter), scale(p.DownFor), scale(p.DownEvery)
		}
	}
	if k := float64(cfg.FlushInterval) / float64(10*time.Second); k > 0 && k != 1 && (s.Name == "age" || s.Name == "bursts") {
		// The age and bursts scenarios are timed in flush intervals.
		scale := func(d time.Duration) time.Duration { return time.Duration(float64(d) * k) }
		p.Duration, p.Expected = scale(p.Duration), scale(p.Expected)
		p.Silences = slices.Clone(p.Silences)
		for i := range p.Silences {
			p.Silences[i] = scale(p.Silences[i])
		}
	}
	switch s.Name {
	case "size":
		if cfg.Rate > 0 {
			// The rule follows the rate asked for: 90% of it (the last
			// writes may land a little after the run's end on a loaded
			// machine), at most the scenario's 100,000 msgs/s.
			p.Rate = cfg.Rate
			p.MinRate = min(p.MinRate, 0.9*cfg.Rate)
		}
		if cfg.Conns > 0 {
			p.Conns = cfg.Conns
		}
	case "many-conns":
		if cfg.ManyConns > 0 {
			p.Conns = cfg.ManyConns
		}
	case "throughput":
		if cfg.Conns > 0 {
			p.Conns = cfg.Conns
		}
		if cfg.Replicates > 0 {
			p.Replicates = cfg.Replicates
		}
		if cfg.Profile {
			p.Expected += p.StepDuration + time.Second // the profiled run
		}
	}
	return p
}

// describe lists p's non-zero fields for the report.
func (p Params) describe() []report.Param {
	var ps []report.Param
	add := func(ok bool, n, format string, a ...any) {
		if ok {
			ps = append(ps, report.Param{Name: n, Value: fmt.Sprintf(format, a...)})
		}
	}
	add(p.Duration > 0, "duration", "%s", p.Duration)
	add(p.Rate > 0, "rate", "%s msgs/s", human(p.Rate))
	add(p.Conns > 0, "conns", "%d", p.Conns)
	add(p.Size > 0, "size", "%d B", p.Size)
	add(p.Burst > 0, "burst", "%d msgs per conn", p.Burst)
	add(len(p.Silences) > 0, "silences", "%v", p.Silences)
	add(p.ChaosProb > 0, "chaos", "p=%.2f/s per conn, %.0f%% abortive", p.ChaosProb, 100*p.ChaosAbortive)
	add(p.DownEvery > 0, "outage", "down %s every %s", p.DownFor, p.DownEvery)
	add(p.AckDelay+p.AckJitter > 0, "ack delay", "%s + [0, %s)", p.AckDelay, p.AckJitter)
	add(p.NackRate > 0, "nack rate", "%.3f", p.NackRate)
	add(p.NoAckRate > 0, "no-ack rate", "%.3f", p.NoAckRate)
	add(p.MaxPending > 0, "max-pending", "%d", p.MaxPending)
	add(p.SendTimeout > 0, "send-timeout", "%s", p.SendTimeout)
	add(p.ShutdownAfter > 0, "signal after", "%s", p.ShutdownAfter)
	add(p.Replicates > 0, "replicates", "%d × %s", p.Replicates, p.StepDuration)
	return ps
}
