// Package compare runs the same workload through several sinks and their
// destinations in one run — a row each — and through the ceilings (the
// bare TCP pipe, the ideal client of an engine), interleaved by replicate
// so drift hits all alike, and returns one report.Compare table.
//
// A row is one entry in Rows: its name, its kind (a relay, the pipe, the
// ideal client), the destination it starts and counts back from, and, for
// a relay, the sink URL that points the relay at that destination. Adding
// a sink is adding its row.
//
// The workload of every step: Config.Messages stamped 200-byte JSON lines
// (ideal.Lines) over Config.Conns connections, written as fast as the
// system under test reads them, so the sender costs little; the ideal
// client sends the very same lines as prebuilt _bulk bodies of the batch
// size. A step's rate is Messages / (first write → the last message
// acknowledged to the relay, stored by mockdest, or answered to the ideal
// client). Relays run as their own processes, so their CPU and peak RSS
// are their own.
package compare

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/logrelay/logrelay/internal/bench/dest"
	"github.com/logrelay/logrelay/internal/bench/ideal"
	"github.com/logrelay/logrelay/internal/bench/pipe"
	"github.com/logrelay/logrelay/internal/bench/procstat"
	"github.com/logrelay/logrelay/internal/bench/report"
	"github.com/logrelay/logrelay/internal/bench/stats"
	"github.com/logrelay/logrelay/internal/bench/sut"
	"github.com/logrelay/logrelay/internal/victorialogs"
	"github.com/logrelay/logrelay/internal/wire"
)

// ErrConfig means the comparison's configuration is invalid.
var ErrConfig = errors.New("compare: invalid configuration")

// Kind is what a row measures.
type Kind string

const (
	Relay Kind = "relay" // the relay, as a process, with the row's sink
	Pipe  Kind = "pipe"  // the bare TCP pipe into mockdest's lines receiver
	Ideal Kind = "ideal" // the ideal client POSTing prebuilt _bulk bodies
)

// Dest is a running destination of a row.
type Dest struct {
	// Addr is where it listens.
	Addr string
	// Endpoint is its _bulk URL for the ideal client (http://…), "" if it
	// has none.
	Endpoint string
	// Count returns what it holds after a step: documents stored (rows)
	// and distinct stamped messages among them.
	Count func(ctx context.Context) (stored, distinct uint64, err error)
	// Stop stops it.
	Stop func()
}

// Row is one row of the comparison.
type Row struct {
	Name string
	Kind Kind
	// Start starts the row's destination for one step; dir is a fresh
	// directory for its data.
	Start func(ctx context.Context, dir string) (*Dest, error)
	// Sink is the relay's sink URL into d (Relay rows).
	Sink func(d *Dest) string
	// Args are the relay's flags of the row's sink (Relay rows).
	Args []string
	// Ideal names the ideal client's row a relay row is compared with.
	Ideal string
	// NeedsVictoriaLogs rows are left out, with the reason, when the
	// victoria-logs binary is not there.
	NeedsVictoriaLogs bool
	// Swept rows run at every batch size and concurrency swept; the others
	// (the pipe) once per replicate.
	Swept bool
}

// vlQuery maps the ideal.Lines fields for VictoriaLogs: msg is the
// message, the relay's @timestamp the time, host the stream.
const vlQuery = "?_msg_field=msg&_time_field=@timestamp&_stream_fields=host"

