package loadgen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/term"
)

// Live is a snapshot of a running generator's counters.
type Live struct {
	Elapsed         time.Duration // since the run started
	Sent            uint64        // messages completely written
	WriteFailed     uint64        // messages whose write failed (not sent)
	AtRisk          uint64        // written messages possibly lost by a reset
	Bytes           uint64        // bytes written
	ConnsUp         int64         // connections currently established
	ConnectAttempts uint64
	ConnectFailures uint64
	Reconnects      uint64 // successful connections after a stream's first
	Disconnects     uint64 // connections lost or closed, every cause
	Errors          uint64 // connect failures plus write errors other than a peer's close
	RELPAcked       uint64 // RELP mode: messages answered 200
}

// Live returns the generator's counters; it is safe to call at any time.
func (g *Generator) Live() Live {
	l := Live{
		Sent:            g.c.sent.Load(),
		WriteFailed:     g.c.failed.Load(),
		AtRisk:          g.c.atRisk.Load(),
		Bytes:           g.c.bytes.Load(),
		ConnsUp:         g.c.up.Load(),
		ConnectAttempts: g.c.attempts.Load(),
		ConnectFailures: g.c.connFailures.Load(),
		Reconnects:      g.c.reconnects.Load(),
		RELPAcked:       g.c.relpAcked.Load(),
	}
	for i := range g.c.disconnects {
		l.Disconnects += g.c.disconnects[i].Load()
	}
	l.Errors = l.ConnectFailures + uint64(g.c.writeErrors.Load())
	if g.running.Load() {
		l.Elapsed = g.elapsed()
	}
	return l
}

// Run sends the configured load until Count messages were scheduled,
// Duration has passed, or ctx is cancelled, then closes every connection
// gracefully and returns the report (also written to Report, OutDir and
// HlogPath when set). It returns an error wrapping ErrInterrupted, with the
// report, when ctx ended the run before it completed; a run with neither
// Count nor Duration completes when ctx ends. It returns an error wrapping
// ErrNothingSent, with the report, when the run sent no message although
// one fell due within it, or never connected. Run may be called once.
func (g *Generator) Run(ctx context.Context) (*Report, error) {
	if !g.ran.CompareAndSwap(false, true) {
		return nil, ErrAlreadyRun
	}
	var hlog *hlogWriter
	if g.cfg.HlogPath != "" {
		err := os.MkdirAll(filepath.Dir(g.cfg.HlogPath), 0o755)
		var f *os.File
		if err == nil {
			f, err = os.Create(g.cfg.HlogPath)
		}
		if err != nil {
			return nil, fmt.Errorf("create hlog: %w", err)
		}
		defer f.Close()
		hlog = newHlogWriter(f)
	}
	g.interrupted = func() bool { return ctx.Err() != nil }
	g.start = time.Now()
	g.startNs = g.start.UnixNano()
	g.running.Store(true)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if g.cfg.Duration > 0 {
		runCtx, cancel = context.WithDeadline(runCtx, g.start.Add(g.cfg.Duration))
		defer cancel()
	}
	if g.cfg.GiveUp > 0 {
		t := time.AfterFunc(g.cfg.GiveUp, func() {
			if !g.c.everUp.Load() {
				g.gaveUp.Store(true)
				cancel()
			}
		})
		defer t.Stop()
	}
	if hlog != nil {
		hlog.begin(g.start)
	}
	g.log.Info("loadgen starting", "addr", g.cfg.Addr, "conns", g.cfg.Conns, "rate", g.cfg.Rate,
		"duration", g.cfg.Duration, "count", g.cfg.Count, "size", g.cfg.Size, "format", g.cfg.Format)

	var streams sync.WaitGroup
	for i := range g.streams {
		streams.Go(func() { g.runStream(runCtx, &g.streams[i]) })
	}
	auxCtx, stopAux := context.WithCancel(runCtx)
	var aux sync.WaitGroup
	if g.cfg.ChaosEvery > 0 {
		aux.Go(func() { g.chaosLoop(auxCtx) })
	}
	lagTotal, connTotal := newHist(), newHist()
	var tickErr error
	aux.Go(func() { tickErr = g.tickLoop(auxCtx, hlog, lagTotal, connTotal) })
	streams.Wait()
	end := time.Now()
	stopAux()
	aux.Wait()
	g.running.Store(false)
	if err := g.interval(hlog, lagTotal, connTotal, end); err != nil && tickErr == nil {
		tickErr = err
	}
	g.progressDone()

	rep := g.report(g.start, end, lagTotal, connTotal)
	g.log.Info("loadgen finished", "sent", rep.Sent, "achieved_rate", rep.AchievedRate,
		"write_failed", rep.WriteFailed, "at_risk", rep.AtRisk)
	err := errors.Join(tickErr, g.writeOutputs(rep))
	if ctx.Err() != nil && (g.cfg.Count > 0 || g.cfg.Duration > 0) && !g.completed(rep) {
		err = errors.Join(fmt.Errorf("%w: %w", ErrInterrupted, context.Cause(ctx)), err)
	}
	if nerr := g.nothingSent(rep); nerr != nil {
		err = errors.Join(nerr, err)
	}
	if hlog != nil {
		if herr := hlog.flush(); herr != nil {
			err = errors.Join(err, fmt.Errorf("write hlog: %w", herr))
		}
	}
	return rep, err
}

