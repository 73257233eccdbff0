package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/mockdest"
	"github.com/logrelay/logrelay/internal/wire"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ with what the code writes now")

// epoch is the fixed clock of the test suites, so that what they write is
// the same at every run.
var epoch = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// golden compares got with testdata/NAME.golden, or rewrites the file under
// -update. A difference is reported at its first line.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run %s -update writes it)", err, t.Name())
	}
	if bytes.Equal(got, want) {
		return
	}
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := range max(len(gl), len(wl)) {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Errorf("%s differs from %s at line %d (go test -run %s -update rewrites it if the change is meant):\ngot  %q\nwant %q",
				name, path, i+1, t.Name(), g, w)
			return
		}
	}
}

// snapshot records n batches of size messages on stream 0 into a real
// mockdest Recorder, every fifth flushed by age after 10 s.
func snapshot(t *testing.T, n, size int) *mockdest.Snapshot {
	t.Helper()
	r := mockdest.NewRecorder()
	now := epoch
	seq := uint64(0)
	for b := range n {
		var p []byte
		for range size {
			seq++
			p = wire.AppendStamp(p, wire.Stamp{Stream: 0, Seq: seq, SentNs: now.UnixNano()})
			p = append(p, '\n')
		}
		reason, age := "size", 5*time.Millisecond
		if b%5 == 4 {
			reason, age = "age", 10*time.Second+3*time.Millisecond
		}
		flush := now.Add(time.Duration(b) * time.Second)
		r.Record(mockdest.Batch{Seq: uint64(b + 1), Reason: reason, OldestNs: flush.Add(-age).UnixNano(),
			FlushNs: flush.UnixNano(), ArrivalNs: flush.Add(time.Millisecond).UnixNano()}, p)
	}
	s := r.Snapshot()
	s.Mode = "frames"
	s.Start, s.End = epoch, epoch.Add(time.Duration(n)*time.Second) // the recorder's own clock is the real one
	return &s
}

func suite(t *testing.T) *Suite {
	now := epoch
	ok := &Scenario{Name: "size", Description: "size rule", Start: now, End: now.Add(3 * time.Second),
		Params: []Param{{"rate", "100000/s"}},
		Rules:  []Rule{{Scenario: "size", Rule: "max batch", Expected: "≤ 100", Measured: "100", Pass: true}},
		Obs: Observation{BatchSize: 100, FlushInterval: 10 * time.Second, AgeTolerance: 100 * time.Millisecond,
			Dest: snapshot(t, 20, 100)},
		Events:   []Event{{At: now.Add(time.Second), Label: "chaos starts"}},
		SendRate: []RatePoint{{now, 0}, {now.Add(time.Second), 1000}, {now.Add(2 * time.Second), 2500}},
	}
	bad := &Scenario{Name: "throughput", Description: "tp <b>html</b>", Start: now, End: now.Add(time.Second),
		Rules: []Rule{{Scenario: "throughput", Rule: "measured | piped", Expected: "> 0", Measured: "missing", Pass: false}},
		Obs: Observation{Throughput: &Throughput{
			Replicates: []Step{{Name: "relay #1", MsgsPerSec: 1e6}, {Name: "relay #2", MsgsPerSec: 1.1e6}},
			Pipe:       &Step{Name: "pipe", MsgsPerSec: 5e6}, RelayMedian: 1.05e6, PipeRate: 5e6, Ratio: 0.21}},
	}
	return &Suite{Command: []string{"bench", "--quick"}, Start: now, End: now.Add(5 * time.Second),
		Host:      Host{Hostname: "bench-host", GoVersion: "go1.26.0", OS: "linux", Arch: "amd64", CPUs: 2},
		RelayMode: "in-process (every scenario)",
		BatchSize: 100, FlushInterval: 10 * time.Second, AgeTolerance: 100 * time.Millisecond, Scenarios: []*Scenario{ok, bad}}
}

