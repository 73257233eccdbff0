package rules_test

import (
	"strings"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/bench/procstat"
	"github.com/logrelay/logrelay/internal/bench/report"
	"github.com/logrelay/logrelay/internal/bench/rules"
	"github.com/logrelay/logrelay/internal/bench/scenario"
	"github.com/logrelay/logrelay/internal/bench/stats"
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
func good() (rules.Want, *report.Observation) {
	rc := newRecording()
	for i := range 10 {
		rc.batch("size", 100, 20*time.Millisecond, uint32(i%2))
	}
	for range 3 {
		rc.batch("age", 37, 10*time.Second+2*time.Millisecond, 0)
	}
	snap := rc.snapshot()
	snap.Misbehaviour = mockdest.Misbehaviour{DownPeriods: 3, AcksDelayed: 10, Nacks: 2, AcksDropped: 1}
	snap.SenderRestarts = 3
	snap.Bulk = &mockdest.BulkStats{Injected: mockdest.BulkInjected{Delayed: 10, ItemsRejected: 5, RequestsRejected: 1, ServerErrors: 1, Broken: 1}}
	sent := snap.Streams.Distinct
	p := rules.Want{Conns: 2, MinRate: 100_000, MinAgeFlushes: 3, MaxRSS: 512 << 20}
	o := &report.Observation{
		BatchSize: 100, FlushInterval: 10 * time.Second, AgeTolerance: 100 * time.Millisecond,
		Dest: snap,
		Load: &report.Load{Conns: 2, Sent: sent, Seconds: 1, AchievedRate: 120_000, ConnectAttempts: 10,
			Disconnects: map[string]uint64{"chaos_graceful": 3, "chaos_abortive": 4},
			RELP:        &report.RELPLoad{Acked: sent, Resent: 5, Window: 128}},
		Restarts: &report.Restarts{Faults: []report.Fault{
			{Signal: "SIGKILL", InFlight: 40, Up: 50 * time.Millisecond, FirstDelivery: 60 * time.Millisecond, Cleared: 70 * time.Millisecond},
			{Signal: "SIGKILL", InFlight: 30, Up: 50 * time.Millisecond, FirstDelivery: 60 * time.Millisecond, Cleared: 70 * time.Millisecond},
			{Signal: "SIGTERM", InFlight: 0, Up: 50 * time.Millisecond, FirstDelivery: 60 * time.Millisecond, Cleared: 50 * time.Millisecond}}},
		Resends:  &report.Resends{Resent: 5, Duplicated: 2, Explained: 2},
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
		Compare: &report.Compare{Rows: []report.CompareRow{
			{Name: "ideal", BatchSize: 100, Concurrency: 2, MsgsPerSec: 100, Steps: []report.CompareStep{{MsgsPerSec: 100, Stored: 10}}},
			{Name: "relay", Ideal: "ideal", BatchSize: 100, Concurrency: 2, MsgsPerSec: 95, Ratio: 0.95, Steps: []report.CompareStep{{MsgsPerSec: 95, Stored: 10}}},
		}},
	}
	return p, o
}

func TestChecks(t *testing.T) {
	t.Parallel()
	type mut func(p *rules.Want, o *report.Observation)
	tests := []struct {
		check   rules.Check
		breaks  mut // a recorded result that breaks the rule
		missing mut // the measurement is absent
	}{
		{rules.CheckMaxBatch, func(p *rules.Want, o *report.Observation) {
			rc := newRecording()
			rc.batch("size", 100, time.Millisecond, 0)
			rc.batch("age", 101, time.Second, 0)
			o.Dest = rc.snapshot()
		}, func(p *rules.Want, o *report.Observation) { o.Dest = newRecording().snapshot() }},
		{rules.CheckSizeExact, func(p *rules.Want, o *report.Observation) {
			rc := newRecording()
			rc.batch("size", 100, time.Millisecond, 0)
			rc.batch("size", 99, time.Millisecond, 0)
			o.Dest = rc.snapshot()
		}, func(p *rules.Want, o *report.Observation) {
			rc := newRecording()
			rc.batch("age", 5, 10*time.Second, 0) // batches, but none by size
			o.Dest = rc.snapshot()
		}},
		{rules.CheckAgeBound, func(p *rules.Want, o *report.Observation) {
			rc := newRecording()
			rc.batch("age", 5, 10*time.Second, 0)
			rc.batch("size", 100, 10*time.Second+300*time.Millisecond, 0) // a size batch too old
			o.Dest = rc.snapshot()
		}, func(p *rules.Want, o *report.Observation) { o.Dest = nil }},
		{rules.CheckAgeFlushes, func(p *rules.Want, o *report.Observation) { p.MinAgeFlushes = 4 },
			func(p *rules.Want, o *report.Observation) { o.Dest = newRecording().snapshot() }},
		{rules.CheckAgeNotEarly, func(p *rules.Want, o *report.Observation) {
			rc := newRecording()
			rc.batch("age", 5, 10*time.Second, 0)
			rc.batch("age", 5, 4*time.Second, 0)
			o.Dest = rc.snapshot()
		}, func(p *rules.Want, o *report.Observation) {
			rc := newRecording()
			rc.batch("size", 100, time.Millisecond, 0)
			o.Dest = rc.snapshot()
		}},
		{rules.CheckNoLoss, func(p *rules.Want, o *report.Observation) {
			o.Delivery.Lost = 3
			o.Delivery.Examples = []report.Gap{{Stream: 1, SeqRange: wire.SeqRange{From: 5, To: 7}}}
		}, func(p *rules.Want, o *report.Observation) { o.Delivery = nil }},
		{rules.CheckExactCount, func(p *rules.Want, o *report.Observation) { o.Load.Sent++ },
			func(p *rules.Want, o *report.Observation) { o.Load = nil }},
		{rules.CheckRELPAcked, func(p *rules.Want, o *report.Observation) {
			o.Load.RELP.Acked--
			o.Load.RELP.Unacked++
		}, func(p *rules.Want, o *report.Observation) { o.Load.RELP = nil }},
		{rules.CheckRestarts, func(p *rules.Want, o *report.Observation) { o.Restarts.Faults[1].Cleared = 0 },
			func(p *rules.Want, o *report.Observation) { o.Restarts = nil }},
		{rules.CheckRestartDuplicates, func(p *rules.Want, o *report.Observation) {
			rc := newRecording()
			rc.seqs("size", 0, 1, 2, 3)
			rc.seqs("size", 0, 3, 4)
			o.Dest = rc.snapshot()
			for i := range o.Restarts.Faults {
				o.Restarts.Faults[i].InFlight = 0 // one duplicate, nothing in flight
			}
		}, func(p *rules.Want, o *report.Observation) { o.Load.RELP = nil }},
		{rules.CheckResendsExplained, func(p *rules.Want, o *report.Observation) {
			o.Resends.Unexplained = 1
			o.Resends.Examples = []report.Gap{{Stream: 1, SeqRange: wire.SeqRange{From: 9, To: 9}}}
		}, func(p *rules.Want, o *report.Observation) { o.Resends = nil }},
		{rules.CheckNoDuplicates, func(p *rules.Want, o *report.Observation) {
			rc := newRecording()
			rc.seqs("size", 0, 1, 2, 3)
			rc.seqs("size", 0, 3, 4) // seq 3 again, in a different batch
			o.Dest = rc.snapshot()
		}, func(p *rules.Want, o *report.Observation) { o.Dest = newRecording().snapshot() }},
		{rules.CheckOrder, func(p *rules.Want, o *report.Observation) {
			rc := newRecording()
			rc.seqs("size", 0, 1, 2, 5)
			rc.seqs("size", 0, 3, 4)
			o.Dest = rc.snapshot()
		}, func(p *rules.Want, o *report.Observation) { o.Dest = nil }},
		{rules.CheckRate, func(p *rules.Want, o *report.Observation) { o.Load.AchievedRate = 99_999 },
			func(p *rules.Want, o *report.Observation) { o.Load = nil }},
		{rules.CheckConns, func(p *rules.Want, o *report.Observation) { o.Relay.ConnsPeak = 1 },
			func(p *rules.Want, o *report.Observation) { o.Relay.Samples = 0 }},
		{rules.CheckRSS, func(p *rules.Want, o *report.Observation) { o.Proc.PeakRSS = 600 << 20 },
			func(p *rules.Want, o *report.Observation) { o.Proc = nil }},
		{rules.CheckChaos, func(p *rules.Want, o *report.Observation) { delete(o.Load.Disconnects, "chaos_abortive") },
			func(p *rules.Want, o *report.Observation) { o.Load = nil }},
		{rules.CheckAlive, func(p *rules.Want, o *report.Observation) { o.Alive.Early = 99 },
			func(p *rules.Want, o *report.Observation) { o.Alive = nil }},
		{rules.CheckLeaks, func(p *rules.Want, o *report.Observation) { o.Leak.FDsAfter = o.Leak.FDsBefore + 3 },
			func(p *rules.Want, o *report.Observation) { o.Leak = nil }},
		{rules.CheckOutage, func(p *rules.Want, o *report.Observation) { o.Dest.Misbehaviour.DownPeriods = 1 },
			func(p *rules.Want, o *report.Observation) { o.Relay = nil }},
		{rules.CheckAckTrouble, func(p *rules.Want, o *report.Observation) { o.Relay.Retries = 0 },
			func(p *rules.Want, o *report.Observation) { o.Dest = nil }},
		{rules.CheckBulkTrouble, func(p *rules.Want, o *report.Observation) { o.Dest.Bulk.Injected.Broken = 0 },
			func(p *rules.Want, o *report.Observation) { o.Dest.Bulk = nil }},
		{rules.CheckIdealRatio, func(p *rules.Want, o *report.Observation) { o.Compare.Rows[1].Ratio = 0.89 },
			func(p *rules.Want, o *report.Observation) { o.Compare.Rows[1].Ideal = "" }},
		{rules.CheckCompareLossless, func(p *rules.Want, o *report.Observation) { o.Compare.Rows[0].Steps[0].Err = "engine down" },
			func(p *rules.Want, o *report.Observation) { o.Compare = nil }},
		{rules.CheckCompareLossless, func(p *rules.Want, o *report.Observation) { o.Compare.Rows[1].Duplicates = 1 },
			func(p *rules.Want, o *report.Observation) { o.Compare.Rows = nil }},
		{rules.CheckPendingBound, func(p *rules.Want, o *report.Observation) { o.Relay.PendingPeak = 1001 },
			func(p *rules.Want, o *report.Observation) { o.Relay.MaxPending = 0 }},
		{rules.CheckShutdownExit, func(p *rules.Want, o *report.Observation) { o.Shutdown.ExitCode, o.Shutdown.Err = 1, "undelivered" },
			func(p *rules.Want, o *report.Observation) { o.Shutdown.Exited = false }},
		{rules.CheckShutdownDelivered, func(p *rules.Want, o *report.Observation) { o.Shutdown.Arrived-- },
			func(p *rules.Want, o *report.Observation) { o.Shutdown.Counted = false }},
		{rules.CheckSignalExit, func(p *rules.Want, o *report.Observation) { o.Signal.ExitCode = 1 },
			func(p *rules.Want, o *report.Observation) { o.Signal = nil }},
		{rules.CheckSignalDelivered, func(p *rules.Want, o *report.Observation) { o.Signal.PrefixGap = 1 },
			func(p *rules.Want, o *report.Observation) { o.Signal.Received = 0 }},
		{rules.CheckSignalMaxBatch, func(p *rules.Want, o *report.Observation) {
			rc := newRecording()
			rc.batch("shutdown", 101, time.Second, 0)
			o.Signal.Dest = rc.snapshot()
		}, func(p *rules.Want, o *report.Observation) { o.Signal.Dest = nil }},
		{rules.CheckSignalAgeBound, func(p *rules.Want, o *report.Observation) {
			rc := newRecording()
			rc.batch("shutdown", 10, 11*time.Second, 0)
			o.Signal.Dest = rc.snapshot()
		}, func(p *rules.Want, o *report.Observation) { o.Signal = nil }},
		{rules.CheckSignalNoDuplicates, func(p *rules.Want, o *report.Observation) {
			rc := newRecording()
			rc.seqs("shutdown", 0, 1, 2)
			rc.seqs("shutdown", 0, 2, 3)
			o.Signal.Dest = rc.snapshot()
		}, func(p *rules.Want, o *report.Observation) { o.Signal.Dest = newRecording().snapshot() }},
		{rules.CheckFairShare, func(p *rules.Want, o *report.Observation) { o.Overload.Jain[2] = 0.5 },
			func(p *rules.Want, o *report.Observation) { o.Overload = nil }},
		{rules.CheckFairShare, func(p *rules.Want, o *report.Observation) { o.Overload.Jain[1] = 0.899 }, // just under the bound
			func(p *rules.Want, o *report.Observation) { o.Overload.Jain, o.Overload.Starved = nil, nil }},
		{rules.CheckFairShare, func(p *rules.Want, o *report.Observation) { o.Overload.Starved[1] = 1 }, // a fair index, one starved
			func(p *rules.Want, o *report.Observation) {
				o.Overload.Jain, o.Overload.Starved = o.Overload.Jain[:1], o.Overload.Starved[:1]
			}},
		{rules.CheckQuietLatency, func(p *rules.Want, o *report.Observation) { o.Overload.QuietArrived = 39 },
			func(p *rules.Want, o *report.Observation) { o.Overload.QuietSent = 0 }},
		{rules.CheckQuietLatency, func(p *rules.Want, o *report.Observation) { // none arrived
			o.Overload.QuietArrived, o.Overload.QuietLatency = 0, nil
		}, func(p *rules.Want, o *report.Observation) { o.Overload = nil }},
		{rules.CheckThroughput, func(p *rules.Want, o *report.Observation) { o.Throughput.Ratio = 0 },
			func(p *rules.Want, o *report.Observation) { o.Throughput.Pipe = nil }},
		{rules.CheckSustained, func(p *rules.Want, o *report.Observation) { o.Throughput.Sustained.SteadyRate = 0.9 * 9e5 },
			func(p *rules.Want, o *report.Observation) { o.Throughput.Sustained = nil }},
		{rules.CheckStepsLossless, func(p *rules.Want, o *report.Observation) { o.Throughput.Replicates[1].Lost = 1 },
			func(p *rules.Want, o *report.Observation) { o.Throughput.Replicates = nil }},
		{rules.CheckStepsLossless, func(p *rules.Want, o *report.Observation) { // the profiled run counts here
			o.Throughput.Profiled = &report.Step{Name: "p", MsgsPerSec: 9e5, Sent: 10, Arrived: 9, Lost: 1}
		}, func(p *rules.Want, o *report.Observation) { o.Throughput.Replicates = nil }},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.check.Name] = true
		t.Run(tt.check.Name, func(t *testing.T) {
			p, o := good()
			if r := tt.check.Judge(p, o); !r.Pass {
				t.Fatalf("good recording: got FAIL (%s) want PASS", r.Measured)
			}
			p, o = good()
			tt.breaks(&p, o)
			if r := tt.check.Judge(p, o); r.Pass {
				t.Errorf("recording that breaks the rule: got PASS (%s) want FAIL", r.Measured)
			}
			p, o = good()
			tt.missing(&p, o)
			r := tt.check.Judge(p, o)
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
	for _, s := range scenario.Suite() {
		for _, c := range s.Checks {
			if !covered[c.Name] {
				t.Errorf("scenario %s: check %q has no breaking-recording test", s.Name, c.Name)
			}
		}
	}
	// Nothing at all recorded: every check fails.
	for _, s := range scenario.Suite() {
		for _, c := range s.Checks {
			if r := c.Judge(rules.Want{}, &report.Observation{}); r.Pass {
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
	if r := rules.Regression(&report.Regression{Gate: g, Alpha: 0.10, MinEffect: 0.05, Before: base, After: drop}); r.Pass {
		t.Errorf("20%% significant drop: got PASS (%s)", r.Measured)
	}
	g, _ = stats.Compare(base, base, 0.10, 0.05)
	r := rules.Regression(&report.Regression{Gate: g, Alpha: 0.10, MinEffect: 0.05, Before: base, After: base})
	if !r.Pass || !strings.Contains(r.Measured, "p = ") || !strings.Contains(r.Measured, "delta") {
		t.Errorf("no change: got %v %q, want PASS with p-value and delta", r.Pass, r.Measured)
	}
	if r := rules.Regression(&report.Regression{Err: "baseline has 1 replicate"}); r.Pass {
		t.Error("gate without data: got PASS")
	}
}

// TestShutdownRuleNames: a shutdown round's rules say how its relay was
// stopped, whatever the round.
func TestShutdownRuleNames(t *testing.T) {
	t.Parallel()
	sigterm := &report.Shutdown{Round: 1, Mode: report.ModeSIGTERM, Exited: true, Counted: true, Received: 10, Arrived: 10}
	cancelled := &report.Shutdown{Round: 1, Mode: report.ModeCancel, Exited: true, Counted: true, Received: 10, Arrived: 10}
	tests := []struct {
		check              rules.Check
		o                  report.Observation
		name, expect, meas string
	}{
		{rules.CheckShutdownExit, report.Observation{Shutdown: sigterm}, "round 1 (process, SIGTERM): exits cleanly", "exit status 0", "exit 0 in"},
		{rules.CheckShutdownExit, report.Observation{Shutdown: cancelled}, "round 1 (in-process, context cancelled): exits cleanly", "Serve returns nil", "Serve returned nil in"},
		{rules.CheckShutdownDelivered, report.Observation{Shutdown: sigterm}, "round 1 (process, SIGTERM): everything read delivered", "arrivals", "read 10"},
		{rules.CheckSignalExit, report.Observation{Signal: sigterm}, "round 2 (process, SIGTERM): exits cleanly", "exit status 0", "exit 0 in"},
		{rules.CheckSignalDelivered, report.Observation{}, "round 2: everything read delivered", "arrivals", "missing"},
		{rules.CheckShutdownExit, report.Observation{}, "round 1: exits cleanly", "a clean exit", "missing"},
		{rules.CheckSignalMaxBatch, report.Observation{Signal: sigterm}, "round 2 (process, SIGTERM): no batch exceeds batch-size", "max batch", "missing"},
		{rules.CheckSignalNoDuplicates, report.Observation{}, "round 2: no duplicates", "0 duplicate", "missing"},
	}
	for _, tt := range tests {
		r := tt.check.Judge(rules.Want{}, &tt.o)
		if r.Rule != tt.name || !strings.Contains(r.Expected, tt.expect) || !strings.HasPrefix(r.Measured, tt.meas) {
			t.Errorf("%s: got %q, expected %q, measured %q want %q, %q…, %q…", tt.check.Name, r.Rule, r.Expected, r.Measured, tt.name, tt.expect, tt.meas)
		}
	}
}

// TestBulkExcuses: into the _bulk receiver, duplicates after broken
// answers and late arrivals after injected failures are counted apart;
// any beyond them still fail.
func TestBulkExcuses(t *testing.T) {
	t.Parallel()
	dup := func() *mockdest.Snapshot {
		rc := newRecording()
		rc.seqs("size", 0, 1, 2, 3)
		rc.seqs("size", 0, 3, 4) // seq 3 again
		return rc.snapshot()
	}
	late := func() *mockdest.Snapshot {
		rc := newRecording()
		rc.seqs("size", 0, 1, 2, 5)
		rc.seqs("size", 0, 3, 4) // 3 and 4 late
		return rc.snapshot()
	}
	tests := []struct {
		name  string
		check rules.Check
		snap  *mockdest.Snapshot
		bulk  mockdest.BulkStats
		pass  bool
		meas  string
	}{
		{"dup after break", rules.CheckNoDuplicates, dup(), mockdest.BulkStats{DuplicatesAfterBreak: 1}, true, "0 duplicates (1 more after injected broken answers)"},
		{"dup beyond breaks", rules.CheckNoDuplicates, dup(), mockdest.BulkStats{}, false, "1 duplicates"},
		{"late after faults", rules.CheckOrder, late(), mockdest.BulkStats{ReorderedAfterFault: 2}, true, "0 reordered in 1 streams (2 more after injected failures)"},
		{"late beyond faults", rules.CheckOrder, late(), mockdest.BulkStats{ReorderedAfterFault: 1}, false, "1 reordered in 1 streams (1 more after injected failures)"},
	}
	for _, tt := range tests {
		tt.snap.Bulk = &tt.bulk
		r := tt.check.Judge(rules.Want{}, &report.Observation{Dest: tt.snap})
		if r.Pass != tt.pass || r.Measured != tt.meas {
			t.Errorf("%s: got %v %q want %v %q", tt.name, r.Pass, r.Measured, tt.pass, tt.meas)
		}
	}
}

// TestForBulk: the acks rule becomes the _bulk one, and the order rule
// is left out above sink concurrency 1, each change with a note.
func TestForBulk(t *testing.T) {
	t.Parallel()
	cs := []rules.Check{rules.CheckAckTrouble, rules.CheckOrder, rules.CheckNoLoss}
	names := func(cs []rules.Check) []string {
		var n []string
		for _, c := range cs {
			n = append(n, c.Name)
		}
		return n
	}
	got, notes := rules.ForBulk(cs, 1)
	if want := []string{rules.CheckBulkTrouble.Name, rules.CheckOrder.Name, rules.CheckNoLoss.Name}; strings.Join(names(got), "|") != strings.Join(want, "|") || len(notes) != 1 {
		t.Errorf("concurrency 1: got %q, %d notes want %q, 1 note", names(got), len(notes), want)
	}
	got, notes = rules.ForBulk(cs, 4)
	if want := []string{rules.CheckBulkTrouble.Name, rules.CheckNoLoss.Name}; strings.Join(names(got), "|") != strings.Join(want, "|") || len(notes) != 2 || !strings.Contains(notes[1], "--sink-concurrency 4") {
		t.Errorf("concurrency 4: got %q, notes %q want %q and a note on the order rule", names(got), notes, want)
	}
	if cs[0].Name != rules.CheckAckTrouble.Name {
		t.Error("ForBulk changed its argument")
	}
}
