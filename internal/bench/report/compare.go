package report

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Compare is a sink comparison: the same workload through each row (a
// sink into its destination, the bare pipe, the ideal client of an
// engine), in replicates interleaved so that drift hits every row alike,
// for every batch size and sink concurrency swept.
type Compare struct {
	// Messages is each step's workload: that many stamped 200-byte JSON
	// lines, over Conns connections, written as fast as the system under
	// test reads them.
	Messages int `json:"messages"`
	Conns    int `json:"conns"`
	// Replicates is the number of steps per row.
	Replicates    int           `json:"replicates"`
	FlushInterval time.Duration `json:"flush_interval_ns"`
	Rows          []CompareRow  `json:"rows"`
	// Skipped names the rows left out and why (e.g. VictoriaLogs absent).
	Skipped []string `json:"skipped,omitempty"`
}

// CompareRow is one row of the comparison at one batch size and sink
// concurrency: its replicates and their medians.
type CompareRow struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"` // "relay", "pipe" or "ideal"
	Sink        string `json:"sink,omitempty"`
	BatchSize   int    `json:"batch_size,omitempty"`
	Concurrency int    `json:"concurrency,omitempty"`
	// Ideal names the ideal client's row this relay row is compared with.
	Ideal string        `json:"ideal,omitempty"`
	Steps []CompareStep `json:"steps"`
	// The medians over the steps without an error.
	MsgsPerSec float64 `json:"msgs_per_sec"`
	MiBPerSec  float64 `json:"mib_per_sec"`
	// P50 and P99 are the request (or frame) latency: a relay's
	// logrelay_sink_send_seconds (bucket bounds), the ideal client's own
	// timing of each request; 0 = not measured (the pipe).
	P50 time.Duration `json:"p50_ns,omitempty"`
	P99 time.Duration `json:"p99_ns,omitempty"`
	// CPUPerMsg is the relay (or pipe) process's CPU time per message, in
	// ns; PeakRSS its peak resident set, in bytes.
	CPUPerMsg float64 `json:"cpu_ns_per_msg,omitempty"`
	PeakRSS   uint64  `json:"peak_rss_bytes,omitempty"`
	// Ratio is MsgsPerSec over the Ideal row's; 0 = no ideal row.
	Ratio float64 `json:"ratio_to_ideal,omitempty"`
	// Lost and Duplicates are summed over the steps, from the counts back.
	Lost       uint64 `json:"lost"`
	Duplicates uint64 `json:"duplicates"`
	// Latency merges the steps' latencies (µs), for the plots.
	Latency *hdrhistogram.Histogram `json:"-"`
}

// CompareStep is one replicate of a row.
type CompareStep struct {
	Replicate  int           `json:"replicate"`
	MsgsPerSec float64       `json:"msgs_per_sec"`
	Seconds    float64       `json:"seconds"`
	P50        time.Duration `json:"p50_ns,omitempty"`
	P99        time.Duration `json:"p99_ns,omitempty"`
	CPUPerMsg  float64       `json:"cpu_ns_per_msg,omitempty"`
	PeakRSS    uint64        `json:"peak_rss_bytes,omitempty"`
	// Stored is what the destination holds (rows or distinct messages),
	// Lost and Duplicates what the count back found.
	Stored     uint64 `json:"stored"`
	Lost       uint64 `json:"lost"`
	Duplicates uint64 `json:"duplicates"`
	Err        string `json:"error,omitempty"`
}

// Label is the row's name with its batch size and concurrency.
func (r *CompareRow) Label() string {
	switch {
	case r.BatchSize > 0 && r.Concurrency > 0:
		return fmt.Sprintf("%s (batch %d, conc %d)", r.Name, r.BatchSize, r.Concurrency)
	case r.BatchSize > 0:
		return fmt.Sprintf("%s (batch %d)", r.Name, r.BatchSize)
	}
	return r.Name
}

// Failed returns the row's step errors.
func (r *CompareRow) Failed() []string {
	var es []string
	for _, s := range r.Steps {
		if s.Err != "" {
			es = append(es, fmt.Sprintf("#%d: %s", s.Replicate, s.Err))
		}
	}
	return es
}

func ms(d time.Duration) string {
	if d <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", float64(d)/1e6)
}

// CompareRows returns the comparison table: a header and one line per row.
func CompareRows(c *Compare) [][]string {
	out := [][]string{{"row", "msgs/s", "spread", "MiB/s", "p50 ms", "p99 ms", "CPU ns/msg", "peak RSS MiB", "× ideal", "lost", "dups", "errors"}}
	for i := range c.Rows {
		r := &c.Rows[i]
		var rates []float64
		for _, s := range r.Steps {
			if s.Err == "" {
				rates = append(rates, s.MsgsPerSec)
			}
		}
		spread := "—"
		if len(rates) > 1 {
			spread = fmt.Sprintf("%s–%s", Human(slices.Min(rates)), Human(slices.Max(rates)))
		}
		dash := func(ok bool, f string, v ...any) string {
			if !ok {
				return "—"
			}
			return fmt.Sprintf(f, v...)
		}
		out = append(out, []string{r.Label(), Human(r.MsgsPerSec), spread, fmt.Sprintf("%.1f", r.MiBPerSec), ms(r.P50), ms(r.P99),
			dash(r.CPUPerMsg > 0, "%.0f", r.CPUPerMsg), dash(r.PeakRSS > 0, "%.1f", float64(r.PeakRSS)/(1<<20)),
			dash(r.Ratio > 0, "%.2f", r.Ratio), fmt.Sprint(r.Lost), fmt.Sprint(r.Duplicates), fmt.Sprint(len(r.Failed()))})
	}
	return out
}