// completed reports whether every stream reached its end: its Count share,
// or the end of the schedule within Duration.
func (g *Generator) completed(rep *Report) bool {
	if g.cfg.Duration > 0 && rep.End.Sub(rep.Start) >= g.cfg.Duration {
		return true
	}
	for i := range g.streams {
		s := &g.streams[i]
		if s.next >= s.quota {
			continue
		}
		if g.pacer != nil {
			if _, ok := g.due(s, s.next); !ok {
				continue
			}
		}
		return false
	}
	return true
}

// nothingSent returns an error wrapping ErrNothingSent when the run sent
// no message although one fell due within it, or when it never connected
// while its every attempt failed.
func (g *Generator) nothingSent(rep *Report) error {
	if rep.Sent > 0 {
		return nil
	}
	var connects uint64
	for _, s := range rep.Streams {
		connects += s.Connects
	}
	if connects == 0 && rep.ConnectFailures > 0 {
		g.connMu.Lock()
		last := g.connErr
		g.connMu.Unlock()
		gaveUp := ""
		if g.gaveUp.Load() {
			gaveUp = fmt.Sprintf(" (gave up after %s without a connection)", g.cfg.GiveUp)
		}
		return fmt.Errorf("%w: never connected to %s: %d attempts failed, the last with: %w%s",
			ErrNothingSent, g.cfg.Addr, rep.ConnectFailures, last, gaveUp)
	}
	if !g.due0(rep) {
		return nil
	}
	if connects == 0 {
		return fmt.Errorf("%w: no connection to %s was made before the run ended", ErrNothingSent, g.cfg.Addr)
	}
	return fmt.Errorf("%w: messages were due but none was written to %s (%d connections, %d messages failed to write)",
		ErrNothingSent, g.cfg.Addr, connects, rep.WriteFailed)
}

// due0 reports whether the schedule's first message fell due within the
// run (always true when unpaced).
func (g *Generator) due0(rep *Report) bool {
	window := rep.End.Sub(rep.Start)
	if g.cfg.Duration > 0 {
		window = min(window, g.cfg.Duration)
	}
	if g.pacer == nil {
		return window > 0
	}
	t, ok := g.pacer.Due(0)
	return ok && t < window
}