func TestVerdictAndTables(t *testing.T) {
	t.Parallel()
	s := suite(t)
	if s.Passed() {
		t.Error("suite with a failing rule: Passed() = true")
	}
	if got := len(s.Failed()); got != 1 {
		t.Errorf("Failed(): got %d rules want 1", got)
	}
	if (&Suite{}).Passed() {
		t.Error("empty suite: Passed() = true, want false (no rules is not a pass)")
	}
	if (&Scenario{}).Passed() {
		t.Error("scenario without rules: Passed() = true")
	}
	var b bytes.Buffer
	if err := WriteTable(&b, s); err != nil {
		t.Fatal(err)
	}
	golden(t, "table.txt", b.Bytes())
	b.Reset()
	if err := WriteFailures(&b, s); err != nil {
		t.Fatal(err)
	}
	golden(t, "failures.txt", b.Bytes())
	b.Reset()
	s.Scenarios[1].Rules[0].Pass = true
	if err := WriteFailures(&b, s); err != nil || b.Len() != 0 {
		t.Errorf("failures of a passing suite: got %q, %v; want nothing", b.String(), err)
	}
	s.Scenarios[1].Rules[0].Pass = false
	b.Reset()
	if err := WriteMarkdownTable(&b, s); err != nil {
		t.Fatal(err)
	}
	golden(t, "table.md", b.Bytes()) // the rule's | escaped as \|
}

func TestWriteDir(t *testing.T) {
	t.Parallel()
	s := suite(t)
	dir := t.TempDir()
	if err := WriteDir(dir, s); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"report.json", "report.md", "report.html", "size/latency.hgrm", "size/batch-age-age.hgrm"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	html, _ := os.ReadFile(filepath.Join(dir, "report.html"))
	h := string(html)
	if n := strings.Count(h, "<svg"); n < 5 {
		t.Errorf("report.html has %d inline SVG plots, want ≥ 5 (sizes, age, throughput, steps, latency)", n)
	}
	for _, bad := range []string{"<script", `src="http`, `href="http`, "<?xml", "tp <b>html</b>"} {
		if strings.Contains(h, bad) {
			t.Errorf("report.html contains %q (must be self-contained and escaped)", bad)
		}
	}
	back, err := ReadJSON(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	tp := back.Scenario("throughput")
	if tp == nil || tp.Obs.Throughput == nil || len(tp.Obs.Throughput.Rates()) != 2 {
		t.Fatalf("throughput replicates did not round-trip through report.json: %+v", tp)
	}
	var raw map[string]any
	js, _ := os.ReadFile(filepath.Join(dir, "report.json"))
	if err := json.Unmarshal(js, &raw); err != nil || raw["passed"] != false {
		t.Errorf("report.json passed: got %v (err %v) want false", raw["passed"], err)
	}
	golden(t, "report.json", js)
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	golden(t, "report.md", md)
	golden(t, "report.html", html)
}

func TestStepSummary(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "summary.md")
	if err := os.WriteFile(path, []byte("earlier step\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := AppendStepSummary(path, suite(t)); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	golden(t, "step-summary.md", b) // appended after "earlier step"
	if err := AppendStepSummary("", suite(t)); err != nil {
		t.Errorf("empty path: %v", err)
	}
}

func TestPercentileXYs(t *testing.T) {
	t.Parallel()
	s := snapshot(t, 10, 100)
	xys := percentileXYs(s.Latency, 1e-3)
	if len(xys) < 10 {
		t.Fatalf("got %d points for %d values", len(xys), s.Latency.TotalCount())
	}
	for i := 1; i < len(xys); i++ {
		if xys[i].X <= xys[i-1].X || xys[i].Y < xys[i-1].Y {
			t.Fatalf("curve not monotonic at %d: %v then %v", i, xys[i-1], xys[i])
		}
	}
	if last := xys[len(xys)-1]; last.Y != float64(s.Latency.Max())*1e-3 {
		t.Errorf("last point %v, want the maximum %d µs", last, s.Latency.Max())
	}
}

// TestProfiledStep: the profiled run is shown, marked, and not a
// replicate (so not in the median or the regression gate).
func TestProfiledStep(t *testing.T) {
	t.Parallel()
	tp := &Throughput{
		Replicates: []Step{{Name: "relay #1", MsgsPerSec: 1e6}, {Name: "relay #2", MsgsPerSec: 1.1e6}},
		Profiled:   &Step{Name: "relay (profiled)", MsgsPerSec: 0.7e6},
	}
	if got := tp.Rates(); len(got) != 2 || got[0] != 1e6 || got[1] != 1.1e6 {
		t.Errorf("Rates: got %v want [1e6 1.1e6]", got)
	}
	var b strings.Builder
	if err := WriteStepsTable(&b, tp); err != nil {
		t.Fatal(err)
	}
	golden(t, "steps-profiled.txt", []byte(b.String()))
}
