package scenario

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

	"github.com/logrelay/logrelay/internal/bench/dest"
	"github.com/logrelay/logrelay/internal/bench/procstat"
	"github.com/logrelay/logrelay/internal/bench/report"
	"github.com/logrelay/logrelay/internal/bench/sut"
	"github.com/logrelay/logrelay/internal/loadgen"
	"github.com/logrelay/logrelay/internal/seqrange"
	"github.com/logrelay/logrelay/internal/wire"
)

// stopTimeout bounds a relay's graceful shutdown at the end of a scenario.
const stopTimeout = 40 * time.Second

// drainTimeout bounds the wait without progress, after loadgen closed its
// connections, for the relay to read everything (it sees EOF on every
// connection); the relay's shutdown stops reading, so stopping earlier
// would lose what is still in the sockets.
const drainTimeout = 10 * time.Second

// sampleEvery is how often a relay process is sampled for CPU and RSS.
const sampleEvery = 200 * time.Millisecond

func (e *Env) loadCfg(p Params, addr string) loadgen.Config {
	return loadgen.Config{
		// A RELP stream's last messages are answered once their batch is
		// delivered: after the age flush at the latest, plus any outage.
		RELPFinalWait: e.cfg.FlushInterval + p.DownFor + 5*time.Second,
		Addr:          addr, Conns: p.Conns, Rate: p.Rate, Duration: p.Duration, Size: p.Size, Seed: 1,
		ChaosProb: p.ChaosProb, ChaosAbortive: p.ChaosAbortive, RELP: p.RELP,
		ReconnectBase: 20 * time.Millisecond, ReconnectMax: 500 * time.Millisecond,
		Logger: e.cfg.Logger.With("component", "loadgen"),
	}
}