// tickLoop runs once a second: it moves the interval histograms into the
// totals and the .hlog, and prints the progress line.
func (g *Generator) tickLoop(ctx context.Context, hlog *hlogWriter, lagTotal, connTotal *hdrhistogram.Histogram) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var err error
	for {
		select {
		case <-ctx.Done():
			return err
		case now := <-t.C:
			if e := g.interval(hlog, lagTotal, connTotal, now); e != nil && err == nil {
				err = e
			}
			g.progress()
		}
	}
}

// interval closes the current interval at now.
func (g *Generator) interval(hlog *hlogWriter, lagTotal, connTotal *hdrhistogram.Histogram, now time.Time) error {
	lag := newHist()
	g.lag.drainInto(lag)
	g.connMu.Lock()
	conn := g.connLat
	g.connLat = newHist()
	g.connMu.Unlock()
	lagTotal.Merge(lag)
	connTotal.Merge(conn)
	if hlog == nil {
		return nil
	}
	return hlog.interval(now, map[string]*hdrhistogram.Histogram{"lag": lag, "connect": conn})
}

// progress state, touched only by tickLoop and then by Run.
type progressState struct {
	mu       sync.Mutex
	lastSent uint64
	lastAt   time.Duration
	terminal bool
	checked  bool
	wrote    bool
}

// progress prints one progress line.
func (g *Generator) progress() {
	w := g.cfg.Progress
	if w == nil {
		return
	}
	p := &g.prog
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.checked {
		p.checked, p.terminal = true, isTerminal(w)
	}
	l := g.Live()
	// Both rates are averages over the last interval.
	rate, target := 0.0, "max"
	if dt := (l.Elapsed - p.lastAt).Seconds(); dt > 0 {
		rate = float64(l.Sent-p.lastSent) / dt
		if g.pacer != nil {
			target = fmt.Sprintf("%.0f/s", (expected(g.pacer, l.Elapsed)-expected(g.pacer, p.lastAt))/dt)
		}
	}
	p.lastSent, p.lastAt = l.Sent, l.Elapsed
	line := fmt.Sprintf("%6.1fs rate %9.0f/s (target %s) sent %d conns %d/%d reconnects %d errors %d failed %d at-risk %d",
		l.Elapsed.Seconds(), rate, target, l.Sent, l.ConnsUp, len(g.streams), l.Reconnects, l.Errors,
		l.WriteFailed, l.AtRisk)
	if p.terminal {
		fmt.Fprintf(w, "\r%s\x1b[K", line)
	} else {
		fmt.Fprintln(w, line)
	}
	p.wrote = true
}

// progressDone ends an updating progress line.
func (g *Generator) progressDone() {
	p := &g.prog
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.terminal && p.wrote {
		fmt.Fprintln(g.cfg.Progress)
	}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	return term.IsTerminal(int(f.Fd()))
}

// writeOutputs writes the report files the config asks for.
func (g *Generator) writeOutputs(rep *Report) error {
	var errs []error
	if g.cfg.Report != "" {
		errs = append(errs, writeFile(g.cfg.Report, rep.WriteJSON))
	}
	if d := g.cfg.OutDir; d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return errors.Join(append(errs, fmt.Errorf("create out dir: %w", err))...)
		}
		errs = append(errs,
			writeFile(filepath.Join(d, "report.json"), rep.WriteJSON),
			writeFile(filepath.Join(d, "report.txt"), rep.WriteText),
			writeFile(filepath.Join(d, "schedule_lag.hgrm"), hgrmWriter(rep.ScheduleLag)),
			writeFile(filepath.Join(d, "connect_latency.hgrm"), hgrmWriter(rep.ConnectLatency)))
	}
	return errors.Join(errs...)
}

// writeFile creates path, and its directory when missing, and fills it
// with write.
func writeFile(path string, write func(io.Writer) error) error {
	err := os.MkdirAll(filepath.Dir(path), 0o755)
	var f *os.File
	if err == nil {
		f, err = os.Create(path)
	}
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	bw := bufio.NewWriter(f)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
