package compare

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/logrelay/logrelay/internal/bench/report"
	"github.com/logrelay/logrelay/internal/bench/sut"
	"github.com/logrelay/logrelay/internal/victorialogs"
)

func TestQuantile(t *testing.T) {
	t.Parallel()
	bs := []sut.Bucket{{Le: 0.001, Count: 50}, {Le: 0.002, Count: 98}, {Le: 0.004, Count: 99}, {Le: math.Inf(1), Count: 100}}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0.5, time.Millisecond}, {0.9, 2 * time.Millisecond}, {0.99, 4 * time.Millisecond}, {1, 4 * time.Millisecond}} {
		if got := quantile(bs, tt.q); got != tt.want {
			t.Errorf("quantile %v: got %v want %v", tt.q, got, tt.want)
		}
	}
	if quantile(nil, 0.5) != 0 {
		t.Error("no buckets: want 0")
	}
	h := hdrhistogram.New(1, 60e6, 3)
	addBuckets(h, bs)
	if h.TotalCount() != 100 || h.ValueAtQuantile(50) != 1000 || h.Max() < 3990 || h.Max() > 4010 {
		t.Errorf("histogram from buckets: %d values, p50 %d µs, max %d µs; want 100, 1000, 4000", h.TotalCount(), h.ValueAtQuantile(50), h.Max())
	}
}

func TestRedactHost(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"tcp://127.0.0.1:9000":           "tcp://HOST",
		"file:///tmp/x/step-3/relay.log": "file:///…/relay.log",
		"elasticsearch+http://127.0.0.1:1/insert/elasticsearch/_bulk?_msg_field=msg": "elasticsearch+http://HOST/insert/elasticsearch/_bulk?_msg_field=msg",
	} {
		if got := redactHost(in); got != want {
			t.Errorf("redactHost(%q) = %q want %q", in, got, want)
		}
	}
}

// TestRatios: a relay row's ratio is the median of its replicates' ratios
// to its ideal row at the same batch size and concurrency; failed steps
// are left out.
func TestRatios(t *testing.T) {
	t.Parallel()
	c := &report.Compare{Rows: []report.CompareRow{
		{Name: "ideal", BatchSize: 100, Concurrency: 2, Steps: []report.CompareStep{{MsgsPerSec: 100}, {MsgsPerSec: 200}, {MsgsPerSec: 100}}},
		{Name: "ideal", BatchSize: 1000, Concurrency: 2, Steps: []report.CompareStep{{MsgsPerSec: 1000}}},
		{Name: "relay", Ideal: "ideal", BatchSize: 100, Concurrency: 2, Steps: []report.CompareStep{{MsgsPerSec: 90}, {MsgsPerSec: 100}, {MsgsPerSec: 1, Err: "x"}}},
		{Name: "tcp", Steps: []report.CompareStep{{MsgsPerSec: 5}}},
	}}
	ratios(c)
	if got := c.Rows[2].Ratio; got != 0.7 { // median of 0.9 and 0.5
		t.Errorf("ratio %v want 0.7", got)
	}
	if c.Rows[3].Ratio != 0 {
		t.Error("a row without an ideal row got a ratio")
	}
}

