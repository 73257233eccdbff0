package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/logrelay/logrelay/internal/bench/procstat"
	"github.com/logrelay/logrelay/internal/bench/report"
	"github.com/logrelay/logrelay/internal/loadgen"
	"github.com/logrelay/logrelay/internal/mockdest"
	"github.com/logrelay/logrelay/internal/wire"
)

// env holds what the scenarios of one run share.
type env struct {
	cfg   *Config
	suite *report.Suite
	prog  *progress

	binOnce sync.Once
	bin     string
	binErr  error
	tmp     string

	mu     sync.Mutex          // guards suite.Profiles and relays
	relays map[string][]string // per scenario, the kinds of relay it started
}

func newEnv(cfg *Config, suite *report.Suite) *env { return &env{cfg: cfg, suite: suite} }

// startedRelay records that the named scenario started a relay of kind
// (relayHandle.Kind).
func (e *env) startedRelay(scenario, kind string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.relays == nil {
		e.relays = map[string][]string{}
	}
	if !slices.Contains(e.relays[scenario], kind) {
		e.relays[scenario] = append(e.relays[scenario], kind)
	}
}

// relaysOf returns the kinds of relay the named scenario started, in order
// of first use.
func (e *env) relaysOf(scenario string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.relays[scenario])
}

func (e *env) close() {
	if e.tmp != "" {
		os.RemoveAll(e.tmp)
	}
}

// dest is a mockdest running in the bench's process.
type dest struct {
	srv    *mockdest.Server
	cancel context.CancelFunc
	done   chan error
	addr   string
	start  time.Time
	cfg    mockdest.Config
}

// destConfig is what a scenario asks of its mockdest.
type destConfig struct {
	Mode                string
	Listen              string // "" = --dest-addr or 127.0.0.1:0
	AckDelay, AckJitter time.Duration
	NackRate, NoAckRate float64
	DownFor, DownEvery  time.Duration
	OutDir              string // mockdest writes its .hgrm and CSV files here when it stops; "" = none
}

func (e *env) startDest(ctx context.Context, dc destConfig) (*dest, error) {
	c := mockdest.DefaultConfig()
	c.Mode = e.cfg.DestMode
	if dc.Mode != "" {
		c.Mode = dc.Mode
	}
	c.AckDelay, c.AckJitter, c.NackRate, c.NoAckRate = dc.AckDelay, dc.AckJitter, dc.NackRate, dc.NoAckRate
	c.DownFor, c.DownEvery = dc.DownFor, dc.DownEvery
	c.OutDir = dc.OutDir
	c.Logger = e.cfg.Logger.With("component", "mockdest")
	listen := dc.Listen
	if listen == "" {
		listen = e.cfg.DestAddr
	}
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	c.Listen = listen
	srv, err := mockdest.New(c)
	if err != nil {
		return nil, err
	}
	var ln net.Listener
	for i := 0; ; i++ { // a fixed address may still be held by the previous scenario's mockdest
		ln, err = net.Listen("tcp", listen)
		if err == nil || i == 50 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("mockdest: %w", err)
	}
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d := &dest{srv: srv, cancel: cancel, done: make(chan error, 1), addr: ln.Addr().String(), start: time.Now(), cfg: c}
	go func() { d.done <- srv.Serve(dctx, ln) }()
	select {
	case <-srv.Ready():
	case err := <-d.done:
		cancel()
		return nil, fmt.Errorf("mockdest: %w", err)
	}
	return d, nil
}

// stop ends mockdest and returns its final snapshot.
func (d *dest) stop() (*mockdest.Snapshot, error) {
	d.cancel()
	err := <-d.done
	s := d.srv.Snapshot()
	return &s, err
}