// Rows returns every row the bench knows, in the table's order, for the
// victoria-logs binary vlBin ("" = none: its rows say so).
func Rows(vlBin string) []Row {
	mock := func(sink string, mode string) func(ctx context.Context, dir string) (*Dest, error) {
		return func(ctx context.Context, dir string) (*Dest, error) {
			d, err := dest.Start(ctx, dest.Config{Sink: sink, Mode: mode})
			if err != nil {
				return nil, err
			}
			return &Dest{Addr: d.Addr(), Endpoint: strings.Replace(d.Sink(), "elasticsearch+http://", "http://", 1),
				Count: func(context.Context) (uint64, uint64, error) {
					s := d.Snapshot()
					return s.Streams.Distinct + s.Streams.Duplicates, s.Streams.Distinct, nil
				},
				Stop: func() { d.Stop() }}, nil
		}
	}
	vlNode := func(ctx context.Context, dir string) (*Dest, error) {
		n, err := victorialogs.Start(ctx, vlBin, filepath.Join(dir, "vl"))
		if err != nil {
			return nil, err
		}
		return &Dest{Addr: n.Addr(), Endpoint: n.URL("/insert/elasticsearch/_bulk" + vlQuery),
			Count: func(ctx context.Context) (uint64, uint64, error) { return vlCount(ctx, n.ForceFlush, n.Stats) },
			Stop:  n.Stop}, nil
	}
	vlCluster := func(ctx context.Context, dir string) (*Dest, error) {
		c, err := victorialogs.StartCluster(ctx, vlBin, filepath.Join(dir, "vl"), 2, nil, nil)
		if err != nil {
			return nil, err
		}
		return &Dest{Addr: c.Front.Addr(), Endpoint: c.Front.URL("/insert/elasticsearch/_bulk" + vlQuery),
			Count: func(ctx context.Context) (uint64, uint64, error) {
				return vlCount(ctx, c.ForceFlush, c.Front.Stats)
			},
			Stop: c.Stop}, nil
	}
	file := func(ctx context.Context, dir string) (*Dest, error) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		path := filepath.Join(dir, "relay.log")
		return &Dest{Addr: path, Count: func(context.Context) (uint64, uint64, error) { return countFile(path) }, Stop: func() {}}, nil
	}
	fileSink := func(d *Dest) string { return "file://" + d.Addr }
	bulkSink := func(d *Dest) string { return strings.Replace(d.Endpoint, "http://", "elasticsearch+http://", 1) }
	return []Row{
		{Name: "bare TCP pipe → mockdest", Kind: Pipe, Start: mock(dest.SinkTCP, "lines")},
		{Name: "tcp → mockdest", Kind: Relay, Swept: true, Start: mock(dest.SinkTCP, "frames"),
			Sink: func(d *Dest) string { return "tcp://" + d.Addr }},
		{Name: "_bulk → mockdest", Kind: Relay, Swept: true, Start: mock(dest.SinkElasticsearch, ""), Sink: bulkSink},
		{Name: "file fsync=on", Kind: Relay, Swept: true, Start: file, Sink: fileSink, Args: []string{"--file-fsync=true"}},
		{Name: "file fsync=off", Kind: Relay, Swept: true, Start: file, Sink: fileSink, Args: []string{"--file-fsync=false"}},
		{Name: "quickwit → mockdest", Kind: Relay, Swept: true, Start: mock(dest.SinkQuickwit, ""),
			Sink: func(d *Dest) string { return "quickwit+http://" + d.Addr + "/" + dest.BulkIndex }},
		// Loki's push API carries each line as text; VictoriaLogs parses a
		// JSON line into its fields (msg becomes _msg), so the stamp field
		// is there to count.
		{Name: "loki → VictoriaLogs", Kind: Relay, Swept: true, NeedsVictoriaLogs: true, Start: vlNode,
			Sink: func(d *Dest) string { return "loki+http://" + d.Addr + "/insert" }, Args: []string{"--loki-labels", "job=logrelay,host=bench"}},
		{Name: "ideal → VictoriaLogs", Kind: Ideal, Swept: true, NeedsVictoriaLogs: true, Start: vlNode},
		{Name: "_bulk → VictoriaLogs", Kind: Relay, Swept: true, NeedsVictoriaLogs: true, Start: vlNode, Sink: bulkSink,
			Ideal: "ideal → VictoriaLogs"},
		{Name: "ideal → VictoriaLogs cluster", Kind: Ideal, Swept: true, NeedsVictoriaLogs: true, Start: vlCluster},
		{Name: "_bulk → VictoriaLogs cluster", Kind: Relay, Swept: true, NeedsVictoriaLogs: true, Start: vlCluster, Sink: bulkSink,
			Ideal: "ideal → VictoriaLogs cluster"},
	}
}

