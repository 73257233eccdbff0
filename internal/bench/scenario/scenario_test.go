package scenario

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/bench/rules"
	"github.com/logrelay/logrelay/internal/loadgen"
	"github.com/logrelay/logrelay/internal/wire"
)

func TestDelivery(t *testing.T) {
	t.Parallel()
	rng := func(a, b uint64) wire.SeqRange { return wire.SeqRange{From: a, To: b} }
	// Stream 0: 1..100 sent; 10..12 failed, 50..60 at risk; 11 and 55..70 missing.
	// Lost: 61..70 (55..60 excused, 11 excused).
	streams := []loadgen.StreamReport{{ID: 0, LastSeq: 100, Failed: []wire.SeqRange{rng(10, 12)}, AtRisk: []wire.SeqRange{rng(50, 60)}}}
	missing := func(stream uint32, upTo uint64) []wire.SeqRange {
		return []wire.SeqRange{rng(11, 11), rng(55, 70)}
	}
	d := delivery(streams, missing)
	if d.MustArrive != 100-3-11 || d.Excused != 14 || d.Lost != 10 {
		t.Errorf("got must=%d excused=%d lost=%d want 86 14 10", d.MustArrive, d.Excused, d.Lost)
	}
	if len(d.Examples) != 1 || d.Examples[0].SeqRange != rng(61, 70) {
		t.Errorf("examples: got %v want [61-70]", d.Examples)
	}
	// Excused ranges out of order and overlapping, and beyond LastSeq.
	streams = []loadgen.StreamReport{{ID: 1, LastSeq: 50, Failed: []wire.SeqRange{rng(40, 60), rng(5, 9)}, AtRisk: []wire.SeqRange{rng(0, 2), rng(8, 12)}}}
	d = delivery(streams, func(uint32, uint64) []wire.SeqRange { return []wire.SeqRange{rng(1, 50)} })
	if d.Excused != 2+8+11 || d.MustArrive != 50-21 || d.Lost != 29 || len(d.Examples) != 2 ||
		d.Examples[0].SeqRange != rng(3, 4) || d.Examples[1].SeqRange != rng(13, 39) {
		t.Errorf("out of order: got excused=%d must=%d lost=%d examples %v want 21 29 29 [3-4 13-39]", d.Excused, d.MustArrive, d.Lost, d.Examples)
	}
}

// TestResends: a duplicated seq inside its stream's resent ranges is
// explained, one outside them (or one mockdest could not track) is not.
func TestResends(t *testing.T) {
	t.Parallel()
	rng := func(a, b uint64) wire.SeqRange { return wire.SeqRange{From: a, To: b} }
	streams := []loadgen.StreamReport{
		{ID: 0, LastSeq: 100, Resent: []wire.SeqRange{rng(10, 20), rng(50, 52)}},
		{ID: 1, LastSeq: 100},
		{ID: 2, LastSeq: 100, Resent: []wire.SeqRange{rng(1, 5)}},
	}
	dups := map[uint32][]wire.SeqRange{0: {rng(12, 14), rng(19, 22), rng(51, 51)}, 1: {rng(7, 7)}}
	untracked := map[uint32]uint64{2: 2}
	x := resends(streams, func(id uint32) ([]wire.SeqRange, uint64) { return dups[id], untracked[id] })
	// Stream 0: 12–14, 19–20, 51 explained (6), 21–22 not; stream 1: 7
	// not; stream 2: two untracked.
	if x.Resent != 11+3+5 || x.Duplicated != 3+4+1+1 || x.Explained != 6 || x.Unexplained != 2+1+2 {
		t.Errorf("got resent %d duplicated %d explained %d unexplained %d, want 19 9 6 5", x.Resent, x.Duplicated, x.Explained, x.Unexplained)
	}
	if len(x.Examples) != 2 || x.Examples[0].Stream != 0 || x.Examples[0].SeqRange != rng(21, 22) || x.Examples[1].Stream != 1 || x.Examples[1].SeqRange != rng(7, 7) {
		t.Errorf("examples %v, want stream 0 21–22, stream 1 7", x.Examples)
	}
}

