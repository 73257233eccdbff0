package scenario

import (
	"context"
	"fmt"
	"time"

	"github.com/logrelay/logrelay/internal/bench/dest"
	"github.com/logrelay/logrelay/internal/bench/pipe"
	"github.com/logrelay/logrelay/internal/bench/procstat"
	"github.com/logrelay/logrelay/internal/bench/report"
	"github.com/logrelay/logrelay/internal/bench/sut"
	"github.com/logrelay/logrelay/internal/loadgen"
	"github.com/logrelay/logrelay/internal/mockdest"
)

// stepResult is a relay step of the throughput scenario: its row of the
// steps table, and mockdest's record, the delivery account and loadgen's
// report for the scenario's observation. A throughput step is one load run
// through a system under test (the relay, the bare pipe, a peer) into a
// fresh mockdest, measured the same way for each (measure).
type stepResult struct {
	step     report.Step
	snap     *mockdest.Snapshot
	delivery *report.Delivery
	load     *report.Load
}

// relayStep runs one throughput step against a fresh relay process and
// mockdest. rate 0 = as fast as possible. With profile, the relay's
// profiles are saved in OUT/profiles/.
func (t *Trial) relayStep(ctx context.Context, name string, rate float64, profile bool) (stepResult, error) {
	p := t.P
	var sr stepResult
	s := &sr.step
	*s = report.Step{Name: name, TargetRate: rate, Conns: p.Conns, Size: p.Size}
	d, err := t.startDest(ctx, dest.Config{})
	if err != nil {
		s.Err = err.Error()
		return sr, err
	}
	h, err := t.startRelay(ctx, t.Scenario.Name, sut.Config{Sink: d.Sink(), Profile: profile}, sut.Process)
	if err != nil {
		d.Stop()
		s.Err = err.Error()
		return sr, err
	}
	lc := t.loadCfg(p, h.Addr())
	lc.Rate, lc.Duration = rate, p.StepDuration
	if rate > 0 {
		// Open-loop at a high rate: groups of 16 messages per connection
		// written back-to-back (the average rate is unchanged), so the
		// pacer's wake-ups do not cost more CPU than the relay under test;
		// 2 s longer, for at least two whole seconds of steady state.
		lc.Duration += 2 * time.Second
		lc.Burst = 16
	}
	m := measure(ctx, d, ownPID(h), lc, func(g *loadgen.Generator) func() error {
		t.prog.Track(t.Scenario.Name, name, func() uint64 { return g.Live().Sent })
		if profile {
			return t.profile(ctx, h) // saves the profiles once the load has ended
		}
		return nil
	})
	var sent uint64
	if m.rep != nil {
		sent = m.rep.Sent
	}
	if h.Kind() != sut.External {
		sut.WaitIdle(ctx, h, drainTimeout)
	}
	res := stop(ctx, h, d, sent, t.cfg.FlushInterval+2*time.Second)
	t.prog.Track(t.Scenario.Name, "", nil)
	snap, derr := d.Stop()
	m.fill(s, snap)
	if m.rep != nil {
		s.SteadyRate = steadyRate(snap.Throughput, m.rep.Start, m.rep.End)
		sr.delivery = delivery(m.rep.Streams, d.MissingRanges)
		sr.load = loadObs(m.rep, lc.Conns)
		s.Lost = sr.delivery.Lost
	}
	sr.snap = snap
	err = m.err
	if res.Err != nil {
		err = errJoin(err, fmt.Errorf("%s: relay shutdown: %w", name, res.Err))
	}
	err = errJoin(err, derr)
	if err != nil {
		s.Err = err.Error()
	}
	return sr, err
}

// pipeStep measures the bare TCP pipe (its own process when PipeBin is
// set) with mockdest in lines mode.
func (t *Trial) pipeStep(ctx context.Context) report.Step {
	return t.throughStep(ctx, "bare TCP pipe", dest.Config{Mode: "lines", Listen: "127.0.0.1:0"}, func(d *dest.Dest) (string, int, func(), error) {
		pc, err := t.pipeConfig(d.Addr())
		if err != nil {
			return "", 0, nil, err
		}
		pp, err := pipe.Start(ctx, pc)
		if err != nil {
			return "", 0, nil, err
		}
		return pp.Addr, pp.PID, pp.Stop, nil
	})
}

