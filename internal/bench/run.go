package bench

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/logrelay/logrelay/internal/bench/report"
	"github.com/logrelay/logrelay/internal/loadgen"
	"github.com/logrelay/logrelay/internal/wire"
)

// stopTimeout bounds a relay's graceful shutdown at the end of a scenario.
const stopTimeout = 40 * time.Second

// probeStream is the stream id of the probe sent after the chaos; loadgen's
// streams are 0..conns-1.
// (The stamp holds 8 decimal digits of stream id.)
const probeStream = 99_999_999

// drainTimeout bounds the wait without progress, after loadgen closed its
// connections, for the relay to read everything (it sees EOF on every
// connection); the relay's shutdown stops reading, so stopping earlier
// would lose what is still in the sockets.
const drainTimeout = 10 * time.Second

func (e *env) loadCfg(p Params, addr string) loadgen.Config {
	return loadgen.Config{
		Addr: addr, Conns: p.Conns, Rate: p.Rate, Duration: p.Duration, Size: p.Size, Seed: 1,
		ChaosProb: p.ChaosProb, ChaosAbortive: p.ChaosAbortive,
		ReconnectBase: 20 * time.Millisecond, ReconnectMax: 500 * time.Millisecond,
		Logger: e.cfg.Logger.With("component", "loadgen"),
	}
}

// run is one scenario's relay, mockdest and loadgen, started by start and
// torn down by finish, which fills the observation.
type run struct {
	e    *env
	name string
	p    Params
	rec  *report.Scenario
	d    *dest
	h    relayHandle
	max  int    // relay max-pending
	dir  string // loadgen's files go to DIR/loadgen/; default OUT/SCENARIO

	wctx    context.Context
	wcancel context.CancelFunc
	wg      errgroup.Group
	w       *watcher
	counter atomic.Pointer[func() uint64] // messages sent so far
}

// sent returns the number of messages sent so far.
func (r *run) sent() uint64 {
	if f := r.counter.Load(); f != nil {
		return (*f)()
	}
	return 0
}

// setCounter sets what sent reports.
func (r *run) setCounter(f func() uint64) { r.counter.Store(&f) }

func (e *env) start(ctx context.Context, name string, p Params, rec *report.Scenario, process bool, dc destConfig) (*run, error) {
	d, err := e.startDest(ctx, dc)
	if err != nil {
		return nil, err
	}
	h, rc, err := e.startRelay(ctx, relayConfig{Sink: d.addr, MaxPending: p.MaxPending, SendTimeout: p.SendTimeout}, process)
	if err != nil {
		d.stop()
		return nil, fmt.Errorf("start relay: %w", err)
	}
	e.startedRelay(name, h.Kind())
	r := &run{e: e, name: name, p: p, rec: rec, d: d, h: h, max: rc.MaxPending, dir: filepath.Join(e.cfg.Out, name)}
	r.wctx, r.wcancel = context.WithCancel(ctx)
	r.w = e.watch(r.wctx, &r.wg, h, r.sent)
	e.prog.track(name, "", r.sent)
	if dc.DownEvery > 0 {
		for t := dc.DownEvery; t <= p.Duration+dc.DownEvery; t += dc.DownEvery {
			rec.Events = append(rec.Events,
				report.Event{At: d.start.Add(t - dc.DownFor), Label: "dest down"},
				report.Event{At: d.start.Add(t), Label: "up"})
		}
	}
	return r, nil
}

// load runs loadgen against the relay and records its report; loadgen's
// own report and .hgrm files (schedule lag, connect latency) go to
// r.dir/loadgen/ (SCENARIO/loadgen/ in the run directory unless the
// scenario says otherwise).
func (r *run) load(ctx context.Context, lc loadgen.Config) (*loadgen.Report, error) {
	lc.OutDir = filepath.Join(r.dir, "loadgen")
	g, err := loadgen.New(lc)
	if err != nil {
		return nil, err
	}
	r.setCounter(func() uint64 { return g.Live().Sent })
	rep, err := g.Run(ctx)
	if rep != nil {
		r.rec.Obs.Load = loadObs(rep, lc.Conns)
	}
	return rep, err
}

// finish stops the relay gracefully (flushing what it holds), then
// mockdest, and fills the observation. streams is loadgen's per-stream
// account for the delivery check. The error joins the relay's shutdown
// error and mockdest's.
func (r *run) finish(ctx context.Context, streams []loadgen.StreamReport, sent uint64) (shutdownResult, error) {
	res, derr := r.teardown(ctx, streams, sent)
	var serr error
	if res.Err != nil && r.h.Kind() != "external" {
		serr = fmt.Errorf("relay shutdown: %w", res.Err)
	}
	return res, errJoin(serr, derr)
}

