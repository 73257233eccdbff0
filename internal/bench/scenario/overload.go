package scenario

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/logrelay/logrelay/internal/bench/report"
	"github.com/logrelay/logrelay/internal/loadgen"
)

// quietBase is the first stream id of the overload scenario's quiet
// clients, above any flooder's (loadgen's streams are 0..conns-1) and
// below probeStream; the stamp holds 8 decimal digits of stream id.
const quietBase = 90_000_000

// quietEvery is how often a quiet client sends a message (10 msgs/s).
const quietEvery = 100 * time.Millisecond

// quietTimeout is how long a quiet message may take to arrive: the quiet
// rule's bound.
const quietTimeout = 3 * time.Second

// overloadDescription is the overload scenario's description.
const overloadDescription = "Overload fairness: unpaced flooders and a few quiet clients (10 msgs/s each) into a destination slower than they are " +
	"(every acknowledgement 5 ms late), so the pending limit is reached again and again. Every flooder gets a fair share of " +
	"what is delivered (Jain's index per window), every quiet message arrives promptly, nothing is lost, memory stays bounded " +
	"and the batch rules hold."

// runOverload: loadgen floods unpaced while the quiet clients each send
// one stamped message every 100 ms (or when the last one arrived, if
// later) and time its arrival at mockdest; a message still on its way when
// the load ends is not counted. The flooders' arrivals are sampled every
// window.
func runOverload(ctx context.Context, t *Trial) error {
	p, rec := t.P, t.Rec
	r, err := t.startOne(ctx)
	if err != nil {
		return err
	}
	ov := &report.Overload{Window: p.Window, Flooders: p.Conns, QuietTimeout: quietTimeout}
	rec.Obs.Overload = ov
	lctx, stop := context.WithCancel(ctx)
	defer stop()

	var mu sync.Mutex // guards ov's series and counts, lat, qerr
	var lat []time.Duration
	var qerr error
	var wg sync.WaitGroup
	for q := range p.Quiet {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := uint32(quietBase + q)
			w, err := dialStamp(lctx, r.h.Addr(), id, p.Size, "quiet ", 'q')
			if err != nil {
				mu.Lock()
				qerr = errJoin(qerr, err)
				mu.Unlock()
				return
			}
			defer w.close()
			tick := time.NewTicker(quietEvery)
			defer tick.Stop()
			for n := 1; ; n++ {
				start := time.Now()
				if err := w.burst(1); err != nil {
					return
				}
				got := r.d.WaitStream(lctx, id, n, quietTimeout)
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
		tick := time.NewTicker(p.Window)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
			case <-lctx.Done():
				return
			}
			shares := make([]float64, p.Conns)
			starved := 0
			for i := range p.Conns {
				st, _ := r.d.Stream(uint32(i))
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
	rep, lerr := r.load(ctx, t.loadCfg(p, r.h.Addr()))
	elapsed := time.Since(start)
	arrived := r.d.Progress().Messages // during the load, not the drain
	rec.Events = append(rec.Events, report.Event{At: time.Now(), Label: "load ends"})
	stop()
	wg.Wait()
	<-sampled
	var streams []loadgen.StreamReport
	var sent uint64
	if rep != nil {
		streams, sent = rep.Streams, rep.Sent
	}
	_, ferr := r.finish(ctx, streams, sent+uint64(ov.QuietArrived))
	ov.ArrivalsPerS = float64(arrived) / elapsed.Seconds()
	slices.Sort(lat)
	if len(lat) > 0 {
		ov.QuietLatency = []time.Duration{lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*99/100)], lat[len(lat)-1]}
	}
	rec.Notes = append(rec.Notes, "A quiet message waits for its connection's turn (one read of every flooder that has data) "+
		"and then behind what is pending; the latency is from its write to its arrival at mockdest.")
	return errJoin(qerr, lerr, ferr)
}

// jainIndex returns Jain's fairness index of xs, (Σx)²/(n·Σx²): 1 when all
// are equal, 1/n when one has everything, 0 when none has anything.
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
