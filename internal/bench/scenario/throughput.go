package scenario

import (
	"context"
	"fmt"
	"strings"

	"github.com/logrelay/logrelay/internal/bench/report"
	"github.com/logrelay/logrelay/internal/bench/rules"
	"github.com/logrelay/logrelay/internal/bench/stats"
)

// runThroughput measures the relay process at full speed (replicates,
// after a profiled run under --profile), then open-loop at the first of
// sustainFractions of the median rate that holds, and measures the bare
// pipe and any peers in the same run.
func runThroughput(ctx context.Context, t *Trial) error {
	tp := &report.Throughput{}
	t.Rec.Obs.Throughput = tp
	var errs []error
	for _, fs := range fullSpeedSteps(t.P.Replicates, t.cfg.Profile) {
		sr, err := t.relayStep(ctx, fs.name, 0, fs.profile)
		if fs.profile {
			tp.Profiled = &sr.step
		} else {
			tp.Replicates = append(tp.Replicates, sr.step)
		}
		errs = append(errs, err)
		if err != nil && sr.step.Sent == 0 {
			break // the relay could not even start: no use repeating it
		}
	}
	if rates := tp.Rates(); len(rates) > 0 {
		tp.RelayMedian = stats.Median(rates)
		// Search downwards for the highest open-loop rate the relay
		// sustains with nothing lost; the batch rules are checked on that
		// step's mockdest record.
		for _, f := range sustainFractions {
			sr, err := t.relayStep(ctx, fmt.Sprintf("relay open-loop at %.0f%%", 100*f), f*tp.RelayMedian, false)
			if tp.Sustained != nil {
				tp.NotHeld = append(tp.NotHeld, *tp.Sustained)
			}
			tp.Sustained = &sr.step
			t.Rec.Obs.Dest, t.Rec.Obs.Delivery, t.Rec.Obs.Load = sr.snap, sr.delivery, sr.load
			if err != nil {
				errs = append(errs, err)
				break
			}
			if rules.Sustained(sr.step) {
				break
			}
		}
	}
	ps := t.pipeStep(ctx)
	tp.Pipe = &ps
	if ps.Err == "" {
		tp.PipeRate = ps.MsgsPerSec
	}
	if tp.PipeRate > 0 {
		tp.Ratio = tp.RelayMedian / tp.PipeRate
	}
	for _, peer := range t.cfg.Peers {
		tp.Peers = append(tp.Peers, t.peerStep(ctx, peer))
	}
	t.Rec.Notes = append(t.Rec.Notes, throughputNote(t.P))
	return errJoin(errs...)
}

// throughputDescription is the throughput scenario's description, naming
// the open-loop fractions runThroughput tries and CheckSustained's bound.
func throughputDescription() string {
	fs := make([]string, len(sustainFractions))
	for i, f := range sustainFractions {
		fs[i] = fmt.Sprintf("%.0f%%", 100*f)
	}
	tried := strings.Join(fs, ", ")
	if n := len(fs); n > 1 {
		tried = strings.Join(fs[:n-1], ", ") + " or " + fs[n-1]
	}
	return fmt.Sprintf("Throughput: the relay, as its own process, at full speed over 50 connections (or --conns), in replicates; "+
		"then open-loop at %s of their median rate, the first that holds (sent and delivered in steady state at ≥ 97%% of the "+
		"target, nothing lost; the rule needs ≥ %.0f%%), with the batch rules checked on that step; the same full-speed step "+
		"through a bare TCP pipe gives the ceiling, and the ratio is reported.", tried, 100*rules.MinSustained)
}

// throughputNote explains the throughput table's figures.
func throughputNote(p Params) string {
	return fmt.Sprintf("msgs/s counts arrivals at mockdest during loadgen's run (%d connections, as fast as possible, "+
		"TCP backpressure from the relay); CPU s and peak RSS are the relay process's own (/proc), not loadgen's or mockdest's. "+
		"All three share this machine's cores, so compare ratios within one run.", p.Conns)
}

// fullSpeedStep is one full-speed run of the relay.
type fullSpeedStep struct {
	name    string
	profile bool // profiled: slowed by the profiling, so not a replicate
}

// fullSpeedSteps returns the full-speed runs of the throughput scenario:
// with profile, a profiled run first, then the replicates (at least one),
// which alone make the median, the sustained-rate target and the
// regression gate.
func fullSpeedSteps(replicates int, profile bool) []fullSpeedStep {
	var ss []fullSpeedStep
	if profile {
		ss = append(ss, fullSpeedStep{name: "relay (profiled)", profile: true})
	}
	for i := range max(replicates, 1) {
		ss = append(ss, fullSpeedStep{name: fmt.Sprintf("relay #%d", i+1)})
	}
	return ss
}

// sustainFractions are the fractions of the saturation rate tried, in
// order, for the sustained open-loop step; the last is rules.MinSustained.
//
// The saturation rate is measured closed-loop (loadgen writes as fast as
// the relay reads, in large writes); paced, loadgen and mockdest spend
// more of the shared cores per message, so on a 2-core machine the
// open-loop rate that holds is well below it: 60–75% on a quiet machine,
// and a CI run on record held only at 50%. The search therefore goes down
// to 30% before it gives up.
var sustainFractions = []float64{0.9, 0.75, 0.6, 0.5, 0.4, rules.MinSustained}
