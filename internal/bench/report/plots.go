package report

import (
	"bytes"
	"cmp"
	"fmt"
	"image/color"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/logrelay/logrelay/internal/mockdest"
)

// The plots are drawn with gonum.org/v1/plot and rendered to SVG, without
// embedded fonts (the page names sans-serif fonts the browser has).

var palette = []color.Color{
	color.RGBA{0x1f, 0x77, 0xb4, 0xff}, color.RGBA{0xff, 0x7f, 0x0e, 0xff},
	color.RGBA{0x2c, 0xa0, 0x2c, 0xff}, color.RGBA{0xd6, 0x27, 0x28, 0xff},
	color.RGBA{0x94, 0x67, 0xbd, 0xff}, color.RGBA{0x8c, 0x56, 0x4b, 0xff},
	color.RGBA{0xe3, 0x77, 0xc2, 0xff}, color.RGBA{0x7f, 0x7f, 0x7f, 0xff},
	color.RGBA{0xbc, 0xbd, 0x22, 0xff}, color.RGBA{0x17, 0xbe, 0xcf, 0xff},
}

var (
	limitColor = color.RGBA{0xd6, 0x27, 0x28, 0xff}
	eventColor = color.RGBA{0x99, 0x99, 0x99, 0xff}
)

const (
	plotW = 16 * vg.Centimeter
	plotH = 8 * vg.Centimeter
)

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return p
}

func init() {
	plot.DefaultFont = font.Font{Typeface: "Liberation", Variant: "Sans"}
	plotter.DefaultFont = plot.DefaultFont
}

// renderFormat is the format svg renders to; tests may switch it to "png"
// to look at the plots.
var renderFormat = "svg"

// svg renders p and strips the XML prolog so the result can be inlined.
func svg(p *plot.Plot) (string, error) {
	wt, err := p.WriterTo(plotW, plotH, renderFormat)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if _, err := wt.WriteTo(&b); err != nil {
		return "", err
	}
	s := b.String()
	if i := strings.Index(s, "<svg"); i > 0 {
		s = s[i:]
	}
	return s, nil
}

// stems draws a vertical line from the bottom of the data range to each
// point: a bar chart that works on a log-scale Y axis.
type stems struct {
	plotter.XYs
	draw.LineStyle
	floor float64
}

func (s *stems) Plot(c draw.Canvas, p *plot.Plot) {
	tx, ty := p.Transforms(&c)
	for _, xy := range s.XYs {
		x := tx(xy.X)
		c.StrokeLine2(s.LineStyle, x, ty(s.floor), x, ty(xy.Y))
	}
}

func (s *stems) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, xmax, _, ymax = plotter.XYRange(s.XYs)
	return xmin - 1, xmax + 1, s.floor, ymax * 1.5
}

func (s *stems) Thumbnail(c *draw.Canvas) {
	y := c.Center().Y
	c.StrokeLine2(s.LineStyle, c.Min.X, y, c.Max.X, y)
}

// vlines marks moments (x values) over the whole height of the plot, each
// with a short label at the top.
type vlines struct {
	xs     []float64
	labels []string
	style  draw.LineStyle
	text   text.Style
	left   bool // labels to the left of their line
}

func (v *vlines) Plot(c draw.Canvas, p *plot.Plot) {
	tx, _ := p.Transforms(&c)
	for i, x := range v.xs {
		px := tx(x)
		if px < c.Min.X || px > c.Max.X {
			continue
		}
		c.StrokeLine2(v.style, px, c.Min.Y, px, c.Max.Y)
		if v.labels[i] != "" {
			pt := vg.Point{X: px + 2, Y: c.Max.Y - vg.Length(40+9*(i%3))}
			ts := v.text
			if v.left {
				pt.X, ts.XAlign = px-2, draw.XRight
			}
			c.FillText(ts, pt, v.labels[i])
		}
	}
}

func newVlines(xs []float64, labels []string) *vlines {
	ts := text.Style{Color: color.Gray{0x55}, Font: font.From(plot.DefaultFont, 7), Handler: plot.DefaultTextHandler, XAlign: draw.XLeft}
	return &vlines{xs: xs, labels: labels, text: ts,
		style: draw.LineStyle{Color: eventColor, Width: vg.Points(0.8), Dashes: []vg.Length{vg.Points(3), vg.Points(2)}}}
}

// hline is a horizontal limit line with a legend entry.
func hline(y, xmin, xmax float64, c color.Color) (*plotter.Line, error) {
	l, err := plotter.NewLine(plotter.XYs{{X: xmin, Y: y}, {X: xmax, Y: y}})
	if err != nil {
		return nil, err
	}
	l.Color = c
	l.Width = vg.Points(1)
	l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	return l, nil
}