// teardown is finish leaving the relay's error in its result: the error
// is mockdest's only.
func (r *run) teardown(ctx context.Context, streams []loadgen.StreamReport, sent uint64) (shutdownResult, error) {
	if streams != nil {
		waitIdle(ctx, r.h, drainTimeout)
	}
	r.rec.Obs.Relay = r.w.relayObs(r.max)
	r.rec.Obs.Proc = r.w.procObs()
	var res shutdownResult
	if r.h.Kind() == "external" {
		// An external relay cannot be stopped: wait for its age flushes
		// (and for mockdest's next up period).
		r.d.waitArrived(ctx, sent, r.e.cfg.FlushInterval+r.p.DownEvery+5*time.Second)
	} else {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
		res = r.h.Stop(sctx)
		cancel()
		if before := r.rec.Obs.Relay; r.h.Kind() == "in-process" && before != nil {
			// Final counters after the flush; the peaks stay those of the
			// run (shutdown hands over what was already read, beyond
			// max-pending by design).
			after := r.w.relayObs(r.max)
			after.ConnsPeak, after.PendingPeak, after.Samples = before.ConnsPeak, before.PendingPeak, before.Samples
			r.rec.Obs.Relay = after
		}
	}
	r.wcancel()
	r.wg.Wait()
	r.e.prog.track(r.name, "", nil)
	snap, derr := r.d.stop()
	r.rec.Obs.Dest = snap
	r.rec.SendRate = r.w.sendRate()
	if streams != nil {
		r.rec.Obs.Delivery = delivery(streams, r.d.srv.MissingRanges)
	}
	return res, derr
}

// runSteady: start, load for the duration, stop, check.
func runSteady(ctx context.Context, e *env, p Params, rec *report.Scenario) error {
	r, err := e.start(ctx, rec.Name, p, rec, processScenario(rec.Name), destConfig{
		AckDelay: p.AckDelay, AckJitter: p.AckJitter, NackRate: p.NackRate, NoAckRate: p.NoAckRate,
		DownFor: p.DownFor, DownEvery: p.DownEvery})
	if err != nil {
		return err
	}
	lc := e.loadCfg(p, r.h.Addr())
	if p.Conns > 500 {
		lc.ConnectRate = 5000
	}
	rep, lerr := r.load(ctx, lc)
	var streams []loadgen.StreamReport
	var sent uint64
	if rep != nil {
		streams, sent = rep.Streams, rep.Sent
	}
	_, ferr := r.finish(ctx, streams, sent)
	return errJoin(lerr, ferr)
}