// peerStep measures another relay, already running, into a mockdest at
// its destination address (lines mode unless the peer says frames).
func (t *Trial) peerStep(ctx context.Context, peer Peer) report.Step {
	mode := peer.DestMode
	if mode == "" {
		mode = "lines"
	}
	return t.throughStep(ctx, peer.Name, dest.Config{Mode: mode, Listen: peer.DestAddr}, func(*dest.Dest) (string, int, func(), error) {
		return peer.Addr, peer.PID, func() {}, nil
	})
}

// throughStep runs one full-speed step through what start starts in
// front of a mockdest for dc — at addr, its process pid (0 = not
// sampled) — and measures it like a relay step.
func (t *Trial) throughStep(ctx context.Context, name string, dc dest.Config, start func(d *dest.Dest) (addr string, pid int, stop func(), err error)) report.Step {
	s := report.Step{Name: name, Conns: t.P.Conns, Size: t.P.Size}
	d, err := t.startDest(ctx, dc)
	if err != nil {
		s.Err = err.Error()
		return s
	}
	defer d.Stop()
	addr, pid, stop, err := start(d)
	if err != nil {
		s.Err = err.Error()
		return s
	}
	defer stop()
	if err := sut.WaitListening(ctx, addr, 10*time.Second); err != nil {
		s.Err = err.Error()
		return s
	}
	lc := t.loadCfg(t.P, addr)
	lc.Rate, lc.Duration = 0, t.P.StepDuration
	m := measure(ctx, d, pid, lc, nil)
	if m.err != nil {
		s.Err = m.err.Error()
	}
	if m.rep == nil {
		m.fill(&s, nil)
		return s
	}
	// Let what is still on its way arrive (a pipe or a peer has no
	// acknowledgements to wait for), for the loss count.
	d.WaitQuiet(ctx, time.Second)
	snap := d.Snapshot()
	m.fill(&s, &snap)
	s.Lost = delivery(m.rep.Streams, d.MissingRanges).Lost
	return s
}

// measured is one load run's own figures: loadgen's report, what had
// arrived when it ended, and the process's CPU and RSS.
type measured struct {
	rep  *loadgen.Report
	err  error
	at   mockdest.Progress
	proc procstat.Summary
	ok   bool // proc was sampled
}

// measure runs loadgen with lc into d while sampling process pid (≤ 0 =
// none). started, if set, is told of the generator before it runs and may
// return what to do once the load has ended, before the sampling stops;
// that function's error joins loadgen's.
func measure(ctx context.Context, d *dest.Dest, pid int, lc loadgen.Config, started func(*loadgen.Generator) (after func() error)) measured {
	var m measured
	var after func() error
	w := procstat.Watch(ctx, pid, sampleEvery)
	g, err := loadgen.New(lc)
	if err == nil {
		if started != nil {
			after = started(g)
		}
		m.rep, err = g.Run(ctx)
	}
	m.at = d.Progress()
	if after != nil {
		err = errJoin(err, after())
	}
	m.err = err
	m.proc, m.ok = w.Stop()
	return m
}

// fill sets s's CPU and RSS, and with loadgen's report its send figures
// and, from snap (mockdest's record after the step), its arrivals: the
// rate counts what had arrived when loadgen's run ended.
func (m measured) fill(s *report.Step, snap *mockdest.Snapshot) {
	if m.ok {
		s.CPUSeconds, s.PeakRSS = m.proc.CPUSeconds, m.proc.PeakRSS
	}
	if m.rep == nil || snap == nil {
		return
	}
	secs := m.rep.End.Sub(m.rep.Start).Seconds()
	s.Seconds, s.Sent, s.SendRate = secs, m.rep.Sent, m.rep.AchievedRate
	s.Arrived = snap.Streams.Distinct
	if secs > 0 {
		s.MsgsPerSec = float64(m.at.Messages) / secs
		if snap.Messages > 0 {
			s.MiBPerSec = s.MsgsPerSec * float64(snap.Bytes) / float64(snap.Messages) / (1 << 20)
		}
	}
}

// steadyRate returns the mean of the per-second arrival counts between
// from and to, leaving out the first and the last second (partial, and the
// pipeline filling or draining); 0 when fewer than one second remains.
func steadyRate(pts []mockdest.Point, from, to time.Time) float64 {
	var sum float64
	n := 0
	for _, p := range pts {
		if p.Unix > from.Unix() && p.Unix < to.Unix()-1 {
			sum += float64(p.Messages)
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}
