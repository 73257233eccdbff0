package bench

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/bench/procstat"
	"github.com/logrelay/logrelay/internal/bench/report"
	"github.com/logrelay/logrelay/internal/bench/stats"
	"github.com/logrelay/logrelay/internal/loadgen"
	"github.com/logrelay/logrelay/internal/mockdest"
	"github.com/logrelay/logrelay/internal/wire"
)

// recording feeds batches into a real mockdest Recorder, as the relay's
// frames would arrive, so that the checks judge genuine snapshots.
type recording struct {
	r    *mockdest.Recorder
	seq  uint64            // batch seq
	next map[uint32]uint64 // next message seq per stream
	t    time.Time
}

func newRecording() *recording {
	return &recording{r: mockdest.NewRecorder(), next: map[uint32]uint64{}, t: time.Now()}
}

// batch records n messages of stream (continuing its seqs) flushed for
// reason after the given age.
func (rc *recording) batch(reason string, n int, age time.Duration, stream uint32) {
	var p []byte
	for range n {
		rc.next[stream]++
		p = wire.AppendStamp(p, wire.Stamp{Stream: stream, Seq: rc.next[stream], SentNs: rc.t.UnixNano()})
		p = append(p, '\n')
	}
	rc.rawBatch(reason, age, p)
}

// seqs records one batch holding exactly the given seqs of stream.
func (rc *recording) seqs(reason string, stream uint32, seqs ...uint64) {
	var p []byte
	for _, s := range seqs {
		p = wire.AppendStamp(p, wire.Stamp{Stream: stream, Seq: s, SentNs: rc.t.UnixNano()})
		p = append(p, '\n')
		rc.next[stream] = max(rc.next[stream], s)
	}
	rc.rawBatch(reason, time.Millisecond, p)
}

func (rc *recording) rawBatch(reason string, age time.Duration, p []byte) {
	rc.seq++
	rc.t = rc.t.Add(time.Second)
	rc.r.Record(mockdest.Batch{Seq: rc.seq, Reason: reason, OldestNs: rc.t.Add(-age).UnixNano(),
		FlushNs: rc.t.UnixNano(), ArrivalNs: rc.t.Add(time.Millisecond).UnixNano()}, p)
}

func (rc *recording) snapshot() *mockdest.Snapshot {
	s := rc.r.Snapshot()
	s.Mode = "frames"
	return &s
}

// good returns parameters and an observation that pass every check.
func good() (Params, *report.Observation) {
	rc := newRecording()
	for i := range 10 {
		rc.batch("size", 100, 20*time.Millisecond, uint32(i%2))
	}
	for range 3 {
		rc.batch("age", 37, 10*time.Second+2*time.Millisecond, 0)
	}
	snap := rc.snapshot()
	snap.Misbehaviour = mockdest.Misbehaviour{DownPeriods: 3, AcksDelayed: 10, Nacks: 2, AcksDropped: 1}
	sent := snap.Streams.Distinct
	p := Params{Conns: 2, MinRate: 100_000, MinAgeFlushes: 3, MaxRSS: 512 << 20}
	o := &report.Observation{
		BatchSize: 100, FlushInterval: 10 * time.Second, AgeTolerance: 100 * time.Millisecond,
		Dest: snap,
		Load: &report.Load{Conns: 2, Sent: sent, Seconds: 1, AchievedRate: 120_000, ConnectAttempts: 10,
			Disconnects: map[string]uint64{"chaos_graceful": 3, "chaos_abortive": 4}},
		Delivery: &report.Delivery{Streams: 2, MustArrive: sent},
		Relay: &report.Relay{Received: sent, Delivered: sent, Retries: 4, ConnsPeak: 2, PendingPeak: 500,
			MaxPending: 1000, Samples: 10},
		Proc:     &procstat.Summary{PID: 42, PeakRSS: 30 << 20, Seconds: 1},
		Leak:     &report.Leak{GoroutinesBefore: 12, GoroutinesAfter: 13, FDsBefore: 10, FDsAfter: 10, Slack: 2},
		Shutdown: &report.Shutdown{Exited: true, Counted: true, Received: 1000, Arrived: 1000},
		Signal:   &report.Shutdown{Exited: true, Counted: true, Received: 900, Arrived: 900, Dest: snap},
		Alive:    &report.Alive{Sent: 200, Early: 100, Arrived: 200},
		Throughput: &report.Throughput{
			Replicates:  []report.Step{{Name: "r1", MsgsPerSec: 1e6, Sent: 10, Arrived: 10}, {Name: "r2", MsgsPerSec: 1.1e6, Sent: 10, Arrived: 10}},
			Pipe:        &report.Step{Name: "pipe", MsgsPerSec: 2e6},
			Sustained:   &report.Step{Name: "s", TargetRate: 9e5, SendRate: 8.9e5, SteadyRate: 8.8e5, Sent: 100, Arrived: 100},
			RelayMedian: 1.05e6, PipeRate: 2e6, Ratio: 0.525,
		},
		Overload: &report.Overload{Window: 2 * time.Second, Flooders: 50, Jain: []float64{0.3, 0.97, 0.95}, Starved: []int{10, 0, 0},
			QuietSent: 40, QuietArrived: 40, QuietTimeout: 3 * time.Second,
			QuietLatency: []time.Duration{time.Second, 1100 * time.Millisecond, 1200 * time.Millisecond}},
	}
	return p, o
}