// BatchSizePlot draws the batch-size distribution by flush reason: one stem
// per size that occurred, on a log count axis, with the batch-size limit.
func BatchSizePlot(title string, s *mockdest.Snapshot, batchSize int) (string, error) {
	if s == nil || s.Batches == 0 {
		return "", errNoData
	}
	p := newPlot(title, "messages per batch", "batches (log)")
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	maxX := float64(batchSize)
	for i, reason := range sortedReasons(s.BatchSizes) {
		var xys plotter.XYs
		for n, c := range s.BatchSizes[reason] {
			if c > 0 {
				xys = append(xys, plotter.XY{X: float64(n), Y: float64(c)})
				maxX = max(maxX, float64(n))
			}
		}
		if len(xys) == 0 {
			continue
		}
		for j := range xys { // side by side when several reasons share a size
			xys[j].X += 0.3 * float64(i)
		}
		st := &stems{XYs: xys, floor: 0.8, LineStyle: draw.LineStyle{Color: palette[i%len(palette)], Width: vg.Points(2.5)}}
		p.Add(st)
		p.Legend.Add(reason, st)
	}
	lim := newVlines([]float64{float64(batchSize)}, []string{fmt.Sprintf("batch-size %d", batchSize)})
	lim.style.Color = limitColor
	lim.left = true
	p.Add(lim)
	p.X.Min, p.X.Max = 0, maxX+2
	p.Legend.Left = true
	return svg(p)
}

// percentileTicks label a log axis of 1/(1-q) with percentiles, as the
// HdrHistogram plotter does.
type percentileTicks struct{}

func (percentileTicks) Ticks(min, max float64) []plot.Tick {
	labels := []string{"0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%", "99.99999%"}
	var ts []plot.Tick
	for i, v := 0, 1.0; i < len(labels) && v <= max*1.0001; i, v = i+1, v*10 {
		ts = append(ts, plot.Tick{Value: v, Label: labels[i]})
	}
	return ts
}

// percentileXYs returns the percentile curve of h: x = 1/(1-q) (a log
// axis labelled in percentiles), y = value × scale, with the maximum as the
// last point.
func percentileXYs(h *hdrhistogram.Histogram, scale float64) plotter.XYs {
	n := h.TotalCount()
	if n == 0 {
		return nil
	}
	xys := plotter.XYs{{X: 1, Y: float64(h.ValueAtQuantile(0)) * scale}}
	for i := 1; ; i++ {
		q := 1 - math.Pow(0.5, float64(i)/5)
		x := 1 / (1 - q)
		if x >= float64(n) {
			break
		}
		xys = append(xys, plotter.XY{X: x, Y: float64(h.ValueAtQuantile(100*q)) * scale})
	}
	xys = append(xys, plotter.XY{X: max(float64(n), 1.5), Y: float64(h.Max()) * scale})
	return xys
}

// Curve is one named histogram on a percentile plot.
type Curve struct {
	Name string
	Hist *hdrhistogram.Histogram
}

// PercentilePlot draws the percentile curves of histograms of µs on a log
// percentile axis, in unit ("ms" or "s"), with optional horizontal limits.
func PercentilePlot(title, unit string, curves []Curve, limits map[string]float64) (string, error) {
	scale := 1e-3
	if unit == "s" {
		scale = 1e-6
	}
	p := newPlot(title, "percentile", unit)
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = percentileTicks{}
	p.Legend.Left = true
	xmax := 10.0
	drawn := 0
	for i, c := range curves {
		if c.Hist == nil {
			continue
		}
		xys := percentileXYs(c.Hist, scale)
		if len(xys) == 0 {
			continue
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return "", err
		}
		l.Color = palette[i%len(palette)]
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(c.Name, l)
		xmax = max(xmax, xys[len(xys)-1].X)
		drawn++
	}
	if drawn == 0 {
		return "", errNoData
	}
	for _, n := range slices.Sorted(maps.Keys(limits)) {
		l, err := hline(limits[n], 1, xmax, limitColor)
		if err != nil {
			return "", err
		}
		p.Add(l)
		p.Legend.Add(n, l)
	}
	p.X.Min, p.X.Max = 1, xmax
	p.Y.Min = 0
	if len(limits) > 0 { // room above the limit lines for the legend
		top := 0.0
		for _, v := range limits {
			top = max(top, v)
		}
		p.Y.Max = max(p.Y.Max, 1.4*top)
	}
	return svg(p)
}