// RowNames returns the names of Rows, in order.
func RowNames() []string {
	var ns []string
	for _, r := range Rows("") {
		ns = append(ns, r.Name)
	}
	return ns
}

// countFile counts the lines of the file sink's file at path and the
// distinct stamped messages among them (none yet: 0, 0).
func countFile(path string) (lines, distinct uint64, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	seen := map[uint64]struct{}{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines++
		if st, ok := wire.ParseStamp(sc.Bytes()); ok {
			seen[uint64(st.Stream)<<40|st.Seq] = struct{}{}
		}
	}
	return lines, uint64(len(seen)), sc.Err()
}

// vlCount force-flushes VictoriaLogs and counts its rows and distinct
// stamps back with LogsQL.
func vlCount(ctx context.Context, flush func(context.Context) error, q func(ctx context.Context, query, expr string) (int64, error)) (uint64, uint64, error) {
	if err := flush(ctx); err != nil {
		return 0, 0, fmt.Errorf("force flush: %w", err)
	}
	rows, err := q(ctx, "*", "count()")
	if err != nil {
		return 0, 0, err
	}
	n, err := q(ctx, "*", "count_uniq(stamp)")
	if err != nil {
		return 0, 0, err
	}
	return uint64(rows), uint64(n), nil
}

// Config is one comparison.
type Config struct {
	// Rows are the rows to run, in order; nil = Rows(VictoriaLogs binary).
	Rows []Row
	// Messages per step (default 200,000) over Conns connections (default
	// 4); Replicates steps per row (default 3).
	Messages, Conns, Replicates int
	// BatchSizes and Concurrencies are swept (every pair) for the swept
	// rows; default [100] and [2].
	BatchSizes, Concurrencies []int
	// FlushInterval is the relay's (default 10 s).
	FlushInterval time.Duration
	// Relays starts the relay processes (its BatchSize and FlushInterval
	// are overridden per step).
	Relays *sut.Starter
	// PipeBin and PipeArgs run the bare pipe as its own process (see
	// pipe.Config); "" = in-process.
	PipeBin  string
	PipeArgs []string
	// VictoriaLogs is the victoria-logs binary; "" = victorialogs.Binary().
	// When there is none, the rows that need it are left out and Skipped
	// says why.
	VictoriaLogs string
	// Dir holds the destinations' data, one directory per step, removed
	// after it; "" = a temporary directory.
	Dir string
	// StepTimeout bounds one step (default 3 min).
	StepTimeout time.Duration
	// Notify, if set, is told of each step as it starts and ends.
	Notify func(msg string)
	// Logger receives the components' logs; nil = discard.
	Logger *slog.Logger
}

func (c *Config) defaults() error {
	if c.Messages == 0 {
		c.Messages = 200_000
	}
	if c.Conns == 0 {
		c.Conns = 4
	}
	if c.Replicates == 0 {
		c.Replicates = 3
	}
	if len(c.BatchSizes) == 0 {
		c.BatchSizes = []int{100}
	}
	if len(c.Concurrencies) == 0 {
		c.Concurrencies = []int{2}
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = 10 * time.Second
	}
	if c.StepTimeout == 0 {
		c.StepTimeout = 3 * time.Minute
	}
	if c.Notify == nil {
		c.Notify = func(string) {}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case c.Messages < 0 || c.Conns < 1 || c.Replicates < 1:
		return fmt.Errorf("%w: messages %d, conns %d, replicates %d", ErrConfig, c.Messages, c.Conns, c.Replicates)
	case c.Relays == nil:
		return fmt.Errorf("%w: no relay starter", ErrConfig)
	}
	for _, b := range c.BatchSizes {
		if b < 1 {
			return fmt.Errorf("%w: batch size %d", ErrConfig, b)
		}
	}
	for _, n := range c.Concurrencies {
		if n < 1 {
			return fmt.Errorf("%w: concurrency %d", ErrConfig, n)
		}
	}
	return nil
}

