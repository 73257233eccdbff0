package scenario

import (
	"context"
	"fmt"
	"time"

	"github.com/logrelay/logrelay/internal/bench/report"
	"github.com/logrelay/logrelay/internal/bench/sut"
	"github.com/logrelay/logrelay/internal/loadgen"
)

// probeStream is the stream id of the probe sent after the chaos; loadgen's
// streams are 0..conns-1.
// (The stamp holds 8 decimal digits of stream id.)
const probeStream = 99_999_999

// runChaos: chaos load against a relay process; then the relay must have
// no client connection left, relay a probe batch, and be back to its
// goroutine and fd baseline.
func runChaos(ctx context.Context, t *Trial) error {
	r, err := t.startOne(ctx)
	if err != nil {
		return err
	}
	p, rec := t.P, t.Rec
	before, berr := r.h.Stats()
	rec.Events = append(rec.Events, report.Event{At: time.Now(), Label: "chaos starts"})
	rep, lerr := r.load(ctx, t.loadCfg(p, r.h.Addr()))
	rec.Events = append(rec.Events, report.Event{At: time.Now(), Label: "load ends"})
	sut.WaitIdle(ctx, r.h, 5*time.Second)

	// The probe: two batches' worth of messages on a fresh connection. The
	// relay's batcher may still hold a partial batch from the chaos, so
	// at least one full batch of them must arrive at once, the rest by the
	// shutdown flush. (Waiting for the probe stream itself, not for the
	// total: the batch that completes the chaos leftovers would count.)
	n := 2 * t.cfg.BatchSize
	alive := &report.Alive{Sent: n}
	if err := sendProbe(ctx, r.h.Addr(), n, p.Size); err != nil {
		alive.Err = err.Error()
	}
	alive.Early = r.d.WaitStream(ctx, probeStream, t.cfg.BatchSize, 5*time.Second)
	rec.Obs.Alive = alive
	sut.WaitIdle(ctx, r.h, 5*time.Second)

	if berr == nil {
		rec.Obs.Leak = waitBaseline(r.h, before, 5*time.Second)
	}
	var streams []loadgen.StreamReport
	var sent uint64
	if rep != nil {
		streams, sent = rep.Streams, rep.Sent+uint64(n) // the probe too
	}
	_, ferr := r.finish(ctx, streams, sent)
	if st, ok := r.d.Stream(probeStream); ok {
		alive.Arrived = int(st.Distinct)
	}
	rec.Notes = append(rec.Notes, "Reordering is reported, not failed, here: a stream that reconnects continues on a new "+
		"connection, and the relay does not order messages across two connections, so messages written just before a close "+
		"may arrive after messages written on the next connection. Messages written since the last point known safe before "+
		"an abortive close (loadgen's at-risk ranges) and failed writes are excused from the loss check; every other seq must arrive.")
	if rep != nil {
		if d := rec.Obs.Dest; d != nil {
			rec.Notes = append(rec.Notes, fmt.Sprintf("Reordered arrivals at reconnect boundaries: %d.", d.Streams.Reordered))
		}
	}
	return errJoin(lerr, ferr)
}

// sendProbe writes n stamped messages of probeStream, seqs 1..n, on one
// new connection and closes it gracefully.
func sendProbe(ctx context.Context, addr string, n, size int) error {
	w, err := dialStamp(ctx, addr, probeStream, size, "probe ", 'x')
	if err != nil {
		return err
	}
	return errJoin(w.burst(n), w.close())
}

// waitBaseline waits up to timeout for the relay's goroutines and fds to
// return to within the slack of before, and returns what it saw last.
func waitBaseline(h sut.Relay, before sut.Stats, timeout time.Duration) *report.Leak {
	leak := &report.Leak{GoroutinesBefore: before.Goroutines, FDsBefore: before.FDs, Slack: 2, Source: h.Kind().String() + " relay /metrics"}
	deadline := time.Now().Add(timeout)
	for {
		after, err := h.Stats()
		if err == nil {
			leak.GoroutinesAfter, leak.FDsAfter = after.Goroutines, after.FDs
			if after.Goroutines <= before.Goroutines+leak.Slack && after.FDs <= before.FDs+leak.Slack {
				return leak
			}
		}
		if time.Now().After(deadline) {
			return leak
		}
		time.Sleep(100 * time.Millisecond)
	}
}
