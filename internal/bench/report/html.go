package report

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"
)

// WriteHTML writes report.html: one self-contained page (inline CSS and
// SVG, no scripts, no network) with the verdict table and, per scenario,
// its figures and plots: batch-size distribution, batch age at flush
// against the flush interval, throughput over time with events marked; and
// the end-to-end latency percentile curves of all scenarios together.
func WriteHTML(w io.Writer, s *Suite) error {
	data := htmlData{Suite: s, Summary: Summary(s), Passed: s.Passed()}
	var curves []Curve
	for _, sc := range s.Scenarios {
		hs := htmlScenario{Scenario: sc, Figures: Figures(sc), Passed: sc.Passed()}
		if d := sc.Obs.Dest; d != nil {
			hs.addPlot(BatchSizePlot("batch sizes by flush reason: "+sc.Name, d, sc.Obs.BatchSize))
			var ages []Curve
			for _, r := range sortedReasons(d.BatchSizes) {
				if h := d.BatchAge[r]; h != nil && h.TotalCount() > 0 {
					ages = append(ages, Curve{Name: r, Hist: h})
				}
			}
			iv := sc.Obs.FlushInterval.Seconds()
			hs.addPlot(PercentilePlot("batch age at flush: "+sc.Name, "s", ages, map[string]float64{
				fmt.Sprintf("flush interval %gs", iv):                                      iv,
				fmt.Sprintf("+ tolerance %s", sc.Obs.AgeTolerance.Round(time.Millisecond)): iv + sc.Obs.AgeTolerance.Seconds(),
			}))
			hs.addPlot(ThroughputPlot("throughput over time: "+sc.Name, sc))
			if d.Latency != nil && d.Latency.TotalCount() > 0 {
				curves = append(curves, Curve{Name: sc.Name, Hist: d.Latency})
			}
		}
		if t := sc.Obs.Throughput; t != nil {
			hs.addPlot(StepsPlot("throughput steps", t))
			hs.Steps = StepRows(t)
		}
		if c := sc.Obs.Compare; c != nil {
			hs.addPlot(CompareBarsPlot("relay vs ideal client (bars: median; points: replicates)", c))
			hs.addPlot(CompareLatencyPlot("request latency percentiles", c))
			hs.Steps = CompareRows(c)
		}
		data.Scenarios = append(data.Scenarios, hs)
	}
	if svgText, err := PercentilePlot("end-to-end latency (send time → arrival at mockdest)", "ms", curves, nil); err == nil {
		data.Latency = template.HTML(svgText)
	} else if !errors.Is(err, errNoData) {
		return err
	}
	var b bytes.Buffer
	if err := pageTmpl.Execute(&b, data); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}

type htmlData struct {
	*Suite
	Summary   string
	Passed    bool
	Latency   template.HTML
	Scenarios []htmlScenario
}

type htmlScenario struct {
	*Scenario
	Figures []Param
	Passed  bool
	Plots   []template.HTML
	Missing []string
	Steps   [][]string
}