// TestFullSpeedSteps: under --profile the profiled run comes on top of the
// replicates, which alone make the median and the gate.
func TestFullSpeedSteps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		replicates int
		profile    bool
		want       []fullSpeedStep
	}{
		{3, false, []fullSpeedStep{{"relay #1", false}, {"relay #2", false}, {"relay #3", false}}},
		{2, true, []fullSpeedStep{{"relay (profiled)", true}, {"relay #1", false}, {"relay #2", false}}},
		{0, true, []fullSpeedStep{{"relay (profiled)", true}, {"relay #1", false}}},
	}
	for _, tt := range tests {
		if got := fullSpeedSteps(tt.replicates, tt.profile); !slices.Equal(got, tt.want) {
			t.Errorf("fullSpeedSteps(%d, %v): got %v want %v", tt.replicates, tt.profile, got, tt.want)
		}
	}
}

// TestParams: the scaling flags reach the scenarios they concern: the
// flush-timed scenarios follow the flush interval and ignore
// --duration-scale, the size rule follows --rate, --conns and
// --replicates reach the throughput scenario.
func TestParams(t *testing.T) {
	t.Parallel()
	cfg := Config{Quick: true, FlushInterval: time.Second, Rate: 5000, DurationScale: 0.5, Conns: 7, Replicates: 2, ManyConns: 99}
	got := map[string]Params{}
	for _, s := range Suite() {
		got[s.Name] = s.Params(&cfg)
	}
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"age duration at a 1 s interval", got["age"].Duration, 3600 * time.Millisecond},
		{"bursts first silence at a 1 s interval", got["bursts"].Silences[0], 1200 * time.Millisecond},
		{"size MinRate at --rate 5000", got["size"].MinRate, 4500.0},
		{"size rate", got["size"].Rate, 5000.0},
		{"size conns", got["size"].Conns, 7},
		{"size duration at --duration-scale 0.5", got["size"].Duration, 2500 * time.Millisecond},
		{"outage down period at --duration-scale 0.5", got["outage"].DownFor, 500 * time.Millisecond},
		{"many-conns conns", got["many-conns"].Conns, 99},
		{"throughput conns", got["throughput"].Conns, 7},
		{"throughput replicates", got["throughput"].Replicates, 2},
		{"chaos conns (no flag of its own)", got["chaos"].Conns, 100},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v want %v", tt.name, tt.got, tt.want)
		}
	}
	// The definitions are not changed by scaling.
	if s := byName(t, "bursts"); s.Quick.Silences[0] != 12*time.Second {
		t.Errorf("bursts definition changed: %v", s.Quick.Silences)
	}
	full := Config{FlushInterval: 10 * time.Second, DurationScale: 1, Profile: true}
	if p := byName(t, "throughput").Params(&full); p.Expected != 35*time.Second+4*time.Second+time.Second {
		t.Errorf("throughput expected with --profile: got %s want 40s", p.Expected)
	}
}

// TestSuiteDefinitions: every scenario has a unique name, a description,
// checks and a Run function; the names come out in suite order.
func TestSuiteDefinitions(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, s := range Suite() {
		if s.Name == "" || seen[s.Name] || s.Description == "" || len(s.Checks) == 0 || s.Run == nil || s.Quick.Expected <= 0 || s.Full.Expected <= 0 {
			t.Errorf("scenario %q: incomplete or repeated definition", s.Name)
		}
		seen[s.Name] = true
	}
	want := []string{"size", "age", "bursts", "many-conns", "chaos", "outage", "relp-chaos", "relp-outage", "relp-restart", "relp-restart-bulk",
		"acks", "shutdown", "overload", "throughput", "victorialogs"}
	if got := Names(); !slices.Equal(got, want) {
		t.Errorf("Names: got %v want %v", got, want)
	}
}

