package scenario

import (
	"time"

	"github.com/logrelay/logrelay/internal/bench/dest"
	"github.com/logrelay/logrelay/internal/bench/rules"
)

// Suite returns the suite's scenarios, in the order they run: each one's
// definition here, its Run function runSteady (steady.go) or its own
// (bursts.go, chaos.go, shutdown.go, overload.go, throughput.go).
func Suite() []*Scenario {
	return []*Scenario{
		{
			Name:        "size",
			Description: "Size rule under stress: a high rate over 50 connections (or --conns). Every batch closed by size has exactly batch-size messages; none exceeds it; nothing is lost or duplicated; per-stream order holds.",
			Quick:       Params{Expected: 7 * time.Second, Duration: 5 * time.Second, Rate: 120_000, Conns: 50, Size: 200, MinRate: 100_000},
			Full:        Params{Expected: 22 * time.Second, Duration: 20 * time.Second, Rate: 120_000, Conns: 50, Size: 200, MinRate: 100_000},
			Checks:      checks([]rules.Check{rules.CheckRate, rules.CheckSizeExact, rules.CheckExactCount, rules.CheckOrder}, basic),
			Adjust: func(p *Params, cfg *Config) {
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
			},
			Run: runSteady,
		},
		{
			Name:        "age",
			Description: "Age rule: a trickle over a few connections, long enough for at least three age flushes with the real flush interval. Every batch's age at flush is ≤ flush-interval + tolerance, and no age flush comes much earlier than the interval.",
			Quick:       Params{Expected: 38 * time.Second, Duration: 36 * time.Second, Rate: 4, Conns: 3, Size: 200, MinAgeFlushes: 3},
			Full:        Params{Expected: 46 * time.Second, Duration: 44 * time.Second, Rate: 4, Conns: 3, Size: 200, MinAgeFlushes: 4},
			Concurrent:  true,
			FlushTimed:  true,
			Checks:      checks([]rules.Check{rules.CheckAgeFlushes, rules.CheckAgeNotEarly, rules.CheckExactCount, rules.CheckOrder}, basic),
			Run:         runSteady,
		},
		{
			Name:        "bursts",
			Description: "Mixed load: bursts of a few thousand messages separated by silences longer and shorter than the flush interval. Both rules hold throughout.",
			Quick: Params{Expected: 30 * time.Second, Conns: 4, Size: 200, Burst: 777, MinAgeFlushes: 1,
				Silences: []time.Duration{12 * time.Second, 3 * time.Second, 500 * time.Millisecond, 11 * time.Second}},
			Full: Params{Expected: 50 * time.Second, Conns: 8, Size: 200, Burst: 777, MinAgeFlushes: 2,
				Silences: []time.Duration{12 * time.Second, 3 * time.Second, 500 * time.Millisecond, 11 * time.Second, 7 * time.Second, 14 * time.Second}},
			Concurrent: true,
			FlushTimed: true,
			Checks:     checks([]rules.Check{rules.CheckSizeExact, rules.CheckAgeFlushes, rules.CheckAgeNotEarly, rules.CheckExactCount, rules.CheckOrder}, basic),
			Run:        runBursts,
		},
		{
			Name:        "many-conns",
			Description: "Thousands of concurrent connections at a moderate total rate: the rules hold, nothing is lost, and the relay's RSS is reported.",
			Quick:       Params{Expected: 10 * time.Second, Duration: 6 * time.Second, Rate: 10_000, Conns: 2000, Size: 200, MaxRSS: 512 << 20},
			Full:        Params{Expected: 25 * time.Second, Duration: 20 * time.Second, Rate: 20_000, Conns: 5000, Size: 200, MaxRSS: 512 << 20},
			Checks:      checks([]rules.Check{rules.CheckConns, rules.CheckRSS, rules.CheckExactCount, rules.CheckOrder}, basic),
			Relay:       OwnProcess,
			Adjust: func(p *Params, cfg *Config) {
				if cfg.ManyConns > 0 {
					p.Conns = cfg.ManyConns
				}
			},
			Run: runSteady,
		},
		{
			Name:        "chaos",
			Description: "Chaos clients: connections closed at random, gracefully (FIN) and abortively (RST), while sending, with reconnects. The relay keeps running, the rules hold, every message loadgen reports as safely sent arrives, and the relay's goroutines and file descriptors return to their baseline.",
			Quick:       Params{Expected: 10 * time.Second, Duration: 7 * time.Second, Rate: 20_000, Conns: 100, Size: 200, ChaosProb: 0.5, ChaosAbortive: 0.5},
			Full:        Params{Expected: 23 * time.Second, Duration: 20 * time.Second, Rate: 30_000, Conns: 200, Size: 200, ChaosProb: 0.5, ChaosAbortive: 0.5},
			Checks:      checks([]rules.Check{rules.CheckChaos, rules.CheckAlive, rules.CheckLeaks}, basic),
			Relay:       OwnProcess,
			Run:         runChaos,
		},
		{
			Name:        "outage",
			Description: "Destination outage: mockdest goes down and comes back several times. The relay retries and applies backpressure (pending stays within max-pending); nothing is lost; per-stream order holds through the resends; batches never exceed batch-size.",
			Quick: Params{Expected: 12 * time.Second, Duration: 10 * time.Second, Rate: 20_000, Conns: 20, Size: 200,
				DownFor: time.Second, DownEvery: 3 * time.Second, MaxPending: 20_000},
			Full: Params{Expected: 25 * time.Second, Duration: 22 * time.Second, Rate: 30_000, Conns: 20, Size: 200,
				DownFor: 2 * time.Second, DownEvery: 5 * time.Second, MaxPending: 20_000},
			Checks: checks([]rules.Check{rules.CheckOutage, rules.CheckPendingBound, rules.CheckExactCount, rules.CheckOrder}, basic),
			Run:    runSteady,
		},
		{
			Name:        "relp-chaos",
			Description: "RELP clients with chaos disconnects: loadgen --relp over 100 connections (or 200) closed at random, gracefully and abortively, resending everything unanswered after each reconnect. Every message is acknowledged, missing = 0 with nothing excused, duplicates (from resends only) are reported; the batch rules hold.",
			// The last answers wait for the age flush: Expected covers it.
			// Light enough to run concurrently, after the size scenario.
			Quick: Params{Expected: 18 * time.Second, StartAfter: relpStartQuick, Duration: 7 * time.Second, Rate: 5_000, Conns: 100, Size: 200,
				ChaosProb: 0.5, ChaosAbortive: 0.5, RELP: true},
			Full: Params{Expected: 31 * time.Second, StartAfter: relpStartFull, Duration: 20 * time.Second, Rate: 10_000, Conns: 200, Size: 200,
				ChaosProb: 0.5, ChaosAbortive: 0.5, RELP: true},
			Concurrent: true,
			Checks:     []rules.Check{rules.CheckChaos, rules.CheckRELPAcked, rules.CheckNoLoss, rules.CheckResendsExplained, rules.CheckMaxBatch, rules.CheckAgeBound},
			Run:        runSteady,
		},
		{
			Name:        "relp-outage",
			Description: "Destination outage with RELP clients: mockdest goes down and comes back several times while loadgen --relp sends. Answers wait for delivery, backpressure holds pending within max-pending, every message is acknowledged, missing = 0, duplicates are reported; the batch rules hold.",
			Quick: Params{Expected: 12 * time.Second, StartAfter: relpStartQuick, Duration: 10 * time.Second, Rate: 5_000, Conns: 20, Size: 200,
				DownFor: time.Second, DownEvery: 3 * time.Second, MaxPending: 20_000, RELP: true},
			Full: Params{Expected: 25 * time.Second, StartAfter: relpStartFull, Duration: 22 * time.Second, Rate: 10_000, Conns: 20, Size: 200,
				DownFor: 2 * time.Second, DownEvery: 5 * time.Second, MaxPending: 20_000, RELP: true},
			Concurrent: true,
			Checks:     []rules.Check{rules.CheckOutage, rules.CheckPendingBound, rules.CheckRELPAcked, rules.CheckNoLoss, rules.CheckResendsExplained, rules.CheckMaxBatch, rules.CheckAgeBound},
			Run:        runSteady,
		},
		{
			Name:        "relp-restart",
			Description: "Relay restarts under RELP load: the relay process is SIGKILLed and restarted on the same ports twice, then SIGTERM-stopped and restarted, while loadgen --relp sends steadily. Every message is acknowledged, missing = 0 with nothing excused, every duplicate is a seq loadgen resent, duplicates stay within what was in flight at the faults, each fault's recovery time is reported; the batch rules hold.",
			// The last answers wait for the age flush: Expected covers it.
			Quick: Params{Expected: 18 * time.Second, StartAfter: relpStartQuick, Duration: 6 * time.Second, Rate: 5_000, Conns: 20, Size: 200,
				FaultEvery: 1500 * time.Millisecond, RELP: true},
			Full: Params{Expected: 31 * time.Second, StartAfter: relpStartFull, Duration: 20 * time.Second, Rate: 10_000, Conns: 50, Size: 200,
				FaultEvery: 5 * time.Second, RELP: true},
			Relay:      OwnProcess,
			Restarts:   true,
			Concurrent: true,
			Checks:     restartChecks,
			Run:        runRestart,
		},
		{
			Name:        "relp-restart-bulk",
			Description: "Relay restarts under RELP load over the _bulk sink: as relp-restart, with the relay's elasticsearch+http sink posting to mockdest's _bulk receiver, which answers some documents 429 (resent alone) and some whole requests 429 or 500 (resent whole). The same rules.",
			Quick: Params{Expected: 18 * time.Second, StartAfter: relpStartQuick, Duration: 6 * time.Second, Rate: 5_000, Conns: 20, Size: 200,
				FaultEvery: 1500 * time.Millisecond, RELP: true, Bulk: true, NackRate: 0.1},
			Full: Params{Expected: 31 * time.Second, StartAfter: relpStartFull, Duration: 20 * time.Second, Rate: 10_000, Conns: 50, Size: 200,
				FaultEvery: 5 * time.Second, RELP: true, Bulk: true, NackRate: 0.1},
			Relay:      OwnProcess,
			Restarts:   true,
			Concurrent: true,
			Checks:     restartChecks,
			Run:        runRestart,
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
			Checks: checks([]rules.Check{rules.CheckAckTrouble, rules.CheckPendingBound, rules.CheckExactCount, rules.CheckOrder}, basic),
			Adjust: func(p *Params, cfg *Config) {
				if cfg.Sink == dest.SinkElasticsearch {
					// Over HTTP no acknowledgement goes missing: a broken
					// answer is seen at once. The short per-attempt timeout
					// that finds dropped acknowledgements would only turn a
					// slow answer on a loaded machine into a resend of
					// stored documents, which mockdest cannot tell from a
					// real duplicate.
					p.SendTimeout = 0
				}
			},
			Run: runSteady,
		},
		{
			Name:        "shutdown",
			Description: "Graceful shutdown, in two rounds: the relay is stopped in the middle of a steady load, in round 1 as the suite runs it (in-process: its context is cancelled; under --relay-process: SIGTERM), in round 2 as its own process with SIGTERM. Each time it exits cleanly after flushing, and every message it read arrives.",
			Quick:       Params{Expected: 6 * time.Second, Rate: 50_000, Conns: 20, Size: 200, ShutdownAfter: 2 * time.Second},
			Full:        Params{Expected: 12 * time.Second, Rate: 50_000, Conns: 20, Size: 200, ShutdownAfter: 5 * time.Second},
			Checks: []rules.Check{rules.CheckShutdownExit, rules.CheckShutdownDelivered, rules.CheckSignalExit, rules.CheckSignalDelivered,
				rules.CheckMaxBatch, rules.CheckAgeBound, rules.CheckNoDuplicates, rules.CheckSignalMaxBatch, rules.CheckSignalAgeBound, rules.CheckSignalNoDuplicates},
			Relay: BothWays,
			Run:   runShutdown,
		},
		{
			Name:        "overload",
			Description: overloadDescription,
			// Expected includes the drain: what the flooders left in their
			// socket buffers (megabytes each on loopback) is delivered at the
			// destination's pace after the load (full: about 40 s of it).
			// The fairness window is 5 s in full (three windows in the
			// load), 2 s in quick, which has too short a load for two
			// windows of 5 s after the first. A quiet message waits for
			// its turn (one read of every flooder with data) and then
			// behind the pending backlog at the destination's pace: 200
			// flooders hold it longer than 50.
			Quick: Params{Expected: 16 * time.Second, Duration: 6 * time.Second, Conns: 50, Size: 200, Quiet: 5,
				Window: 2 * time.Second, QuietTimeout: 3 * time.Second, AckDelay: 5 * time.Millisecond, MaxRSS: 512 << 20},
			Full: Params{Expected: 60 * time.Second, Duration: 15 * time.Second, Conns: 200, Size: 200, Quiet: 5,
				Window: 5 * time.Second, QuietTimeout: 5 * time.Second, AckDelay: 5 * time.Millisecond, MaxRSS: 512 << 20},
			Relay:  OwnProcess,
			Checks: checks([]rules.Check{rules.CheckFairShare, rules.CheckQuietLatency, rules.CheckRSS, rules.CheckOrder}, basic),
			Adjust: func(p *Params, cfg *Config) {
				if cfg.Sink == dest.SinkElasticsearch && cfg.SinkConcurrency == 0 {
					// The destination is slow by its answer delay, as with
					// the tcp sink, whose default 8 frames in flight hide
					// it: one request at a time would make it 8 times
					// slower still. So 8 requests in flight here, and the
					// order rule left out.
					p.SinkConcurrency = 8
				}
			},
			Run: runOverload,
		},
		{
			Name:        "throughput",
			Description: throughputDescription(),
			Quick:       Params{Expected: 16 * time.Second, Conns: 50, Size: 200, Replicates: 3, StepDuration: 2 * time.Second},
			Full:        Params{Expected: 35 * time.Second, Conns: 50, Size: 200, Replicates: 5, StepDuration: 4 * time.Second},
			Relay:       OwnProcess,
			Checks:      checks([]rules.Check{rules.CheckThroughput, rules.CheckSustained, rules.CheckStepsLossless, rules.CheckSizeExact}, basic),
			Adjust: func(p *Params, cfg *Config) {
				if cfg.Conns > 0 {
					p.Conns = cfg.Conns
				}
				if cfg.Replicates > 0 {
					p.Replicates = cfg.Replicates
				}
				if cfg.Profile {
					p.Expected += p.StepDuration + time.Second // the profiled run
				}
			},
			Run: runThroughput,
		},
		{
			Name:        "victorialogs",
			Description: victoriaLogsDescription(),
			Quick:       Params{Expected: 25 * time.Second, Conns: 4, Size: 200, Replicates: 3, Messages: 200_000},
			Full:        Params{Expected: 60 * time.Second, Conns: 4, Size: 200, Replicates: 5, Messages: 500_000},
			OptIn:       true,
			Relay:       OwnProcess,
			Checks:      []rules.Check{rules.CheckIdealRatio, rules.CheckCompareLossless},
			Adjust: func(p *Params, cfg *Config) {
				if cfg.Replicates > 0 {
					p.Replicates = cfg.Replicates
				}
				if cfg.Conns > 0 {
					p.Conns = cfg.Conns
				}
			},
			Run: runVictoriaLogs,
		},
	}
}

// relpStartQuick and relpStartFull are when the concurrent RELP scenarios
// start: once the size scenario, whose rate rule wants the CPU, is over.
const (
	relpStartQuick = 8 * time.Second
	relpStartFull  = 23 * time.Second
)

// restartChecks are the relay-restart scenarios' rules.
var restartChecks = []rules.Check{rules.CheckRestarts, rules.CheckRELPAcked, rules.CheckNoLoss, rules.CheckRestartDuplicates,
	rules.CheckResendsExplained, rules.CheckMaxBatch, rules.CheckAgeBound}

// Names returns the names of the suite's scenarios, in order.
func Names() []string {
	var ns []string
	for _, s := range Suite() {
		ns = append(ns, s.Name)
	}
	return ns
}