// WriteCompareMarkdown writes the comparison as Markdown: the table, the
// rows left out, the errors.
func WriteCompareMarkdown(w io.Writer, c *Compare) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%d messages of 200 bytes over %d connections per step, %d replicates interleaved, flush interval %s. "+
		"msgs/s = messages / (first write → last one stored or acknowledged); spread = min–max over the replicates; "+
		"latency = per request (or frame); CPU and RSS = the relay's (or pipe's) own process; "+
		"lost and dups from the destination's count back.\n\n", c.Messages, c.Conns, c.Replicates, c.FlushInterval)
	rows := CompareRows(c)
	for i, r := range rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
		if i == 0 {
			b.WriteString("|" + strings.Repeat(" --- |", len(r)) + "\n")
		}
	}
	for _, s := range c.Skipped {
		fmt.Fprintf(&b, "\n- left out: %s", s)
	}
	for i := range c.Rows {
		for _, e := range c.Rows[i].Failed() {
			fmt.Fprintf(&b, "\n- %s: %s", c.Rows[i].Label(), e)
		}
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteCompareText writes the comparison table aligned for a terminal.
func WriteCompareText(w io.Writer, c *Compare) error {
	rows := CompareRows(c)
	width := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, cell := range r {
			width[i] = max(width[i], len([]rune(cell)))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		for i, cell := range r {
			pad := strings.Repeat(" ", width[i]-len([]rune(cell)))
			if i == 0 {
				b.WriteString(cell + pad)
			} else {
				b.WriteString("  " + pad + cell)
			}
		}
		b.WriteString("\n")
	}
	for _, s := range c.Skipped {
		fmt.Fprintf(&b, "left out: %s\n", s)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// CompareBarsPlot draws each row's median messages per second as a bar,
// with its replicates as points over it (the spread).
func CompareBarsPlot(title string, c *Compare) (string, error) {
	if len(c.Rows) == 0 {
		return "", errNoData
	}
	vals := make(plotter.Values, len(c.Rows))
	names := make([]string, len(c.Rows))
	var pts plotter.XYs
	for i := range c.Rows {
		r := &c.Rows[i]
		vals[i], names[i] = r.MsgsPerSec, r.Label()
		for _, s := range r.Steps {
			if s.Err == "" {
				pts = append(pts, plotter.XY{X: float64(i), Y: s.MsgsPerSec})
			}
		}
	}
	p := newPlot(title, "", "messages/s")
	b, err := plotter.NewBarChart(vals, vg.Points(16))
	if err != nil {
		return "", err
	}
	b.Color = palette[0]
	b.LineStyle.Width = 0
	p.Add(b)
	if len(pts) > 0 {
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return "", err
		}
		sc.GlyphStyle.Color = palette[1]
		sc.GlyphStyle.Radius = vg.Points(2.5)
		sc.GlyphStyle.Shape = draw.CircleGlyph{}
		p.Add(sc)
		p.Legend.Add("replicates", sc)
	}
	p.NominalX(names...)
	p.X.Tick.Label.Rotation = -0.3
	p.X.Tick.Label.XAlign = draw.XLeft
	p.Y.Min = 0
	p.Y.Tick.Marker = humanTicks{}
	return svg(p)
}

// CompareLatencyPlot draws each row's request (or frame) latency
// percentile curve.
func CompareLatencyPlot(title string, c *Compare) (string, error) {
	var cs []Curve
	for i := range c.Rows {
		if h := c.Rows[i].Latency; h != nil && h.TotalCount() > 0 {
			cs = append(cs, Curve{Name: c.Rows[i].Label(), Hist: h})
		}
	}
	return PercentilePlot(title, "ms", cs, nil)
}

// WriteCompareHTML writes the comparison as a page: the table and the two
// plots.
func WriteCompareHTML(w io.Writer, c *Compare, command []string) error {
	var b strings.Builder
	b.WriteString(`<!doctype html><html><head><meta charset="utf-8"><title>logrelay sink comparison</title>
<style>body{font-family:sans-serif;max-width:1100px;margin:1em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:right}td:first-child,th:first-child{text-align:left}</style></head><body>
<h1>logrelay sink comparison</h1>
`)
	fmt.Fprintf(&b, "<p>Command: <code>%s</code></p>\n", htmlEscape(strings.Join(command, " ")))
	var md strings.Builder
	WriteCompareMarkdown(&md, c)
	intro, _, _ := strings.Cut(md.String(), "\n\n")
	fmt.Fprintf(&b, "<p>%s</p>\n<table>\n", htmlEscape(intro))
	for i, r := range CompareRows(c) {
		tag := "td"
		if i == 0 {
			tag = "th"
		}
		b.WriteString("<tr>")
		for _, cell := range r {
			fmt.Fprintf(&b, "<%s>%s</%s>", tag, htmlEscape(cell), tag)
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</table>\n<ul>\n")
	for _, s := range c.Skipped {
		fmt.Fprintf(&b, "<li>left out: %s</li>\n", htmlEscape(s))
	}
	for i := range c.Rows {
		for _, e := range c.Rows[i].Failed() {
			fmt.Fprintf(&b, "<li>%s: %s</li>\n", htmlEscape(c.Rows[i].Label()), htmlEscape(e))
		}
	}
	b.WriteString("</ul>\n")
	for _, f := range []func() (string, error){
		func() (string, error) {
			return CompareBarsPlot("throughput per row (bars: median; points: replicates)", c)
		},
		func() (string, error) { return CompareLatencyPlot("request (or frame) latency percentiles", c) },
	} {
		if s, err := f(); err == nil {
			b.WriteString("<div>" + s + "</div>\n")
		} else {
			fmt.Fprintf(&b, "<p>(plot: %s)</p>\n", htmlEscape(err.Error()))
		}
	}
	b.WriteString("</body></html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