// runChaos: chaos load against a relay process; then the relay must have
// no client connection left, relay a probe batch, and be back to its
// goroutine and fd baseline.
func runChaos(ctx context.Context, e *env, p Params, rec *report.Scenario) error {
	r, err := e.start(ctx, rec.Name, p, rec, processScenario(rec.Name), destConfig{})
	if err != nil {
		return err
	}
	before, berr := r.h.Stats()
	rec.Events = append(rec.Events, report.Event{At: time.Now(), Label: "chaos starts"})
	rep, lerr := r.load(ctx, e.loadCfg(p, r.h.Addr()))
	rec.Events = append(rec.Events, report.Event{At: time.Now(), Label: "load ends"})
	waitIdle(ctx, r.h, 5*time.Second)

	// The probe: two batches' worth of messages on a fresh connection. The
	// relay's batcher may still hold a partial batch from the chaos, so
	// at least one full batch of them must arrive at once, the rest by the
	// shutdown flush. (Waiting for the probe stream itself, not for the
	// total: the batch that completes the chaos leftovers would count.)
	n := 2 * e.cfg.BatchSize
	alive := &report.Alive{Sent: n}
	if err := sendStamped(ctx, r.h.Addr(), probeStream, 1, n, p.Size); err != nil {
		alive.Err = err.Error()
	}
	alive.Early = r.d.waitStream(ctx, probeStream, e.cfg.BatchSize, 5*time.Second)
	rec.Obs.Alive = alive
	waitIdle(ctx, r.h, 5*time.Second)

	if berr == nil {
		leak := &report.Leak{GoroutinesBefore: before.Goroutines, FDsBefore: before.FDs, Slack: 2, Source: r.h.Kind() + " relay /metrics"}
		deadline := time.Now().Add(5 * time.Second)
		for {
			after, err := r.h.Stats()
			if err == nil {
				leak.GoroutinesAfter, leak.FDsAfter = after.Goroutines, after.FDs
				if after.Goroutines <= before.Goroutines+leak.Slack && after.FDs <= before.FDs+leak.Slack {
					break
				}
			}
			if time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		rec.Obs.Leak = leak
	}
	var streams []loadgen.StreamReport
	var sent uint64
	if rep != nil {
		streams, sent = rep.Streams, rep.Sent+uint64(n) // the probe too
	}
	_, ferr := r.finish(ctx, streams, sent)
	if st, ok := r.d.srv.Recorder().Stream(probeStream); ok {
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

// waitIdle waits until the relay has no client connection open. It gives
// up after timeout without progress (the relay's received count not
// moving) or after 10 × timeout in all.
func waitIdle(ctx context.Context, h relayHandle, timeout time.Duration) {
	if x, ok := h.(*extRelay); ok && x.admin == "" {
		return // no way to tell; finish waits for the arrivals instead
	}
	start := time.Now()
	var last uint64
	lastMove := start
	for ctx.Err() == nil && time.Since(lastMove) < timeout && time.Since(start) < 10*timeout {
		if s, err := h.Stats(); err == nil {
			if s.ConnsOpen == 0 {
				return
			}
			if s.Received != last {
				last, lastMove = s.Received, time.Now()
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runBursts: bursts of Burst messages on each of Conns persistent
// connections, separated by the given silences; the bench writes the
// stamped messages itself because the silences are irregular.
func runBursts(ctx context.Context, e *env, p Params, rec *report.Scenario) error {
	r, err := e.start(ctx, rec.Name, p, rec, processScenario(rec.Name), destConfig{})
	if err != nil {
		return err
	}
	ws := make([]*stampWriter, p.Conns)
	var total uint64
	var mu sync.Mutex
	r.setCounter(func() uint64 { mu.Lock(); defer mu.Unlock(); return total })
	var werr error
	for i := range ws {
		if ws[i], err = dialStamp(ctx, r.h.Addr(), uint32(i), p.Size); err != nil {
			werr = err
			break
		}
	}
	start := time.Now()
	for b := 0; werr == nil && b <= len(p.Silences); b++ {
		rec.Events = append(rec.Events, report.Event{At: time.Now(), Label: fmt.Sprintf("burst %d", b+1)})
		var g errgroup.Group
		for _, w := range ws {
			g.Go(func() error { return w.burst(p.Burst) })
		}
		werr = g.Wait()
		mu.Lock()
		total = uint64(b+1) * uint64(p.Burst) * uint64(len(ws))
		mu.Unlock()
		if b < len(p.Silences) {
			select {
			case <-ctx.Done():
				werr = ctx.Err()
			case <-time.After(p.Silences[b]):
			}
		}
	}
	var streams []loadgen.StreamReport
	var sent uint64
	for _, w := range ws {
		if w == nil {
			continue
		}
		w.close()
		streams = append(streams, loadgen.StreamReport{ID: w.stream, LastSeq: w.next - 1})
		sent += w.next - 1
	}
	// Let the last burst's partial batch age out before the relay stops, so
	// the tail is also flushed by age, not by the shutdown.
	r.d.waitArrived(ctx, sent, e.cfg.FlushInterval+2*time.Second)
	secs := time.Since(start).Seconds()
	rec.Obs.Load = &report.Load{Conns: p.Conns, Sent: sent, Seconds: secs, AchievedRate: float64(sent) / secs}
	_, ferr := r.finish(ctx, streams, sent)
	return errJoin(werr, ferr)
}

// stampWriter writes stamped lines of one stream on one connection.
type stampWriter struct {
	c      net.Conn
	w      *bufio.Writer
	stream uint32
	next   uint64
	line   []byte
}

func dialStamp(ctx context.Context, addr string, stream uint32, size int) (*stampWriter, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	line := make([]byte, max(size, wire.StampLen+8))
	copy(line, "burst ")
	for i := 6; i < len(line)-1; i++ {
		line[i] = 'b'
	}
	line[len(line)-1] = '\n'
	wire.PutStamp(line[6:], wire.Stamp{Stream: stream})
	return &stampWriter{c: c, w: bufio.NewWriterSize(c, 64<<10), stream: stream, next: 1, line: line}, nil
}

func (s *stampWriter) burst(n int) error {
	now := time.Now().UnixNano()
	for range n {
		wire.PutStampSeqTime(s.line[6:], s.next, now)
		if _, err := s.w.Write(s.line); err != nil {
			return err
		}
		s.next++
	}
	return s.w.Flush()
}

func (s *stampWriter) close() {
	s.w.Flush()
	if tc, ok := s.c.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	s.c.Close()
}

// processScenario reports whether the named scenario runs its relay as a
// process.
func processScenario(name string) bool {
	for _, s := range Scenarios() {
		if s.Name == name {
			return s.Relay == ownProcess
		}
	}
	return false
}
