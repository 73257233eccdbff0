// Package scenario provides the bench's scenarios and runs them: each
// starts its own mockdest (package dest), relay (package sut) and loadgen,
// drives a load, tears them down and records a report.Scenario whose rules
// (package rules) are then checked.
//
// A scenario is its entry in Suite — name, description, quick and full
// Params, how it runs its relay, its checks — and its Run function: most
// use runSteady (steady.go: start, load for the duration, stop); one with
// a choreography of its own has it in a file of its own (bursts.go,
// chaos.go, shutdown.go, overload.go, throughput.go), built from the parts
// in run.go (Trial.startOne or Trial.start, run.load, run.finish). Adding a
// scenario is its entry in Suite and, if runSteady does not fit, that
// one file. A scaling flag of its own goes in its Adjust.
package scenario

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/logrelay/logrelay/internal/bench/report"
	"github.com/logrelay/logrelay/internal/bench/rules"
	"github.com/logrelay/logrelay/internal/bench/sut"
)

// Scenario is one scenario of the suite: its rules are checked on what it
// records.
type Scenario struct {
	Name        string
	Description string
	Quick, Full Params
	// OptIn scenarios run only when --scenario names them: they need
	// something beyond the bench (the victorialogs scenario: a
	// victoria-logs binary) and are not part of the default suite.
	OptIn bool
	// Concurrent scenarios are long and light (a trickle, bursts between
	// silences, RELP loads waiting for their last age flush); they run
	// alongside the others, each with its own relay and mockdest, from
	// Params.StartAfter on.
	Concurrent bool
	// FlushTimed scenarios are timed in flush intervals (the age and
	// bursts scenarios): their durations follow Config.FlushInterval, and
	// Config.DurationScale leaves them alone.
	FlushTimed bool
	// Relay is how the scenario runs its relay.
	Relay RelayUse
	// Restarts says the scenario kills and restarts its relay process:
	// like BothWays, not applicable to an external relay.
	Restarts bool
	// Checks are the rules judged on the recording.
	Checks []rules.Check
	// Adjust, if set, applies the scaling flags that concern this
	// scenario alone (--rate, --conns, …) to its parameters.
	Adjust func(p *Params, cfg *Config)
	// Run drives the scenario and fills t.Rec.
	Run func(ctx context.Context, t *Trial) error
}

// Signals reports whether the scenario signals its relay (shutdown,
// restarts), which the bench cannot do to an external relay.
func (s *Scenario) Signals() bool { return s.Relay == BothWays || s.Restarts }

// RelayUse is how a scenario runs its relay. Config.RelayProcess makes
// every relay a process; Config.RelayAddr replaces them all with the
// external relay.
type RelayUse int

const (
	InProcess  RelayUse = iota // in the bench's process
	OwnProcess                 // its own process: CPU, RSS, fds and goroutines of its own
	BothWays                   // the shutdown scenario: as the suite runs it, then as a process
)

func (u RelayUse) String() string {
	switch u {
	case OwnProcess:
		return "relay process"
	case BothWays:
		return "in-process relay, then a relay process"
	}
	return "in-process relay"
}

// kind is the relay kind the scenario asks sut for.
func (u RelayUse) kind() sut.Kind {
	if u == OwnProcess {
		return sut.Process
	}
	return sut.InProcess
}

// Params are one scenario's load and thresholds. Each scenario has a quick
// and a full set; the scaling flags of Config override some fields.
type Params struct {
	Expected time.Duration // about how long the scenario takes
	// StartAfter delays a concurrent scenario's start, past the first
	// sequential scenarios (size: its rate rule wants the CPU).
	StartAfter time.Duration
	Duration   time.Duration // load duration
	Rate       float64       // aggregate messages/s; 0 = as fast as possible
	Conns      int           // client connections
	Size       int           // bytes per message
	RELP       bool          // loadgen --relp to the relay's RELP listener

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
	SinkConcurrency     int           // relay --sink-concurrency; 0 = the run's

	ShutdownAfter time.Duration // shutdown: load time before the signal

	FaultEvery time.Duration // relp-restart: a relay fault (SIGKILL, SIGKILL, SIGTERM) every FaultEvery
	Bulk       bool          // relp-restart-bulk: the elasticsearch+http sink into mockdest's _bulk receiver, whatever the run's --sink

	Quiet  int           // overload: quiet clients, 10 msgs/s each, beside the Conns flooders
	Window time.Duration // overload: the window over which the flooders' shares are compared
	// QuietTimeout is how long a quiet message may take from its write to
	// its arrival (overload: the quiet rule's bound).
	QuietTimeout time.Duration

	Messages int // victorialogs: messages per step

	Replicates   int           // throughput, victorialogs: replicates
	StepDuration time.Duration // throughput: each step's load duration
}

// Want returns the thresholds p gives the rules.
func (p Params) Want() rules.Want {
	return rules.Want{MinRate: p.MinRate, Conns: p.Conns, MinAgeFlushes: p.MinAgeFlushes, MaxRSS: p.MaxRSS}
}

// basic are the checks that hold in every scenario that moves messages.
var basic = []rules.Check{rules.CheckMaxBatch, rules.CheckAgeBound, rules.CheckNoLoss, rules.CheckNoDuplicates}

// checks returns its arguments' checks, in order.
func checks(cs ...[]rules.Check) []rules.Check { return slices.Concat(cs...) }

// Params returns the scenario's parameters for cfg, with the scaling flags
// applied.
func (s *Scenario) Params(cfg *Config) Params {
	p := s.Full
	if cfg.Quick {
		p = s.Quick
	}
	scale := func(k float64, ds ...*time.Duration) {
		for _, d := range ds {
			*d = time.Duration(float64(*d) * k)
		}
	}
	if f := cfg.DurationScale; f > 0 && f != 1 && !s.FlushTimed {
		scale(f, &p.Duration, &p.Expected, &p.StepDuration, &p.ShutdownAfter, &p.DownFor, &p.DownEvery, &p.FaultEvery)
	}
	if k := float64(cfg.FlushInterval) / float64(10*time.Second); k > 0 && k != 1 && s.FlushTimed {
		scale(k, &p.Duration, &p.Expected)
		p.Silences = slices.Clone(p.Silences)
		for i := range p.Silences {
			scale(k, &p.Silences[i])
		}
	}
	if s.Adjust != nil {
		s.Adjust(&p, cfg)
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
	add(p.StartAfter > 0, "starts after", "%s (runs concurrently)", p.StartAfter)
	add(p.Duration > 0, "duration", "%s", p.Duration)
	add(p.Rate > 0, "rate", "%s msgs/s", report.Human(p.Rate))
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
	add(p.SinkConcurrency > 0, "sink-concurrency", "%d", p.SinkConcurrency)
	add(p.ShutdownAfter > 0, "signal after", "%s", p.ShutdownAfter)
	add(p.FaultEvery > 0, "faults", "SIGKILL, SIGKILL, SIGTERM, one every %s, each followed by a restart on the same ports", p.FaultEvery)
	add(p.Bulk, "sink", "elasticsearch+http into mockdest's _bulk receiver")
	add(p.Quiet > 0, "quiet clients", "%d, one message per %s each", p.Quiet, quietEvery)
	add(p.Window > 0, "fairness window", "%s", p.Window)
	add(p.QuietTimeout > 0, "quiet message bound", "%s", p.QuietTimeout)
	add(p.Replicates > 0 && p.StepDuration > 0, "replicates", "%d × %s", p.Replicates, p.StepDuration)
	add(p.Messages > 0, "steps", "%d replicates × %d messages", p.Replicates, p.Messages)
	return ps
}