// cell is one row at one batch size and concurrency.
type cell struct {
	row  Row
	rec  *report.CompareRow
	hist *hdrhistogram.Histogram
}

// Run runs the comparison and returns its table. Step failures are
// recorded in their rows; the error is for a comparison that could not
// run at all.
func Run(ctx context.Context, c Config) (*report.Compare, error) {
	if err := c.defaults(); err != nil {
		return nil, err
	}
	out := &report.Compare{Messages: c.Messages, Conns: c.Conns, Replicates: c.Replicates, FlushInterval: c.FlushInterval}
	vlBin := c.VictoriaLogs
	var vlErr error
	if vlBin == "" {
		vlBin, vlErr = victorialogs.Binary()
	}
	rows := c.Rows
	if rows == nil {
		rows = Rows(vlBin)
	}
	dir := c.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "logrelay-compare-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	var cells []*cell
	for _, r := range rows {
		if r.NeedsVictoriaLogs && vlErr != nil {
			out.Skipped = append(out.Skipped, fmt.Sprintf("%s: %v", r.Name, vlErr))
			continue
		}
		bs, cs := c.BatchSizes, c.Concurrencies
		if !r.Swept {
			bs, cs = []int{0}, []int{0}
		}
		for _, b := range bs {
			for _, n := range cs {
				rec := &report.CompareRow{Name: r.Name, Kind: string(r.Kind), BatchSize: b, Concurrency: n, Ideal: r.Ideal}
				cells = append(cells, &cell{row: r, rec: rec, hist: hdrhistogram.New(1, int64(time.Minute/time.Microsecond), 3)})
			}
		}
	}
	lines := ideal.Lines(c.Messages, c.Conns)
	step := 0
	for rep := 1; rep <= c.Replicates && ctx.Err() == nil; rep++ {
		for _, ce := range cells {
			if ctx.Err() != nil {
				break
			}
			step++
			c.Notify(fmt.Sprintf("compare #%d: %s", rep, ce.rec.Label()))
			sdir := filepath.Join(dir, fmt.Sprintf("step-%d", step))
			s := c.step(ctx, ce, lines, sdir)
			os.RemoveAll(sdir)
			s.Replicate = rep
			ce.rec.Steps = append(ce.rec.Steps, s)
			msg := fmt.Sprintf("compare #%d: %s: %s msgs/s", rep, ce.rec.Label(), report.Human(s.MsgsPerSec))
			if s.Err != "" {
				msg += " (" + s.Err + ")"
			}
			c.Notify(msg)
		}
	}
	for _, ce := range cells {
		summarize(ce)
		out.Rows = append(out.Rows, *ce.rec)
	}
	ratios(out)
	return out, ctx.Err()
}

// step runs one replicate of a cell.
func (c *Config) step(ctx context.Context, ce *cell, lines [][]byte, dir string) report.CompareStep {
	ctx, cancel := context.WithTimeout(ctx, c.StepTimeout)
	defer cancel()
	var s report.CompareStep
	d, err := ce.row.Start(ctx, dir)
	if err != nil {
		s.Err = fmt.Sprintf("destination: %v", err)
		return s
	}
	defer d.Stop()
	var el time.Duration
	switch ce.row.Kind {
	case Ideal:
		el, err = c.idealStep(ctx, ce, d, lines, &s)
	case Pipe:
		el, err = c.pipeStep(ctx, d, lines, &s)
	default:
		el, err = c.relayStep(ctx, ce, d, lines, &s)
	}
	if err != nil {
		s.Err = err.Error()
		return s
	}
	s.Seconds = el.Seconds()
	s.MsgsPerSec = float64(c.Messages) / el.Seconds()
	stored, distinct, err := d.Count(ctx)
	if err != nil {
		s.Err = fmt.Sprintf("count back: %v", err)
		return s
	}
	s.Stored = stored
	if n := uint64(c.Messages); distinct < n {
		s.Lost = n - distinct
	}
	if stored > distinct {
		s.Duplicates = stored - distinct
	}
	return s
}