// addPlot keeps a rendered plot; a plot without data becomes a note.
func (h *htmlScenario) addPlot(svgText string, err error) {
	switch {
	case err == nil:
		// The SVG is produced by gonum/plot from our own numbers and
		// labels; it is inlined as markup.
		h.Plots = append(h.Plots, template.HTML(svgText))
	case errors.Is(err, errNoData):
	default:
		h.Missing = append(h.Missing, "plot failed: "+err.Error())
	}
}

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"verdict": func(pass bool) string {
		if pass {
			return "PASS"
		}
		return "FAIL"
	},
	"utc":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"join": strings.Join,
	"pct":  func(f float64) string { return fmt.Sprintf("%+.2f%%", 100*f) },
	"f4":   func(f float64) string { return fmt.Sprintf("%.4f", f) },
	"secs": func(s *Scenario) string { return fmt.Sprintf("%.1f", s.Seconds()) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>logrelay bench: {{.Summary}}</title>
<style>
body{font-family:"Liberation Sans",Arial,Helvetica,sans-serif;margin:2em auto;max-width:70em;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}
td,th{border:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4}.num{text-align:right}
.PASS{color:#186a1f;font-weight:bold}.FAIL{color:#b3001b;font-weight:bold}
.banner{padding:.6em 1em;border-radius:.3em;font-weight:bold}
.banner.PASS{background:#e5f5e6}.banner.FAIL{background:#fde8ea}
.plots svg{max-width:100%;height:auto;margin:.5em 0;display:block}
.note{background:#f7f7f7;border-left:3px solid #aaa;padding:.4em .8em;margin:.5em 0}
code{background:#f4f4f4;padding:0 .2em}
</style></head><body>
<h1>logrelay bench report</h1>
<p class="banner {{verdict .Passed}}">{{.Summary}}</p>
<p>Run {{utc .Start}} on {{.Host.Hostname}} ({{.Host.OS}}/{{.Host.Arch}}, {{.Host.CPUs}} CPUs, {{.Host.GoVersion}});
relay {{.RelayMode}}{{if .Sink}}; sink {{.Sink}}{{end}}; batch-size {{.BatchSize}}, flush-interval {{.FlushInterval}}, age tolerance {{.AgeTolerance}}.<br>
Command: <code>{{join .Command " "}}</code></p>
<h2>Verdict</h2>
<table><tr><th>Scenario</th><th>Rule</th><th>Expected</th><th>Measured</th><th>Verdict</th></tr>
{{range .Scenarios}}{{range .Rules}}<tr><td>{{.Scenario}}</td><td>{{.Rule}}</td><td>{{.Expected}}</td><td>{{.Measured}}{{if .Note}}<br><small>{{.Note}}</small>{{end}}</td><td class="{{verdict .Pass}}">{{.Verdict}}</td></tr>
{{end}}{{end}}</table>
{{with .Regression}}<h2>Regression gate</h2>
{{if .Err}}<p class="FAIL">Not computed: {{.Err}}</p>{{else}}
<p>Baseline <code>{{.Baseline}}</code>: Welch's t-test on {{len .Before}} vs {{len .After}} replicates of the throughput step.
Delta {{pct .Gate.Delta}}, t = {{f4 .Gate.T}}, df = {{f4 .Gate.DF}}, <b>p = {{f4 .Gate.P}}</b>.
A regression needs p &lt; {{.Alpha}} and a drop larger than {{pct .MinEffect}}:
<span class="{{if .Gate.Regressed}}FAIL{{else}}PASS{{end}}">{{if .Gate.Regressed}}regressed{{else}}no regression{{end}}</span>.</p>{{end}}
{{end}}
{{if .Latency}}<h2>End-to-end latency</h2><div class="plots">{{.Latency}}</div>
<p>Percentile axis as the HdrHistogram plotter draws it (log scale of 1/(1-percentile)); latency is from each message's intended send time (so loadgen's schedule lag is included) to its batch's arrival at mockdest.</p>{{end}}
{{range .Scenarios}}<h2 id="{{.Name}}">{{.Name}} <span class="{{verdict .Passed}}">{{verdict .Passed}}</span></h2>
<p>{{.Description}}</p>
<p>Ran {{secs .Scenario}} s (expected about {{.ExpectedSeconds}} s).{{if .Params}} Parameters: {{range $i, $p := .Params}}{{if $i}}, {{end}}{{$p.Name}} {{$p.Value}}{{end}}.{{end}}</p>
{{if .Error}}<p class="FAIL">Error: {{.Error}}</p>{{end}}
<ul>{{range .Figures}}<li><b>{{.Name}}</b>: {{.Value}}</li>{{end}}</ul>
{{if .Steps}}<table>{{range $i, $r := .Steps}}<tr>{{range $r}}{{if eq $i 0}}<th>{{.}}</th>{{else}}<td>{{.}}</td>{{end}}{{end}}</tr>{{end}}</table>{{end}}
{{range .Notes}}<p class="note">{{.}}</p>{{end}}
<div class="plots">{{range .Plots}}{{.}}{{end}}</div>
{{range .Missing}}<p class="note">{{.}}</p>{{end}}
{{if .Files}}<p>Files: {{range .Files}}<code>{{.}}</code> {{end}}</p>{{end}}
{{end}}
{{if .Profiles}}<h2>Relay profiles</h2><ul>{{range .Profiles}}<li>{{.Kind}}: <code>{{.Command}}</code></li>{{end}}</ul>{{end}}
</body></html>
`))
