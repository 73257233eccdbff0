package scenario

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
	"time"

	"github.com/logrelay/logrelay/internal/bench/dest"
	"github.com/logrelay/logrelay/internal/bench/report"
	"github.com/logrelay/logrelay/internal/bench/sut"
	"github.com/logrelay/logrelay/internal/loadgen"
)

// restartSignals are the faults of the relay-restart scenarios, one every
// Params.FaultEvery: two SIGKILLs, then a SIGTERM.
var restartSignals = []syscall.Signal{syscall.SIGKILL, syscall.SIGKILL, syscall.SIGTERM}

// runRestart: loadgen --relp sends steadily to a relay process that is
// SIGKILLed and restarted on the same ports twice, then SIGTERM-stopped
// and restarted once, one fault every FaultEvery. After each fault it
// measures the recovery from mockdest's arrivals and loadgen's answers
// (report.Fault), then the load ends and the usual teardown judges the
// delivery. With Params.Bulk the relay's sink is elasticsearch+http into
// mockdest's _bulk receiver, which fails items and whole requests as
// dest maps Params.NackRate (with the run's --sink elasticsearch, every
// relp-restart does).
func runRestart(ctx context.Context, t *Trial) error {
	if t.cfg.RelayAddr != "" {
		return fmt.Errorf("%w: the bench cannot kill an external relay (--relay-addr)", ErrNotApplicable)
	}
	p := t.P
	dc := dest.Config{NackRate: p.NackRate}
	if p.Bulk {
		dc.Sink = dest.SinkElasticsearch
	}
	r, err := t.start(ctx, t.Rec, sut.Process, dc)
	if err != nil {
		return err
	}
	h, ok := r.h.(*sut.ProcessRelay)
	if !ok {
		_, ferr := r.finish(ctx, nil, 0)
		return errJoin(fmt.Errorf("%w: the relay is not a process the bench started", ErrNotApplicable), ferr)
	}
	lc := t.loadCfg(p, h.RELPAddr())
	lc.OutDir = filepath.Join(r.dir, "loadgen")
	g, err := loadgen.New(lc)
	if err != nil {
		_, ferr := r.finish(ctx, nil, 0)
		return errJoin(err, ferr)
	}
	r.setCounter(func() uint64 { return g.Live().Sent })
	type result struct {
		rep *loadgen.Report
		err error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() { rep, err := g.Run(ctx); done <- result{rep, err} }()

	rs := &report.Restarts{}
	t.Rec.Obs.Restarts = rs
	var ferr error
	for i, sig := range restartSignals {
		at := start.Add(time.Duration(i+1) * p.FaultEvery)
		select {
		case <-ctx.Done():
		case <-time.After(time.Until(at)):
		}
		if ctx.Err() != nil {
			break
		}
		next := at.Add(p.FaultEvery)
		if i == len(restartSignals)-1 {
			next = start.Add(p.Duration + lc.RELPFinalWait)
		}
		var f report.Fault
		h, f, err = restartOnce(ctx, r, g, h, sig, next)
		rs.Faults = append(rs.Faults, f)
		t.Rec.Events = append(t.Rec.Events, report.Event{At: f.At, Label: f.Signal})
		if err != nil {
			ferr = fmt.Errorf("fault %d (%s): %w", i+1, f.Signal, err)
			break
		}
	}
	lr := <-done
	var streams []loadgen.StreamReport
	var sent uint64
	if lr.rep != nil {
		r.rec.Obs.Load = loadObs(lr.rep, lc.Conns)
		streams, sent = lr.rep.Streams, lr.rep.Sent
	}
	_, serr := r.finish(ctx, streams, sent)
	t.Rec.Notes = append(t.Rec.Notes, fmt.Sprintf("The relay ran as %d processes in turn on the same ports; its counters are the last one's, "+
		"its CPU and RSS the first one's. Recovery times count from the signal: up = the new process accepts connections, "+
		"first delivery = the new process's first batch at mockdest (its seq 1 again: a sender restart), backlog cleared = every stream has had answered "+
		"each message it had written when the old process was gone.", len(rs.Faults)+1))
	return errJoin(ferr, lr.err, serr)
}

// restartOnce stops h with sig, restarts it on the same ports, points the
// run at the new process and measures the recovery until next at the
// latest. It returns the new process (h itself when the restart failed).
func restartOnce(ctx context.Context, r *run, g *loadgen.Generator, h *sut.ProcessRelay, sig syscall.Signal, next time.Time) (*sut.ProcessRelay, report.Fault, error) {
	f := report.Fault{Signal: map[syscall.Signal]string{syscall.SIGKILL: "SIGKILL", syscall.SIGTERM: "SIGTERM"}[sig], At: time.Now()}
	var stopErr error
	if sig == syscall.SIGKILL {
		h.Kill()
	} else {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
		res := h.Stop(sctx)
		cancel()
		if res.Err != nil || !res.Exited || res.ExitCode != 0 {
			stopErr = fmt.Errorf("SIGTERM: exit %d: %v", res.ExitCode, res.Err)
		}
	}
	f.Exit = time.Since(f.At)
	live, marks := g.Live(), g.RELPMarks()
	f.SentAt, f.InFlight = live.Sent, live.Sent-min(live.Sent, live.RELPAcked)
	// The recovery is watched from the old process's exit on, while the
	// new one starts: loadgen may reconnect before Restart returns.
	r0 := r.d.Progress().SenderRestarts
	wctx, stopWatch := context.WithDeadline(ctx, next)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for wctx.Err() == nil && (f.FirstDelivery == 0 || f.Cleared == 0) {
			// The new process's first batch reuses seq 1 with a later
			// flush time: mockdest counts a sender restart.
			if f.FirstDelivery == 0 && r.d.Progress().SenderRestarts > r0 {
				f.FirstDelivery = time.Since(f.At)
			}
			if f.Cleared == 0 && g.RELPAnswered(marks) {
				f.Cleared = time.Since(f.At)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	nh, err := h.Restart(ctx)
	up := time.Since(f.At)
	if err != nil {
		stopWatch()
		<-watched
		f.Err = err.Error()
		return h, f, errors.Join(stopErr, err)
	}
	r.h = nh
	r.w.setRelay(nh)
	<-watched
	stopWatch()
	f.Up = up
	if stopErr != nil {
		f.Err = stopErr.Error()
	}
	return nh, f, stopErr
}
