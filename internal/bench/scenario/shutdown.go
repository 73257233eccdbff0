package scenario

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/logrelay/logrelay/internal/bench/dest"
	"github.com/logrelay/logrelay/internal/bench/report"
	"github.com/logrelay/logrelay/internal/bench/sut"
	"github.com/logrelay/logrelay/internal/loadgen"
)

// shutdownMode returns the report's Mode of a round whose relay is of
// kind k.
func shutdownMode(k sut.Kind) string {
	if k == sut.InProcess {
		return report.ModeCancel
	}
	return report.ModeSIGTERM
}

// runShutdown stops the relay in the middle of a steady load in two
// rounds, each with its own relay, mockdest and loadgen and its files in
// SCENARIO/round-N/: round 1 stops the relay as the suite runs it
// (in-process by cancelling its context; under --relay-process with
// SIGTERM), round 2 a relay process with SIGTERM. Each must exit cleanly
// with every message it read delivered, and the batch rules hold in each.
// Round 1's mockdest record is the scenario's.
func runShutdown(ctx context.Context, t *Trial) error {
	rec := t.Rec
	if t.cfg.RelayAddr != "" {
		return fmt.Errorf("%w: the bench cannot signal an external relay (--relay-addr)", ErrNotApplicable)
	}
	s1, err1 := t.shutdownUnderLoad(ctx, 1, sut.InProcess)
	rec.Obs.Shutdown = s1
	s2, err2 := t.shutdownUnderLoad(ctx, 2, sut.Process)
	rec.Obs.Signal = s2
	rec.Notes = append(rec.Notes, fmt.Sprintf("Two rounds, each with its own relay, mockdest and loadgen: round 1 (%s), "+
		"files in %s/round-1/, and round 2 (%s), files in %s/round-2/. The batch rules (batch size, batch age, "+
		"duplicates) judge both rounds: unnamed, round 1's mockdest record, which is the scenario's; named after "+
		"round 2, its own.", shutdownMode(t.relays.KindFor(sut.InProcess)), rec.Name, report.ModeSIGTERM, rec.Name))
	return errJoin(err1, err2)
}

// shutdownUnderLoad runs one load-then-stop round with a relay of kind
// want. The relay's own shutdown error is the result's Err, judged by the
// round's exit rule; the returned error is loadgen's or mockdest's (which
// writes the round's files when it stops). Round 1's mockdest record
// becomes the scenario's.
func (t *Trial) shutdownUnderLoad(ctx context.Context, round int, want sut.Kind) (*report.Shutdown, error) {
	p, rec := t.P, t.Rec
	dir := filepath.Join(rec.Name, fmt.Sprintf("round-%d", round)) // in the run directory
	scratch := &report.Scenario{Name: rec.Name}
	r, err := t.start(ctx, scratch, want, dest.Config{OutDir: filepath.Join(t.cfg.Out, dir, "mockdest")})
	if err != nil {
		return nil, fmt.Errorf("round %d: %w", round, err)
	}
	r.dir = filepath.Join(t.cfg.Out, dir)
	mode := shutdownMode(r.h.Kind())
	lctx, lcancel := context.WithCancel(ctx)
	defer lcancel()
	lc := t.loadCfg(p, r.h.Addr())
	lc.Duration = p.ShutdownAfter + time.Minute // the signal comes first
	type result struct {
		rep *loadgen.Report
		err error
	}
	done := make(chan result, 1)
	go func() { rep, err := r.load(lctx, lc); done <- result{rep, err} }()

	select {
	case <-ctx.Done():
	case <-time.After(p.ShutdownAfter):
	}
	scratch.Events = append(scratch.Events, report.Event{At: time.Now(), Label: "shutdown signal"})
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	res := r.h.Stop(sctx)
	scancel()
	lcancel()
	lr := <-done
	_, derr := r.teardown(ctx, nil, 0)
	s := &report.Shutdown{Round: round, Mode: mode, Dir: dir, Exited: res.Exited, ExitCode: res.ExitCode, Took: res.Took,
		Received: res.Received, Counted: res.Counted}
	if res.Err != nil {
		s.Err = res.Err.Error()
	}
	if d := scratch.Obs.Dest; d != nil {
		s.Dest = d
		s.Arrived, s.PrefixGap = d.Streams.Distinct, d.Streams.Missing
		for _, c := range d.BatchSizes["shutdown"] {
			s.Batches += c
		}
	}
	if round == 1 {
		rec.Obs.Dest, rec.Obs.Load, rec.Obs.Relay, rec.Obs.Proc = scratch.Obs.Dest, scratch.Obs.Load, scratch.Obs.Relay, scratch.Obs.Proc
		rec.SendRate, rec.Events = scratch.SendRate, append(rec.Events, scratch.Events...)
		rec.DestDir = filepath.Join(dir, "mockdest")
	}
	lerr := lr.err
	if lerr != nil && errors.Is(lerr, context.Canceled) {
		lerr = nil
	}
	if lerr != nil {
		lerr = fmt.Errorf("round %d: loadgen: %w", round, lerr)
	}
	if derr != nil {
		derr = fmt.Errorf("round %d: %w", round, derr)
	}
	return s, errJoin(lerr, derr)
}