// TestQuickBudget: --quick stays under 90 s as the scenarios expect it:
// the sequential ones in turn, each concurrent one from its StartAfter on
// (the opt-in scenarios are not in the default suite).
func TestQuickBudget(t *testing.T) {
	t.Parallel()
	cfg := Config{Quick: true, FlushInterval: 10 * time.Second}
	var seq time.Duration
	for _, s := range Suite() {
		p := s.Params(&cfg)
		if s.OptIn {
			continue // not in the default suite
		}
		if !s.Concurrent {
			seq += p.Expected
			if p.StartAfter != 0 {
				t.Errorf("%s: StartAfter %s on a sequential scenario", s.Name, p.StartAfter)
			}
			continue
		}
		if end := p.StartAfter + p.Expected; end > 90*time.Second {
			t.Errorf("%s: ends after %s", s.Name, end)
		}
	}
	if seq > 90*time.Second {
		t.Errorf("the sequential quick scenarios take %s", seq)
	}
}

// TestThroughputTexts: the throughput scenario's description names every
// open-loop fraction tried and the rule's bound, and its note the
// connections actually used.
func TestThroughputTexts(t *testing.T) {
	t.Parallel()
	s := byName(t, "throughput")
	for _, f := range append(slices.Clone(sustainFractions), rules.MinSustained) {
		if want := fmt.Sprintf("%.0f%%", 100*f); !strings.Contains(s.Description, want) {
			t.Errorf("description lacks %s: %q", want, s.Description)
		}
	}
	if got := sustainFractions[len(sustainFractions)-1]; got != rules.MinSustained {
		t.Errorf("the search ends at %v, the rule's bound is %v", got, rules.MinSustained)
	}
	cfg := Config{Conns: 7}
	if note := throughputNote(s.Params(&cfg)); !strings.Contains(note, "(7 connections") {
		t.Errorf("note with --conns 7: %q", note)
	}
}

// byName returns the suite's scenario called name.
func byName(t *testing.T, name string) *Scenario {
	t.Helper()
	for _, s := range Suite() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no scenario %q", name)
	return nil
}

// TestJainIndex: 1 when all are equal, 1/n when one has everything, in
// between otherwise; 0 when nothing arrived.
func TestJainIndex(t *testing.T) {
	t.Parallel()
	tests := []struct {
		xs   []float64
		want float64
	}{
		{[]float64{5, 5, 5, 5}, 1},
		{[]float64{8, 0, 0, 0}, 0.25},
		{[]float64{1, 3}, 0.8}, // 16 / (2·10)
		{[]float64{0, 0, 0}, 0},
		{nil, 0},
	}
	for _, tt := range tests {
		if got := jainIndex(tt.xs); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("jainIndex(%v): got %v want %v", tt.xs, got, tt.want)
		}
	}
}

// TestOverloadStreams: the quiet clients' stream ids lie above every
// flooder's and below the probe's, within the stamp's 8 digits.
func TestOverloadStreams(t *testing.T) {
	t.Parallel()
	s := byName(t, "overload")
	for _, p := range []Params{s.Quick, s.Full} {
		if p.Quiet <= 0 || p.Conns >= quietBase || quietBase+p.Quiet > probeStream {
			t.Errorf("params %+v: flooders 0..%d, quiet %d..%d, probe %d overlap", p, p.Conns-1, quietBase, quietBase+p.Quiet-1, probeStream)
		}
		if p.QuietTimeout <= 0 {
			t.Errorf("params %+v: no quiet message bound", p)
		}
		if p.Window <= 0 || 3*p.Window > p.Duration {
			t.Errorf("params %+v: fairness window %v: want two windows after the first within the %v load", p, p.Window, p.Duration)
		}
	}
}