// idealStep sends lines as prebuilt bodies of the cell's batch size.
func (c *Config) idealStep(ctx context.Context, ce *cell, d *Dest, lines [][]byte, s *report.CompareStep) (time.Duration, error) {
	if d.Endpoint == "" {
		return 0, errors.New("the destination has no _bulk endpoint")
	}
	bodies := ideal.Bodies(lines, ce.rec.BatchSize, wire.BulkFormat{})
	res, err := ideal.Post(ctx, ideal.Config{Endpoint: d.Endpoint, Bodies: bodies, Concurrency: ce.rec.Concurrency})
	if err != nil {
		return 0, err
	}
	s.P50 = time.Duration(res.Latency.ValueAtQuantile(50)) * time.Microsecond
	s.P99 = time.Duration(res.Latency.ValueAtQuantile(99)) * time.Microsecond
	ce.hist.Merge(res.Latency)
	return res.Elapsed, nil
}

// pipeStep feeds lines through the bare pipe into d and waits for them.
func (c *Config) pipeStep(ctx context.Context, d *Dest, lines [][]byte, s *report.CompareStep) (time.Duration, error) {
	pc := pipe.Config{Target: d.Addr, Bin: c.PipeBin, Args: c.PipeArgs}
	if pc.Bin != "" {
		addr, err := sut.FreeAddr()
		if err != nil {
			return 0, err
		}
		pc.Listen = addr
	}
	pp, err := pipe.Start(ctx, pc)
	if err != nil {
		return 0, err
	}
	defer pp.Stop()
	if err := sut.WaitListening(ctx, pp.Addr, 10*time.Second); err != nil {
		return 0, err
	}
	w := procstat.Watch(ctx, pp.PID, 100*time.Millisecond)
	start := time.Now()
	if err := ideal.Feed(ctx, pp.Addr, lines); err != nil {
		w.Stop()
		return 0, err
	}
	err = waitFor(ctx, func() (bool, error) {
		_, distinct, err := d.Count(ctx)
		return distinct >= uint64(c.Messages), err
	})
	el := time.Since(start)
	proc(s, w, c.Messages)
	return el, err
}

