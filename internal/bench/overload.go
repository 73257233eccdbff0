package bench

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/logrelay/logrelay/internal/bench/report"
	"github.com/logrelay/logrelay/internal/loadgen"
)

// quietBase is the first stream id of the overload scenario's quiet
// clients, above any flooder's.
const quietBase = 90_000_000

// overloadWindow is the window over which the flooders' shares are
// compared.
const overloadWindow = 2 * time.Second

var overloadScenario = &Scenario{
	Name: "overload",
	Description: "Overload fairness: unpaced flooders and a few quiet clients (10 msgs/s each) into a destination slower than they are " +
		"(every acknowledgement 5 ms late), so the pending limit is reached again and again. Every flooder gets a fair share of " +
		"what is delivered (Jain's index per window), every quiet message arrives promptly, nothing is lost, memory stays bounded " +
		"and the batch rules hold.",
	// Expected includes the drain: what the flooders left in their
	// socket buffers (megabytes each on loopback) is delivered at the
	// destination's pace after the load.
	Quick: Params{Expected: 16 * time.Second, Duration: 6 * time.Second, Conns: 50, Size: 200, Quiet: 5,
		AckDelay: 5 * time.Millisecond, MaxRSS: 512 << 20},
	Full: Params{Expected: 45 * time.Second, Duration: 15 * time.Second, Conns: 200, Size: 200, Quiet: 5,
		AckDelay: 5 * time.Millisecond, MaxRSS: 512 << 20},
	Relay:  ownProcess,
	Checks: checks([]Check{CheckFairShare, CheckQuietLatency, CheckRSS, CheckOrder}, basic),
	run:    runOverload,
}

// CheckFairShare: in every window after the first, Jain's index of the
// flooders' arrivals is at least 0.9 and none got nothing.
var CheckFairShare = Check{"fair share under overload", func(p Params, o *report.Observation) report.Rule {
	r := newRule("fair share under overload", "Jain's index ≥ 0.9 and no flooder starved in every window after the first")
	ov := o.Overload
	if ov == nil || len(ov.Jain) < 2 {
		return missing(r, "two windows of arrivals")
	}
	worst, starved := 1.0, 0
	for i := 1; i < len(ov.Jain); i++ {
		worst, starved = min(worst, ov.Jain[i]), max(starved, ov.Starved[i])
	}
	return verdict(r, worst >= 0.9 && starved == 0, "worst window: index %.3f, %d of %d flooders starved (%d windows of %v)",
		worst, starved, ov.Flooders, len(ov.Jain), ov.Window)
}}

// CheckQuietLatency: every quiet message arrives, within the timeout.
var CheckQuietLatency = Check{"quiet clients served", func(p Params, o *report.Observation) report.Rule {
	r := newRule("quiet clients served", "every quiet message arrives within 3 s")
	ov := o.Overload
	if ov == nil || ov.QuietSent == 0 {
		return missing(r, "quiet messages")
	}
	r.Expected = fmt.Sprintf("every quiet message arrives within %v", ov.QuietTimeout)
	lat := "none arrived"
	if len(ov.QuietLatency) == 3 {
		lat = fmt.Sprintf("p50 %v, p99 %v, max %v", ov.QuietLatency[0].Round(time.Millisecond),
			ov.QuietLatency[1].Round(time.Millisecond), ov.QuietLatency[2].Round(time.Millisecond))
	}
	return verdict(r, ov.QuietArrived == ov.QuietSent, "%d of %d arrived in time; %s", ov.QuietArrived, ov.QuietSent, lat)
}}

// runOverload: loadgen floods unpaced while the quiet clients each send
// one stamped message every 100 ms (or when the last one arrived, if
// later) and time its arrival at mockdest; a message still on its way when
// the load ends is not counted. The flooders' arrivals are sampled every
// window.
func runOverload(ctx context.Context, e *env, p Params, rec *report.Scenario) error {
	r, err := e.start(ctx, rec.Name, p, rec, true, destConfig{AckDelay: p.AckDelay})
	if err != nil {
		return err
	}
	ov := &report.Overload{Window: overloadWindow, Flooders: p.Conns, QuietTimeout: 3 * time.Second}
	rec.Obs.Overload = ov
	lctx, stop := context.WithCancel(ctx)
	defer stop()

	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	var qerr error
	for q := range p.Quiet {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := uint32(quietBase + q)
			w, err := dialStamp(lctx, r.h.Addr(), id, p.Size)
			if err != nil {
				mu.Lock()
				qerr = err
				mu.Unlock()
				return
			}
			defer w.close()
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for n := 1; ; n++ {
				start := time.Now()
				if err := w.burst(1); err != nil {
					return
				}
				got := r.d.waitStream(lctx, id, n, ov.QuietTimeout)
				if got < n && lctx.Err() != nil {
					return // cut short by the end of the load: not counted
				}
				mu.Lock()
				ov.QuietSent++
				if got >= n {
					ov.QuietArrived++
					lat = append(lat, time.Since(start))
				}
				mu.Unlock()
				select {
				case <-tick.C:
				case <-lctx.Done():
					return
				}
			}
		}()
	}
	// The flooders' arrivals, window by window, until the load ends.
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		prev := make([]uint64, p.Conns)
		t := time.NewTicker(overloadWindow)
		defer t.Stop()
		for {
			select {
			case <-t.C:
			case <-lctx.Done():
				return
			}
			shares := make([]float64, p.Conns)
			starved := 0
			for i := range p.Conns {
				st, _ := r.d.srv.Recorder().Stream(uint32(i))
				shares[i] = float64(st.Distinct - prev[i])
				prev[i] = st.Distinct
				if shares[i] == 0 {
					starved++
				}
			}
			mu.Lock()
			ov.Jain = append(ov.Jain, jainIndex(shares))
			ov.Starved = append(ov.Starved, starved)
			mu.Unlock()
		}
	}()
	start := time.Now()
	lc := e.loadCfg(p, r.h.Addr())
	rep, lerr := r.load(ctx, lc)
	elapsed := time.Since(start)
	stop()
	wg.Wait()
	<-sampled
	var streams []loadgen.StreamReport
	var sent uint64
	if rep != nil {
		streams, sent = rep.Streams, rep.Sent
	}
	_, ferr := r.finish(ctx, streams, sent+uint64(ov.QuietArrived))
	if ov.QuietSent > 0 && rec.Obs.Dest != nil {
		ov.ArrivalsPerS = float64(rec.Obs.Dest.Messages) / elapsed.Seconds()
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		ov.QuietLatency = []time.Duration{lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*99/100)], lat[len(lat)-1]}
	}
	rec.Notes = append(rec.Notes, "A quiet message waits for its connection's turn (one read of every flooder that has data) "+
		"and then behind what is pending; the latency is from its write to its arrival at mockdest.")
	return errJoin(qerr, lerr, ferr)
}

// jainIndex returns Jain's fairness index of xs, (Σx)²/(n·Σx²): 1 when all
// are equal, 1/n when one has everything.
func jainIndex(xs []float64) float64 {
	var sum, sq float64
	for _, x := range xs {
		sum += x
		sq += x * x
	}
	if sq == 0 {
		return 0
	}
	return sum * sum / (float64(len(xs)) * sq)
}