func TestChecks(t *testing.T) {
	t.Parallel()
	type mut func(p *Params, o *report.Observation)
	tests := []struct {
		check   Check
		breaks  mut // a recorded result that breaks the rule
		missing mut // the measurement is absent
	}{
		{CheckMaxBatch, func(p *Params, o *report.Observation) {
			rc := newRecording()
			rc.batch("size", 100, time.Millisecond, 0)
			rc.batch("age", 101, time.Second, 0)
			o.Dest = rc.snapshot()
		}, func(p *Params, o *report.Observation) { o.Dest = newRecording().snapshot() }},
		{CheckSizeExact, func(p *Params, o *report.Observation) {
			rc := newRecording()
			rc.batch("size", 100, time.Millisecond, 0)
			rc.batch("size", 99, time.Millisecond, 0)
			o.Dest = rc.snapshot()
		}, func(p *Params, o *report.Observation) {
			rc := newRecording()
			rc.batch("age", 5, 10*time.Second, 0) // batches, but none by size
			o.Dest = rc.snapshot()
		}},
		{CheckAgeBound, func(p *Params, o *report.Observation) {
			rc := newRecording()
			rc.batch("age", 5, 10*time.Second, 0)
			rc.batch("size", 100, 10*time.Second+300*time.Millisecond, 0) // a size batch too old
			o.Dest = rc.snapshot()
		}, func(p *Params, o *report.Observation) { o.Dest = nil }},
		{CheckAgeFlushes, func(p *Params, o *report.Observation) { p.MinAgeFlushes = 4 },
			func(p *Params, o *report.Observation) { o.Dest = newRecording().snapshot() }},
		{CheckAgeNotEarly, func(p *Params, o *report.Observation) {
			rc := newRecording()
			rc.batch("age", 5, 10*time.Second, 0)
			rc.batch("age", 5, 4*time.Second, 0)
			o.Dest = rc.snapshot()
		}, func(p *Params, o *report.Observation) {
			rc := newRecording()
			rc.batch("size", 100, time.Millisecond, 0)
			o.Dest = rc.snapshot()
		}},
		{CheckNoLoss, func(p *Params, o *report.Observation) {
			o.Delivery.Lost = 3
			o.Delivery.Examples = []report.Gap{{Stream: 1, SeqRange: wire.SeqRange{From: 5, To: 7}}}
		}, func(p *Params, o *report.Observation) { o.Delivery = nil }},
		{CheckExactCount, func(p *Params, o *report.Observation) { o.Load.Sent++ },
			func(p *Params, o *report.Observation) { o.Load = nil }},
		{CheckNoDuplicates, func(p *Params, o *report.Observation) {
			rc := newRecording()
			rc.seqs("size", 0, 1, 2, 3)
			rc.seqs("size", 0, 3, 4) // seq 3 again, in a different batch
			o.Dest = rc.snapshot()
		}, func(p *Params, o *report.Observation) { o.Dest = newRecording().snapshot() }},
		{CheckOrder, func(p *Params, o *report.Observation) {
			rc := newRecording()
			rc.seqs("size", 0, 1, 2, 5)
			rc.seqs("size", 0, 3, 4)
			o.Dest = rc.snapshot()
		}, func(p *Params, o *report.Observation) { o.Dest = nil }},
		{CheckRate, func(p *Params, o *report.Observation) { o.Load.AchievedRate = 99_999 },
			func(p *Params, o *report.Observation) { o.Load = nil }},
		{CheckConns, func(p *Params, o *report.Observation) { o.Relay.ConnsPeak = 1 },
			func(p *Params, o *report.Observation) { o.Relay.Samples = 0 }},
		{CheckRSS, func(p *Params, o *report.Observation) { o.Proc.PeakRSS = 600 << 20 },
			func(p *Params, o *report.Observation) { o.Proc = nil }},
		{CheckChaos, func(p *Params, o *report.Observation) { delete(o.Load.Disconnects, "chaos_abortive") },
			func(p *Params, o *report.Observation) { o.Load = nil }},
		{CheckAlive, func(p *Params, o *report.Observation) { o.Alive.Early = 99 },
			func(p *Params, o *report.Observation) { o.Alive = nil }},
		{CheckLeaks, func(p *Params, o *report.Observation) { o.Leak.FDsAfter = o.Leak.FDsBefore + 3 },
			func(p *Params, o *report.Observation) { o.Leak = nil }},
		{CheckOutage, func(p *Params, o *report.Observation) { o.Dest.Misbehaviour.DownPeriods = 1 },
			func(p *Params, o *report.Observation) { o.Relay = nil }},
		{CheckAckTrouble, func(p *Params, o *report.Observation) { o.Relay.Retries = 0 },
			func(p *Params, o *report.Observation) { o.Dest = nil }},
		{CheckPendingBound, func(p *Params, o *report.Observation) { o.Relay.PendingPeak = 1001 },
			func(p *Params, o *report.Observation) { o.Relay.MaxPending = 0 }},
		{CheckShutdownExit, func(p *Params, o *report.Observation) { o.Shutdown.ExitCode, o.Shutdown.Err = 1, "undelivered" },
			func(p *Params, o *report.Observation) { o.Shutdown.Exited = false }},
		{CheckShutdownDelivered, func(p *Params, o *report.Observation) { o.Shutdown.Arrived-- },
			func(p *Params, o *report.Observation) { o.Shutdown.Counted = false }},
		{CheckSignalExit, func(p *Params, o *report.Observation) { o.Signal.ExitCode = 1 },
			func(p *Params, o *report.Observation) { o.Signal = nil }},
		{CheckSignalDelivered, func(p *Params, o *report.Observation) { o.Signal.PrefixGap = 1 },
			func(p *Params, o *report.Observation) { o.Signal.Received = 0 }},
		{CheckSignalMaxBatch, func(p *Params, o *report.Observation) {
			rc := newRecording()
			rc.batch("shutdown", 101, time.Second, 0)
			o.Signal.Dest = rc.snapshot()
		}, func(p *Params, o *report.Observation) { o.Signal.Dest = nil }},
		{CheckSignalAgeBound, func(p *Params, o *report.Observation) {
			rc := newRecording()
			rc.batch("shutdown", 10, 11*time.Second, 0)
			o.Signal.Dest = rc.snapshot()
		}, func(p *Params, o *report.Observation) { o.Signal = nil }},
		{CheckSignalNoDuplicates, func(p *Params, o *report.Observation) {
			rc := newRecording()
			rc.seqs("shutdown", 0, 1, 2)
			rc.seqs("shutdown", 0, 2, 3)
			o.Signal.Dest = rc.snapshot()
		}, func(p *Params, o *report.Observation) { o.Signal.Dest = newRecording().snapshot() }},
		{CheckFairShare, func(p *Params, o *report.Observation) { o.Overload.Jain[2] = 0.5 },
			func(p *Params, o *report.Observation) { o.Overload = nil }},
		{CheckFairShare, func(p *Params, o *report.Observation) { o.Overload.Starved[1] = 1 }, // a fair index, one starved
			func(p *Params, o *report.Observation) {
				o.Overload.Jain, o.Overload.Starved = o.Overload.Jain[:1], o.Overload.Starved[:1]
			}},
		{CheckQuietLatency, func(p *Params, o *report.Observation) { o.Overload.QuietArrived = 39 },
			func(p *Params, o *report.Observation) { o.Overload.QuietSent = 0 }},
		{CheckThroughput, func(p *Params, o *report.Observation) { o.Throughput.Ratio = 0 },
			func(p *Params, o *report.Observation) { o.Throughput.Pipe = nil }},
		{CheckSustained, func(p *Params, o *report.Observation) { o.Throughput.Sustained.SteadyRate = 0.9 * 9e5 },
			func(p *Params, o *report.Observation) { o.Throughput.Sustained = nil }},
		{CheckStepsLossless, func(p *Params, o *report.Observation) { o.Throughput.Replicates[1].Lost = 1 },
			func(p *Params, o *report.Observation) { o.Throughput.Replicates = nil }},
		{CheckStepsLossless, func(p *Params, o *report.Observation) { // the profiled run counts here
			o.Throughput.Profiled = &report.Step{Name: "p", MsgsPerSec: 9e5, Sent: 10, Arrived: 9, Lost: 1}
		}, func(p *Params, o *report.Observation) { o.Throughput.Replicates = nil }},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.check.Name] = true
		t.Run(tt.check.Name, func(t *testing.T) {
			p, o := good()
			if r := tt.check.Fn(p, o); !r.Pass {
				t.Fatalf("good recording: got FAIL (%s) want PASS", r.Measured)
			}
			p, o = good()
			tt.breaks(&p, o)
			if r := tt.check.Fn(p, o); r.Pass {
				t.Errorf("recording that breaks the rule: got PASS (%s) want FAIL", r.Measured)
			}
			p, o = good()
			tt.missing(&p, o)
			r := tt.check.Fn(p, o)
			if r.Pass {
				t.Errorf("missing measurement: got PASS (%s) want FAIL", r.Measured)
			}
			if !strings.HasPrefix(r.Measured, "missing") {
				t.Errorf("missing measurement: got %q want a \"missing: …\" message", r.Measured)
			}
			if r.Rule == "" || r.Expected == "" {
				t.Errorf("rule %+v lacks a name or an expectation", r)
			}
		})
	}
	// Every check of the suite is exercised above.
	for _, s := range Scenarios() {
		for _, c := range s.Checks {
			if !covered[c.Name] {
				t.Errorf("scenario %s: check %q has no breaking-recording test", s.Name, c.Name)
			}
		}
	}
	// Nothing at all recorded: every check fails.
	for _, s := range Scenarios() {
		for _, c := range s.Checks {
			if r := c.Fn(Params{}, &report.Observation{}); r.Pass {
				t.Errorf("scenario %s: check %q passes an empty observation", s.Name, c.Name)
			}
		}
	}
}