// waitArrived waits until mockdest holds at least n distinct stamped
// messages, or until timeout; it reports whether they arrived.
func (d *dest) waitArrived(ctx context.Context, n uint64, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if d.srv.Progress().Distinct >= n {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitStream waits until mockdest holds at least n distinct messages of
// stream id, and returns how many it holds.
func (d *dest) waitStream(ctx context.Context, id uint32, n int, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		st, _ := d.srv.Recorder().Stream(id)
		if int(st.Distinct) >= n || time.Now().After(deadline) || ctx.Err() != nil {
			return int(st.Distinct)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// watcher polls a scenario's relay (peaks of connections and pending
// messages), loadgen's live counter (progress and the send-rate series)
// and samples the relay process's CPU and RSS.
type watcher struct {
	h       relayHandle
	sampler *procstat.Sampler
	sent    func() uint64

	mu       sync.Mutex
	last     relayStats
	lastErr  error
	samples  int
	connPeak int64
	pendPeak int64
	rate     []report.RatePoint
}

func (e *env) watch(ctx context.Context, g *errgroup.Group, h relayHandle, sent func() uint64) *watcher {
	w := &watcher{h: h, sent: sent}
	if pid := h.PID(); pid > 0 && h.Kind() != "in-process" {
		w.sampler = procstat.NewSampler(pid, 200*time.Millisecond)
		g.Go(func() error { return w.sampler.Run(ctx) })
	}
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

func (w *watcher) poll(rate bool) {
	s, err := w.h.Stats()
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.lastErr = err
	} else {
		w.last = s
		w.samples++
		w.connPeak = max(w.connPeak, s.ConnsOpen)
		w.pendPeak = max(w.pendPeak, s.Pending)
	}
	if rate && w.sent != nil {
		w.rate = append(w.rate, report.RatePoint{At: time.Now(), Sent: w.sent()})
	}
}

// relayObs returns the relay part of the observation (nil when the relay
// could never be read).
func (w *watcher) relayObs(maxPending int) *report.Relay {
	w.poll(false)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.samples == 0 {
		return nil
	}
	s := w.last
	src := "in-process, relay.Stats"
	switch w.h.Kind() {
	case "process":
		src = "process, /metrics before its shutdown"
	case "external":
		src = "external, /metrics" // the bench does not stop it
	}
	return &report.Relay{Source: src, Received: s.Received, Delivered: s.Delivered, Rejected: s.Rejected,
		Retries: s.Retries, SinkErrors: s.SinkErrors, Batches: s.Batches, ConnsTotal: s.ConnsTotal,
		ConnsPeak: w.connPeak, ConnsEnd: s.ConnsOpen, PendingPeak: w.pendPeak, MaxPending: maxPending, Samples: w.samples}
}

func (w *watcher) procObs() *procstat.Summary {
	if w.sampler == nil {
		return nil
	}
	w.sampler.Sample()
	s, ok := w.sampler.Summary()
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
		excused := mergeRanges(append(append([]wire.SeqRange(nil), s.Failed...), s.AtRisk...), s.LastSeq)
		var ex uint64
		for _, r := range excused {
			ex += r.Len()
		}
		d.Excused += ex
		d.MustArrive += s.LastSeq - ex
		for _, m := range missing(s.ID, s.LastSeq) {
			for _, lost := range subtract(m, excused) {
				d.Lost += lost.Len()
				if len(d.Examples) < 10 {
					d.Examples = append(d.Examples, report.Gap{Stream: s.ID, SeqRange: lost})
				}
			}
		}
	}
	return d
}

// mergeRanges sorts and merges rs, clipped to [1, upTo].
func mergeRanges(rs []wire.SeqRange, upTo uint64) []wire.SeqRange {
	var out []wire.SeqRange
	for _, r := range sortRanges(rs) {
		r.From = max(r.From, 1)
		r.To = min(r.To, upTo)
		if r.From > r.To {
			continue
		}
		if n := len(out); n > 0 && r.From <= out[n-1].To+1 {
			out[n-1].To = max(out[n-1].To, r.To)
			continue
		}
		out = append(out, r)
	}
	return out
}

func sortRanges(rs []wire.SeqRange) []wire.SeqRange {
	s := append([]wire.SeqRange(nil), rs...)
	for i := 1; i < len(s); i++ { // insertion sort: a handful of ranges
		for j := i; j > 0 && s[j].From < s[j-1].From; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}

// subtract returns the parts of m not covered by the sorted, merged ex.
func subtract(m wire.SeqRange, ex []wire.SeqRange) []wire.SeqRange {
	var out []wire.SeqRange
	cur := m.From
	for _, x := range ex {
		if x.To < cur || x.From > m.To {
			continue
		}
		if x.From > cur {
			out = append(out, wire.SeqRange{From: cur, To: x.From - 1})
		}
		if x.To >= m.To {
			return out
		}
		cur = x.To + 1
	}
	if cur <= m.To {
		out = append(out, wire.SeqRange{From: cur, To: m.To})
	}
	return out
}

// errJoin joins non-nil errors, ignoring context cancellation at the end of
// a run.
func errJoin(errs ...error) error {
	var keep []error
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			keep = append(keep, err)
		}
	}
	return errors.Join(keep...)
}