// run is one scenario's relay, mockdest and loadgen, started by start and
// torn down by finish, which fills the observation.
type run struct {
	t   *Trial
	rec *report.Scenario
	d   *dest.Dest
	h   sut.Relay
	dir string // loadgen's files go to DIR/loadgen/; default OUT/SCENARIO

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

// start starts a mockdest for dc and a relay of kind want sending to it,
// recording into rec, and starts watching the relay.
func (t *Trial) start(ctx context.Context, rec *report.Scenario, want sut.Kind, dc dest.Config) (*run, error) {
	d, err := t.startDest(ctx, dc)
	if err != nil {
		return nil, err
	}
	h, err := t.startRelay(ctx, t.Scenario.Name, sut.Config{Sink: d.Sink(), MaxPending: t.P.MaxPending, SendTimeout: t.P.SendTimeout,
		SinkConcurrency: t.P.SinkConcurrency}, want)
	if err != nil {
		d.Stop()
		return nil, fmt.Errorf("start relay: %w", err)
	}
	r := &run{t: t, rec: rec, d: d, h: h, dir: t.dir()}
	r.wctx, r.wcancel = context.WithCancel(ctx)
	r.w = watch(r.wctx, &r.wg, h, r.sent)
	t.prog.Track(t.Scenario.Name, "", r.sent)
	if dc.DownEvery > 0 {
		for at := dc.DownEvery; at <= t.P.Duration+dc.DownEvery; at += dc.DownEvery {
			rec.Events = append(rec.Events,
				report.Event{At: d.Started().Add(at - dc.DownFor), Label: "dest down"},
				report.Event{At: d.Started().Add(at), Label: "up"})
		}
	}
	return r, nil
}

// startOne starts the scenario's mockdest, misbehaving as its Params say
// (acknowledgements, outages), and its relay, as the scenario runs it.
func (t *Trial) startOne(ctx context.Context) (*run, error) {
	p := t.P
	return t.start(ctx, t.Rec, t.Scenario.Relay.kind(), dest.Config{
		AckDelay: p.AckDelay, AckJitter: p.AckJitter, NackRate: p.NackRate, NoAckRate: p.NoAckRate,
		DownFor: p.DownFor, DownEvery: p.DownEvery})
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
func (r *run) finish(ctx context.Context, streams []loadgen.StreamReport, sent uint64) (sut.Shutdown, error) {
	res, derr := r.teardown(ctx, streams, sent)
	var serr error
	if res.Err != nil {
		serr = fmt.Errorf("relay shutdown: %w", res.Err)
	}
	return res, errJoin(serr, derr)
}

// teardown is finish leaving the relay's error in its result: the error
// is mockdest's only.
func (r *run) teardown(ctx context.Context, streams []loadgen.StreamReport, sent uint64) (sut.Shutdown, error) {
	if streams != nil {
		sut.WaitIdle(ctx, r.h, drainTimeout)
	}
	r.rec.Obs.Relay = r.w.relayObs()
	r.rec.Obs.Proc = r.w.procObs()
	res := stop(ctx, r.h, r.d, sent, r.t.cfg.FlushInterval+r.t.P.DownEvery+5*time.Second)
	if before := r.rec.Obs.Relay; r.h.Kind() == sut.InProcess && before != nil {
		// Final counters after the flush; the peaks stay those of the
		// run (shutdown hands over what was already read, beyond
		// max-pending by design).
		after := r.w.relayObs()
		after.ConnsPeak, after.PendingPeak, after.Samples = before.ConnsPeak, before.PendingPeak, before.Samples
		r.rec.Obs.Relay = after
	}
	r.wcancel()
	r.wg.Wait()
	r.t.prog.Track(r.t.Scenario.Name, "", nil)
	snap, derr := r.d.Stop()
	r.rec.Obs.Dest = snap
	r.rec.SendRate = r.w.sendRate()
	if streams != nil {
		r.rec.Obs.Delivery = delivery(streams, r.d.MissingRanges)
		if r.t.P.RELP {
			r.rec.Obs.Resends = resends(streams, r.d.DuplicateRanges)
		}
	}
	return res, derr
}

// stop stops the relay gracefully within stopTimeout. An external relay
// cannot be stopped: stop waits up to wait for the sent messages to
// arrive instead (its age flushes, mockdest's next up period) and returns
// no result.
func stop(ctx context.Context, h sut.Relay, d *dest.Dest, sent uint64, wait time.Duration) sut.Shutdown {
	if h.Kind() == sut.External {
		d.WaitArrived(ctx, sent, wait)
		return sut.Shutdown{}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer cancel()
	return h.Stop(sctx)
}

// watcher polls a scenario's relay (peaks of connections and pending
// messages), loadgen's live counter (progress and the send-rate series)
// and samples the relay process's CPU and RSS.
type watcher struct {
	h       sut.Relay
	sampler *procstat.Watcher
	sent    func() uint64

	mu       sync.Mutex
	last     sut.Stats
	samples  int
	connPeak int64
	pendPeak int64
	rate     []report.RatePoint
}

// watch starts polling h in g until ctx is done.
func watch(ctx context.Context, g *errgroup.Group, h sut.Relay, sent func() uint64) *watcher {
	w := &watcher{h: h, sent: sent, sampler: procstat.Watch(ctx, ownPID(h), sampleEvery)}
	g.Go(func() error {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			w.poll(i%10 == 0)
			select {
			case <-ctx.Done():
				w.poll(true)
				return nil
			case <-t.C:
			}
		}
	})
	return w
}

// ownPID is the process whose CPU and RSS are the relay's own: none for
// an in-process relay (the bench's process is shared with loadgen and
// mockdest).
func ownPID(h sut.Relay) int {
	if h.Kind() == sut.InProcess {
		return 0
	}
	return h.PID()
}

// setRelay makes w poll h from now on (a relay restarted as a new
// process); the process sampler stays on the first one.
func (w *watcher) setRelay(h sut.Relay) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.h = h
}

func (w *watcher) poll(rate bool) {
	w.mu.Lock()
	h := w.h
	w.mu.Unlock()
	s, err := h.Stats()
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil {
		w.last = s
		w.samples++
		w.connPeak = max(w.connPeak, s.ConnsOpen)
		w.pendPeak = max(w.pendPeak, s.Pending)
	}
	if rate && w.sent != nil {
		w.rate = append(w.rate, report.RatePoint{At: time.Now(), Sent: w.sent()})
	}
}

// relaySource says where a relay's counters come from, by kind.
var relaySource = map[sut.Kind]string{
	sut.InProcess: "in-process, relay.Stats",
	sut.Process:   "process, /metrics before its shutdown",
	sut.External:  "external, /metrics", // the bench does not stop it
}

// relayObs returns the relay part of the observation (nil when the relay
// could never be read).
func (w *watcher) relayObs() *report.Relay {
	w.poll(false)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.samples == 0 {
		return nil
	}
	s := w.last
	return &report.Relay{Source: relaySource[w.h.Kind()], Received: s.Received, Delivered: s.Delivered, Rejected: s.Rejected,
		Retries: s.Retries, SinkErrors: s.SinkErrors, Batches: s.Batches, ConnsTotal: s.ConnsTotal,
		ConnsPeak: w.connPeak, ConnsEnd: s.ConnsOpen, PendingPeak: w.pendPeak, MaxPending: w.h.MaxPending(), Samples: w.samples}
}

// procObs stops sampling the relay process and returns its summary (nil
// when it was not sampled).
func (w *watcher) procObs() *procstat.Summary {
	s, ok := w.sampler.Stop()
	if !ok {
		return nil
	}
	s.Samples = nil // keep report.json small
	return &s
}

func (w *watcher) sendRate() []report.RatePoint {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]report.RatePoint(nil), w.rate...)
}