func TestRegressionRule(t *testing.T) {
	t.Parallel()
	base := []float64{100, 101, 99, 100.5, 99.5}
	drop := []float64{80, 81, 79, 80.5, 79.5}
	g, err := stats.Compare(base, drop, 0.10, 0.05)
	if err != nil {
		t.Fatal(err)
	}
	if r := regressionRule(&report.Regression{Gate: g, Alpha: 0.10, MinEffect: 0.05, Before: base, After: drop}); r.Pass {
		t.Errorf("20%% significant drop: got PASS (%s)", r.Measured)
	}
	g, _ = stats.Compare(base, base, 0.10, 0.05)
	r := regressionRule(&report.Regression{Gate: g, Alpha: 0.10, MinEffect: 0.05, Before: base, After: base})
	if !r.Pass || !strings.Contains(r.Measured, "p = ") || !strings.Contains(r.Measured, "delta") {
		t.Errorf("no change: got %v %q, want PASS with p-value and delta", r.Pass, r.Measured)
	}
	if r := regressionRule(&report.Regression{Err: "baseline has 1 replicate"}); r.Pass {
		t.Error("gate without data: got PASS")
	}
}

func TestDelivery(t *testing.T) {
	t.Parallel()
	rng := func(a, b uint64) wire.SeqRange { return wire.SeqRange{From: a, To: b} }
	// Stream 0: 1..100 sent; 10..12 failed, 50..60 at risk; 11 and 55..70 missing.
	// Lost: 61..70 (55..60 excused, 11 excused).
	streams := []loadgen.StreamReport{{ID: 0, LastSeq: 100, Failed: []wire.SeqRange{rng(10, 12)}, AtRisk: []wire.SeqRange{rng(50, 60)}}}
	missing := func(stream uint32, upTo uint64) []wire.SeqRange {
		return []wire.SeqRange{rng(11, 11), rng(55, 70)}
	}
	d := delivery(streams, missing)
	if d.MustArrive != 100-3-11 || d.Excused != 14 || d.Lost != 10 {
		t.Errorf("got must=%d excused=%d lost=%d want 86 14 10", d.MustArrive, d.Excused, d.Lost)
	}
	if len(d.Examples) != 1 || d.Examples[0].SeqRange != rng(61, 70) {
		t.Errorf("examples: got %v want [61-70]", d.Examples)
	}
	if got := subtract(rng(1, 10), []wire.SeqRange{rng(1, 2), rng(4, 4), rng(9, 12)}); len(got) != 2 || got[0] != rng(3, 3) || got[1] != rng(5, 8) {
		t.Errorf("subtract: got %v want [3-3 5-8]", got)
	}
	if got := mergeRanges([]wire.SeqRange{rng(5, 9), rng(0, 2), rng(3, 4), rng(20, 30)}, 25); len(got) != 2 || got[0] != rng(1, 9) || got[1] != rng(20, 25) {
		t.Errorf("mergeRanges: got %v want [1-9 20-25]", got)
	}
}

