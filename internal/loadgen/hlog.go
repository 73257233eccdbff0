package loadgen

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Interval logs hold nanoseconds, the unit the HdrHistogram log tools
// assume (they print Interval_Max in ms by dividing by 1e6); the report's
// histograms hold microseconds.
const hlogMaxNs = histMaxUs * 1000

func newNsHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, hlogMaxNs, 3) }

// hlogWriter writes interval histograms with hdrhistogram-go's log writer.
type hlogWriter struct {
	bw    *bufio.Writer
	lw    *hdrhistogram.HistogramLogWriter
	last  time.Time
	ns    *hdrhistogram.Histogram
	err   error
	begun bool
}

func newHlogWriter(w io.Writer) *hlogWriter {
	bw := bufio.NewWriter(w)
	return &hlogWriter{bw: bw, lw: hdrhistogram.NewHistogramLogWriter(bw), ns: newNsHist()}
}

// begin writes the header: format version, start and base time (interval
// timestamps are relative to the start), legend.
func (h *hlogWriter) begin(start time.Time) {
	ms := start.UnixMilli()
	h.last = start
	h.lw.SetBaseTime(ms)
	h.keep(h.lw.OutputLogFormatVersion())
	h.keep(h.lw.OutputComment("[logrelay loadgen interval log; values in ns; tags: lag = schedule lag, connect = connect latency]"))
	h.keep(h.lw.OutputStartTime(ms))
	h.keep(h.lw.OutputBaseTime(ms))
	h.keep(h.lw.OutputLegend())
	h.begun = true
}

func (h *hlogWriter) keep(err error) {
	if h.err == nil {
		h.err = err
	}
}

// interval writes the histograms (µs) of the interval ending at now, in
// tag order.
func (h *hlogWriter) interval(now time.Time, hs map[string]*hdrhistogram.Histogram) error {
	for _, t := range slices.Sorted(maps.Keys(hs)) {
		rescale(h.ns, hs[t], 1000, 1)
		h.ns.SetTag(t)
		h.ns.SetStartTimeMs(h.last.UnixMilli())
		h.ns.SetEndTimeMs(now.UnixMilli())
		h.keep(h.lw.OutputIntervalHistogram(h.ns))
	}
	h.last = now
	return h.err
}

func (h *hlogWriter) flush() error {
	h.keep(h.bw.Flush())
	return h.err
}

// Merged is the result of merging interval logs: per tag, the total
// histogram and the histograms of each whole second (µs).
type Merged struct {
	Files     int
	Intervals int                                // interval histograms read
	Totals    map[string]*hdrhistogram.Histogram // µs
	// PerSecond maps a tag to its histograms by Unix second of interval
	// start, merged across inputs.
	PerSecond map[string]map[int64]*hdrhistogram.Histogram
}

// MergeLogs reads interval logs written by loadgen processes (possibly on
// several machines) and merges them per tag. Values are converted back to
// microseconds.
func MergeLogs(logs ...io.Reader) (*Merged, error) {
	m := &Merged{Totals: map[string]*hdrhistogram.Histogram{}, PerSecond: map[string]map[int64]*hdrhistogram.Histogram{}}
	us := newHist()
	for i, r := range logs {
		lr := hdrhistogram.NewHistogramLogReader(r)
		for {
			h, err := lr.NextIntervalHistogram()
			if err != nil {
				return nil, fmt.Errorf("merge: input %d: interval %d: %w", i+1, m.Intervals+1, err)
			}
			if h == nil {
				break
			}
			m.Intervals++
			tag := h.Tag()
			if tag == "" {
				tag = "untagged"
			}
			rescale(us, h, 1, 1000)
			if m.Totals[tag] == nil {
				m.Totals[tag] = newHist()
				m.PerSecond[tag] = map[int64]*hdrhistogram.Histogram{}
			}
			m.Totals[tag].Merge(us)
			sec := int64(math.Floor(float64(h.StartTimeMs()) / 1000))
			ps := m.PerSecond[tag][sec]
			if ps == nil {
				ps = newHist()
				ps.SetStartTimeMs(sec * 1000)
				ps.SetEndTimeMs(sec*1000 + 1000)
				m.PerSecond[tag][sec] = ps
			}
			ps.Merge(us)
		}
		m.Files++
	}
	if m.Intervals == 0 {
		return nil, ErrNoHistograms
	}
	return m, nil
}

// WriteLog writes the merged per-second histograms as one interval log.
func (m *Merged) WriteLog(w io.Writer) error {
	first := int64(math.MaxInt64)
	for _, bySec := range m.PerSecond {
		for s := range bySec {
			first = min(first, s)
		}
	}
	hw := newHlogWriter(w)
	hw.begin(time.Unix(first, 0))
	secs := map[int64]bool{}
	for _, bySec := range m.PerSecond {
		for s := range bySec {
			secs[s] = true
		}
	}
	for _, s := range slices.Sorted(maps.Keys(secs)) {
		hs := map[string]*hdrhistogram.Histogram{}
		for tag, bySec := range m.PerSecond {
			if h := bySec[s]; h != nil {
				hs[tag] = h
			}
		}
		hw.last = time.Unix(s, 0)
		if err := hw.interval(time.Unix(s+1, 0), hs); err != nil {
			return err
		}
	}
	return hw.flush()
}

// WriteText writes a percentile summary of every merged tag.
func (m *Merged) WriteText(w io.Writer) error {
	tags := slices.Sorted(maps.Keys(m.Totals))
	if _, err := fmt.Fprintf(w, "merged %d interval histograms from %d files\n", m.Intervals, m.Files); err != nil {
		return err
	}
	for _, t := range tags {
		h := m.Totals[t]
		if _, err := fmt.Fprintf(w, "  %-8s ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  (n=%d)\n", t,
			ms(h.ValueAtPercentile(50)), ms(h.ValueAtPercentile(90)), ms(h.ValueAtPercentile(99)),
			ms(h.ValueAtPercentile(99.9)), ms(h.Max()), h.TotalCount()); err != nil {
			return err
		}
	}
	return nil
}

// WriteHgrm writes tag's merged histogram as an .hgrm file (ms).
func (m *Merged) WriteHgrm(w io.Writer, tag string) error {
	h := m.Totals[tag]
	if h == nil {
		return fmt.Errorf("merge: no histogram tagged %q", tag)
	}
	return hgrmWriter(h)(w)
}