// TestRunMockdest: the rows into mockdest, two interleaved replicates, a
// batch-size sweep, everything delivered once and measured.
func TestRunMockdest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs relay processes")
	}
	st := &sut.Starter{FlushInterval: time.Second}
	defer st.Close()
	var rows []Row
	for _, r := range Rows("") {
		if !r.NeedsVictoriaLogs {
			rows = append(rows, r)
		}
	}
	var notes []string
	c, err := Run(context.Background(), Config{Rows: rows, Messages: 20_000, Replicates: 2, BatchSizes: []int{100, 500},
		FlushInterval: time.Second, Relays: st, Notify: func(m string) { notes = append(notes, m) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Rows) != 11 { // the pipe, and five rows at two batch sizes
		t.Fatalf("got %d rows want 11", len(c.Rows))
	}
	for _, r := range c.Rows {
		if len(r.Steps) != 2 || len(r.Failed()) > 0 || r.MsgsPerSec <= 0 || r.Lost != 0 || r.Duplicates != 0 {
			t.Errorf("%s: %d steps, errors %v, %.0f msgs/s, lost %d, dups %d; want 2 steps, none failed, > 0, 0, 0",
				r.Label(), len(r.Steps), r.Failed(), r.MsgsPerSec, r.Lost, r.Duplicates)
		}
		if r.Kind != string(Pipe) && (r.CPUPerMsg <= 0 || r.PeakRSS == 0) { // the pipe runs in-process here
			t.Errorf("%s: CPU %.0f ns/msg, RSS %d: want both measured", r.Label(), r.CPUPerMsg, r.PeakRSS)
		}
		if r.Kind == string(Relay) && (r.P50 <= 0 || r.P99 < r.P50 || r.Latency == nil || !strings.Contains(r.Sink, "://")) {
			t.Errorf("%s: p50 %v p99 %v, sink %q: want request latencies and the sink", r.Label(), r.P50, r.P99, r.Sink)
		}
	}
	// Interleaved: replicate 1 of every row before replicate 2 of any.
	if len(notes) < 4 || !strings.HasPrefix(notes[0], "compare #1") || !strings.HasPrefix(notes[len(notes)-1], "compare #2") {
		t.Errorf("progress %q", notes)
	}
	var md strings.Builder
	if err := report.WriteCompareMarkdown(&md, c); err != nil || !strings.Contains(md.String(), "| _bulk → mockdest (batch 500, conc 2) |") {
		t.Errorf("markdown: %v\n%s", err, md.String())
	}
	var html strings.Builder
	if err := report.WriteCompareHTML(&html, c, []string{"bench", "compare-sinks"}); err != nil || strings.Count(html.String(), "<svg") != 2 {
		t.Errorf("html: %v, %d plots want 2", err, strings.Count(html.String(), "<svg"))
	}
}

// TestRunVictoriaLogs: the relay and the ideal client into one
// VictoriaLogs node, counted back, with the ratio.
func TestRunVictoriaLogs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs VictoriaLogs and a relay process")
	}
	bin, err := victorialogs.Binary()
	if err != nil {
		t.Skipf("SKIP: needs VictoriaLogs %s: %v", victorialogs.Version, err)
	}
	st := &sut.Starter{FlushInterval: time.Second}
	defer st.Close()
	var rows []Row
	for _, r := range Rows(bin) {
		if r.Name == "ideal → VictoriaLogs" || r.Name == "_bulk → VictoriaLogs" || r.Name == "loki → VictoriaLogs" {
			rows = append(rows, r)
		}
	}
	c, err := Run(context.Background(), Config{Rows: rows, Messages: 20_000, Replicates: 1, Relays: st, VictoriaLogs: bin, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range c.Rows {
		if len(r.Failed()) > 0 || r.Lost != 0 || r.Duplicates != 0 || r.Steps[0].Stored != 20_000 {
			t.Errorf("%s: errors %v, lost %d, dups %d, stored %d; want none, 0, 0, 20000", r.Label(), r.Failed(), r.Lost, r.Duplicates, r.Steps[0].Stored)
		}
	}
	if len(c.Rows) != 3 || c.Rows[2].Ratio <= 0 || c.Rows[0].Ratio != 0 {
		t.Errorf("rows %d: the _bulk row wants a ratio to the ideal client, the loki row none", len(c.Rows))
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	for _, c := range []Config{{}, {Relays: &sut.Starter{}, BatchSizes: []int{0}}, {Relays: &sut.Starter{}, Concurrencies: []int{-1}}, {Relays: &sut.Starter{}, Conns: -1}} {
		if _, err := Run(context.Background(), c); err == nil {
			t.Errorf("%+v: nil error", c)
		}
	}
}