// TestShutdownRuleNames: a shutdown round's rules say how its relay was
// stopped, whatever the round.
func TestShutdownRuleNames(t *testing.T) {
	t.Parallel()
	sigterm := &report.Shutdown{Round: 1, Mode: modeSIGTERM, Exited: true, Counted: true, Received: 10, Arrived: 10}
	cancelled := &report.Shutdown{Round: 1, Mode: modeCancel, Exited: true, Counted: true, Received: 10, Arrived: 10}
	tests := []struct {
		check              Check
		o                  report.Observation
		name, expect, meas string
	}{
		{CheckShutdownExit, report.Observation{Shutdown: sigterm}, "round 1 (process, SIGTERM): exits cleanly", "exit status 0", "exit 0 in"},
		{CheckShutdownExit, report.Observation{Shutdown: cancelled}, "round 1 (in-process, context cancelled): exits cleanly", "Serve returns nil", "Serve returned nil in"},
		{CheckShutdownDelivered, report.Observation{Shutdown: sigterm}, "round 1 (process, SIGTERM): everything read delivered", "arrivals", "read 10"},
		{CheckSignalExit, report.Observation{Signal: sigterm}, "round 2 (process, SIGTERM): exits cleanly", "exit status 0", "exit 0 in"},
		{CheckSignalDelivered, report.Observation{}, "round 2: everything read delivered", "arrivals", "missing"},
		{CheckShutdownExit, report.Observation{}, "round 1: exits cleanly", "a clean exit", "missing"},
		{CheckSignalMaxBatch, report.Observation{Signal: sigterm}, "round 2 (process, SIGTERM): no batch exceeds batch-size", "max batch", "missing"},
		{CheckSignalNoDuplicates, report.Observation{}, "round 2: no duplicates", "0 duplicate", "missing"},
	}
	for _, tt := range tests {
		r := tt.check.Fn(Params{}, &tt.o)
		if r.Rule != tt.name || !strings.Contains(r.Expected, tt.expect) || !strings.HasPrefix(r.Measured, tt.meas) {
			t.Errorf("%s: got %q, expected %q, measured %q want %q, %q…, %q…", tt.check.Name, r.Rule, r.Expected, r.Measured, tt.name, tt.expect, tt.meas)
		}
	}
}

// TestFullSpeedSteps: under --profile the profiled run comes on top of the
// replicates, which alone make the median and the gate.
func TestFullSpeedSteps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		replicates int
		profile    bool
		want       []fullSpeedStep
	}{
		{3, false, []fullSpeedStep{{"relay #1", false}, {"relay #2", false}, {"relay #3", false}}},
		{2, true, []fullSpeedStep{{"relay (profiled)", true}, {"relay #1", false}, {"relay #2", false}}},
		{0, true, []fullSpeedStep{{"relay (profiled)", true}, {"relay #1", false}}},
	}
	for _, tt := range tests {
		if got := fullSpeedSteps(tt.replicates, tt.profile); !slices.Equal(got, tt.want) {
			t.Errorf("fullSpeedSteps(%d, %v): got %v want %v", tt.replicates, tt.profile, got, tt.want)
		}
	}
}