// loadObs converts loadgen's report.
func loadObs(r *loadgen.Report, conns int) *report.Load {
	l := &report.Load{TargetRate: r.TargetRate, AchievedRate: r.AchievedRate, Seconds: r.End.Sub(r.Start).Seconds(),
		Conns: conns, Sent: r.Sent, WriteFailed: r.WriteFailed, AtRisk: r.AtRisk,
		ConnectAttempts: r.ConnectAttempts, ConnectFailures: r.ConnectFailures, Disconnects: r.Disconnects}
	if x := r.RELP; x != nil {
		l.RELP = &report.RELPLoad{Acked: x.Acked, Refused: x.Refused, Resent: x.Resent, Unacked: x.Unacked, Window: x.Window}
	}
	if h := r.ScheduleLag; h != nil && h.TotalCount() > 0 {
		l.ScheduleLagP99 = time.Duration(h.ValueAtQuantile(99)) * time.Microsecond
		l.ScheduleLagMax = time.Duration(h.Max()) * time.Microsecond
	}
	return l
}

// delivery checks, stream by stream, that every seq loadgen sent safely
// arrived: [1, LastSeq] minus Failed ∪ AtRisk.
func delivery(streams []loadgen.StreamReport, missing func(stream uint32, upTo uint64) []wire.SeqRange) *report.Delivery {
	d := &report.Delivery{Streams: len(streams)}
	for _, s := range streams {
		excused := seqrange.Of(s.Failed, s.AtRisk).Clip(1, s.LastSeq)
		ex := excused.Len()
		d.Excused += ex
		d.MustArrive += s.LastSeq - ex
		for _, m := range missing(s.ID, s.LastSeq) {
			for _, lost := range excused.Outside(m) {
				d.Lost += lost.Len()
				if len(d.Examples) < 10 {
					d.Examples = append(d.Examples, report.Gap{Stream: s.ID, SeqRange: lost})
				}
			}
		}
	}
	return d
}

// resends checks, stream by stream, every seq that arrived more than once
// against the seqs loadgen resent: inside them it is explained by the
// resend, outside unexplained (as is every duplicate mockdest could not
// track).
func resends(streams []loadgen.StreamReport, dups func(stream uint32) ([]wire.SeqRange, uint64)) *report.Resends {
	x := &report.Resends{}
	var outside uint64
	for _, s := range streams {
		resent := seqrange.Of(s.Resent)
		x.Resent += resent.Len()
		ds, untracked := dups(s.ID)
		x.Unexplained += untracked
		for _, d := range ds {
			x.Duplicated += d.Len()
			for _, u := range resent.Outside(d) {
				outside += u.Len()
				if len(x.Examples) < 10 {
					x.Examples = append(x.Examples, report.Gap{Stream: s.ID, SeqRange: u})
				}
			}
		}
	}
	x.Unexplained += outside
	x.Explained = x.Duplicated - outside
	return x
}

// stampWriter writes stamped lines of one stream on one connection.
type stampWriter struct {
	c      net.Conn
	w      *bufio.Writer
	stream uint32
	next   uint64
	line   []byte
}

// dialStamp connects to addr for stream's lines of size bytes, each
// starting with prefix (6 bytes) and padded with pad.
func dialStamp(ctx context.Context, addr string, stream uint32, size int, prefix string, pad byte) (*stampWriter, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	line := make([]byte, max(size, wire.StampLen+8))
	copy(line, prefix)
	for i := len(prefix); i < len(line)-1; i++ {
		line[i] = pad
	}
	line[len(line)-1] = '\n'
	wire.PutStamp(line[6:], wire.Stamp{Stream: stream})
	return &stampWriter{c: c, w: bufio.NewWriterSize(c, 64<<10), stream: stream, next: 1, line: line}, nil
}

// burst writes the stream's next n messages, stamped now, and flushes.
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

// close flushes and closes the connection gracefully (FIN first).
func (s *stampWriter) close() error {
	err := s.w.Flush()
	if tc, ok := s.c.(*net.TCPConn); ok {
		err = errJoin(err, tc.CloseWrite())
	}
	return errJoin(err, s.c.Close())
}