// ThroughputPlot draws messages per second over time: arrivals at mockdest
// and loadgen's sends, with events marked.
func ThroughputPlot(title string, sc *Scenario) (string, error) {
	s := sc.Obs.Dest
	if s == nil || len(s.Throughput) == 0 {
		return "", errNoData
	}
	t0 := sc.Start
	p := newPlot(title, "seconds since the scenario started", "messages/s")
	var arr plotter.XYs
	for _, pt := range s.Throughput {
		arr = append(arr, plotter.XY{X: float64(pt.Unix) - float64(t0.UnixNano())/1e9, Y: float64(pt.Messages)})
	}
	l, err := plotter.NewLine(arr)
	if err != nil {
		return "", err
	}
	l.Color, l.Width = palette[0], vg.Points(1.5)
	p.Add(l)
	p.Legend.Add("arrived at mockdest", l)
	if sent := sendRateXYs(sc.SendRate, t0); len(sent) > 1 {
		l2, err := plotter.NewLine(sent)
		if err != nil {
			return "", err
		}
		l2.Color, l2.Width = palette[1], vg.Points(1)
		l2.Dashes = []vg.Length{vg.Points(3), vg.Points(2)}
		p.Add(l2)
		p.Legend.Add("sent by loadgen", l2)
	}
	if len(sc.Events) > 0 {
		xs := make([]float64, len(sc.Events))
		ls := make([]string, len(sc.Events))
		for i, e := range sc.Events {
			xs[i], ls[i] = e.At.Sub(t0).Seconds(), e.Label
		}
		p.Add(newVlines(xs, ls))
	}
	p.Y.Min = 0
	p.Y.Max *= 1.4 // room for the legend and the event labels
	p.Legend.Left = true
	p.Y.Tick.Marker = humanTicks{}
	p.X.Min = 0
	p.X.Max = max(sc.End.Sub(t0).Seconds(), arr[len(arr)-1].X+1)
	return svg(p)
}

func sendRateXYs(pts []RatePoint, t0 time.Time) plotter.XYs {
	var xys plotter.XYs
	for i := 1; i < len(pts); i++ {
		dt := pts[i].At.Sub(pts[i-1].At).Seconds()
		if dt <= 0 || pts[i].Sent < pts[i-1].Sent {
			continue
		}
		xys = append(xys, plotter.XY{X: pts[i].At.Sub(t0).Seconds(), Y: float64(pts[i].Sent-pts[i-1].Sent) / dt})
	}
	return xys
}

// StepsPlot draws the throughput steps (relay replicates, the profiled
// run, pipe, sustained step, peers) as bars of messages per second.
func StepsPlot(title string, t *Throughput) (string, error) {
	var steps []Step
	steps = append(steps, t.Replicates...)
	if t.Profiled != nil {
		steps = append(steps, *t.Profiled)
	}
	if t.Pipe != nil {
		steps = append(steps, *t.Pipe)
	}
	if t.Sustained != nil {
		steps = append(steps, *t.Sustained)
	}
	steps = append(steps, t.Peers...)
	if len(steps) == 0 {
		return "", errNoData
	}
	vals := make(plotter.Values, len(steps))
	names := make([]string, len(steps))
	for i, s := range steps {
		vals[i], names[i] = s.MsgsPerSec, s.Name
	}
	p := newPlot(title, "", "messages/s")
	b, err := plotter.NewBarChart(vals, vg.Points(20))
	if err != nil {
		return "", err
	}
	b.Color = palette[0]
	b.LineStyle.Width = 0
	p.Add(b)
	p.NominalX(names...)
	p.X.Tick.Label.Rotation = -0.3
	p.X.Tick.Label.XAlign = draw.XLeft
	p.Y.Min = 0
	p.Y.Tick.Marker = humanTicks{}
	return svg(p)
}

func sortedReasons(m map[string][]uint64) []string {
	order := map[string]int{"size": 0, "age": 1, "shutdown": 2, "bytes": 3, "read": 4}
	return slices.SortedFunc(maps.Keys(m), func(a, b string) int {
		oa, ka := order[a]
		ob, kb := order[b]
		switch {
		case ka && kb:
			return cmp.Compare(oa, ob)
		case ka != kb:
			if ka {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
}

// humanTicks are the default ticks labelled compactly (1.5M, 250k).
type humanTicks struct{}

func (humanTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = humanNum(ts[i].Value)
		}
	}
	return ts
}

func humanNum(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", v/1e6), "0"), ".") + "M"
	case a >= 1e3:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.1f", v/1e3), "0"), ".") + "k"
	}
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.1f", v), "0"), ".")
}
