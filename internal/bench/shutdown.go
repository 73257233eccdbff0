package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/logrelay/logrelay/internal/bench/report"
	"github.com/logrelay/logrelay/internal/loadgen"
)

// runShutdown stops the relay in the middle of a steady load, twice: the
// in-process relay by cancelling its context, then the relay process with
// SIGTERM. Each must exit cleanly with every message it read delivered.
func runShutdown(ctx context.Context, e *env, p Params, rec *report.Scenario) error {
	if e.cfg.RelayAddr != "" {
		return fmt.Errorf("%w: the bench cannot signal an external relay (--relay-addr)", ErrNotApplicable)
	}
	var errs []error
	s, err := e.shutdownUnderLoad(ctx, p, rec, e.cfg.RelayProcess, true)
	rec.Obs.Shutdown = s
	errs = append(errs, err)
	s2, err := e.shutdownUnderLoad(ctx, p, rec, true, false)
	rec.Obs.Signal = s2
	errs = append(errs, err)
	return errJoin(errs...)
}

// shutdownUnderLoad runs one load-then-signal round; keep makes its
// mockdest snapshot the scenario's.
func (e *env) shutdownUnderLoad(ctx context.Context, p Params, rec *report.Scenario, process, keep bool) (*report.Shutdown, error) {
	scratch := &report.Scenario{Name: rec.Name}
	r, err := e.start(ctx, rec.Name, p, scratch, process, destConfig{})
	if err != nil {
		return nil, err
	}
	mode := "in-process (context cancelled)"
	if r.h.Kind() == "process" {
		mode = "process (SIGTERM)"
	}
	lctx, lcancel := context.WithCancel(ctx)
	defer lcancel()
	lc := e.loadCfg(p, r.h.Addr())
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
	_, ferr := r.finish(ctx, nil, 0)
	s := &report.Shutdown{Mode: mode, Exited: res.Exited, ExitCode: res.ExitCode, Took: res.Took,
		Received: res.Received, Counted: res.Counted}
	if res.Err != nil {
		s.Err = res.Err.Error()
	}
	if d := scratch.Obs.Dest; d != nil {
		s.Arrived, s.PrefixGap = d.Streams.Distinct, d.Streams.Missing
		for _, c := range d.BatchSizes["shutdown"] {
			s.Batches += c
		}
	}
	if keep {
		rec.Obs.Dest, rec.Obs.Load, rec.Obs.Relay, rec.Obs.Proc = scratch.Obs.Dest, scratch.Obs.Load, scratch.Obs.Relay, scratch.Obs.Proc
		rec.SendRate, rec.Events = scratch.SendRate, append(rec.Events, scratch.Events...)
	}
	if ferr != nil && res.Err != nil && errors.Is(ferr, res.Err) {
		ferr = nil // already reported by the shutdown rules
	}
	lerr := lr.err
	if lerr != nil && errors.Is(lerr, context.Canceled) {
		lerr = nil
	}
	_ = ferr
	return s, lerr
}