// relayStep feeds lines through a fresh relay process with the row's sink
// into d and waits until it has every message acknowledged.
func (c *Config) relayStep(ctx context.Context, ce *cell, d *Dest, lines [][]byte, s *report.CompareStep) (time.Duration, error) {
	sink := ce.row.Sink(d)
	ce.rec.Sink = redactHost(sink)
	h, err := c.Relays.Start(ctx, sut.Config{Sink: sink, BatchSize: ce.rec.BatchSize, SinkConcurrency: ce.rec.Concurrency,
		Args: ce.row.Args}, sut.Process)
	if err != nil {
		return 0, fmt.Errorf("start relay: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		h.Stop(sctx)
	}()
	w := procstat.Watch(ctx, h.PID(), 100*time.Millisecond)
	start := time.Now()
	if err := ideal.Feed(ctx, h.Addr(), lines); err != nil {
		w.Stop()
		return 0, err
	}
	var last sut.Stats
	err = waitFor(ctx, func() (bool, error) {
		st, err := h.Stats()
		if err != nil {
			return false, nil // not yet readable: try again
		}
		last = st
		return st.Delivered+st.Rejected >= uint64(c.Messages), nil
	})
	el := time.Since(start)
	proc(s, w, c.Messages)
	if err != nil {
		return 0, fmt.Errorf("relay delivered %d of %d (pending %d, sink errors %d): %w", last.Delivered, c.Messages, last.Pending, last.SinkErrors, err)
	}
	if st, err := h.Stats(); err == nil {
		last = st
	}
	if last.Rejected > 0 {
		return 0, fmt.Errorf("relay rejected %d messages", last.Rejected)
	}
	s.P50, s.P99 = quantile(last.Send, 0.5), quantile(last.Send, 0.99)
	addBuckets(ce.hist, last.Send)
	return el, nil
}

// redactHost drops the loopback address (or the file's directory) from a
// sink URL: it changes every step.
func redactHost(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	if scheme == "file" {
		return "file:///…/" + filepath.Base(rest)
	}
	_, path, _ := strings.Cut(rest, "/")
	if path != "" {
		path = "/" + path
	}
	return scheme + "://HOST" + path
}

// proc stops w and records the process's CPU per message and peak RSS.
func proc(s *report.CompareStep, w *procstat.Watcher, messages int) {
	if sum, ok := w.Stop(); ok {
		s.CPUPerMsg = sum.CPUSeconds * 1e9 / float64(messages)
		s.PeakRSS = sum.PeakRSS
	}
}

// waitFor polls done every 20 ms until it says so, fails, or ctx ends.
func waitFor(ctx context.Context, done func() (bool, error)) error {
	for {
		ok, err := done()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// quantile returns the upper bound of the bucket holding quantile q of
// cumulative buckets bs (0 = none; the last finite bound for +Inf).
func quantile(bs []sut.Bucket, q float64) time.Duration {
	if len(bs) == 0 || bs[len(bs)-1].Count == 0 {
		return 0
	}
	rank := q * float64(bs[len(bs)-1].Count)
	le := 0.0
	for _, b := range bs {
		if !math.IsInf(b.Le, 1) {
			le = b.Le
		}
		if float64(b.Count) >= rank {
			break
		}
	}
	return time.Duration(le * float64(time.Second))
}

// addBuckets records cumulative buckets into h, each observation at its
// bucket's upper bound (the last finite one for +Inf).
func addBuckets(h *hdrhistogram.Histogram, bs []sut.Bucket) {
	var prev uint64
	le := 0.0
	for _, b := range bs {
		if !math.IsInf(b.Le, 1) {
			le = b.Le
		}
		if n := b.Count - prev; n > 0 && b.Count >= prev {
			h.RecordValues(max(int64(le*1e6), 1), int64(n))
		}
		prev = b.Count
	}
}

// summarize fills a cell's medians and sums from its steps.
func summarize(ce *cell) {
	r := ce.rec
	var rates, p50, p99, cpu, rss []float64
	for _, s := range r.Steps {
		r.Lost += s.Lost
		r.Duplicates += s.Duplicates
		if s.Err != "" {
			continue
		}
		rates = append(rates, s.MsgsPerSec)
		p50, p99 = append(p50, float64(s.P50)), append(p99, float64(s.P99))
		cpu, rss = append(cpu, s.CPUPerMsg), append(rss, float64(s.PeakRSS))
	}
	if len(rates) == 0 {
		return
	}
	r.MsgsPerSec = stats.Median(rates)
	r.MiBPerSec = r.MsgsPerSec * (ideal.LineSize + 1) / (1 << 20)
	r.P50, r.P99 = time.Duration(stats.Median(p50)), time.Duration(stats.Median(p99))
	r.CPUPerMsg = stats.Median(cpu)
	r.PeakRSS = uint64(slices.Max(rss))
	if ce.hist.TotalCount() > 0 {
		r.Latency = ce.hist
	}
}

// ratios sets each relay row's ratio to its ideal row at the same batch
// size and concurrency: the median of the per-replicate ratios.
func ratios(c *report.Compare) {
	for i := range c.Rows {
		r := &c.Rows[i]
		if r.Ideal == "" {
			continue
		}
		for j := range c.Rows {
			id := &c.Rows[j]
			if id.Name != r.Ideal || id.BatchSize != r.BatchSize || id.Concurrency != r.Concurrency {
				continue
			}
			var rs []float64
			for k := range min(len(r.Steps), len(id.Steps)) {
				if a, b := r.Steps[k], id.Steps[k]; a.Err == "" && b.Err == "" && b.MsgsPerSec > 0 {
					rs = append(rs, a.MsgsPerSec/b.MsgsPerSec)
				}
			}
			if len(rs) > 0 {
				r.Ratio = stats.Median(rs)
			}
		}
	}
}
