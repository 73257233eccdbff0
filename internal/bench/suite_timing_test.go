//go:build timing && !race

package bench

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/bench/report"
)

// TestSuiteInProcess runs the in-process scenarios end to end — real
// relay, mockdest and loadgen on 127.0.0.1 — with a 2 s flush interval and
// shortened loads. Its rules are timing rules (batch ages within the
// tolerance, the input rate held), so it runs only without the race
// detector, under the build tag timing:
//
//	go test -tags timing -run TestSuiteInProcess ./internal/bench/
//
// The process scenarios (many-conns, chaos, throughput) build and run the
// relay binary; `go run ./bench --quick` covers them, and
// TestShutdownRounds the shutdown scenario.
func TestSuiteInProcess(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.Quick = true
	cfg.FlushInterval = 2 * time.Second
	cfg.DurationScale = 0.4
	cfg.Rate = 5000
	cfg.Scenarios = []string{"size", "age", "bursts", "outage", "acks"}
	cfg.Out = t.TempDir()
	var out, prog bytes.Buffer
	cfg.Stdout, cfg.Progress = &out, &prog
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	suite, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run: %v\n%s\n%s", err, out.String(), prog.String())
	}
	if got := len(suite.Scenarios); got != 5 {
		t.Errorf("got %d scenarios want 5", got)
	}
	for _, sc := range suite.Scenarios {
		if sc.Obs.Dest == nil || sc.Obs.Delivery == nil || len(sc.Rules) < 5 {
			t.Errorf("%s: incomplete record: dest %v, delivery %v, %d rules", sc.Name, sc.Obs.Dest != nil, sc.Obs.Delivery != nil, len(sc.Rules))
		}
		if !slices.Equal(sc.Relays, []string{"in-process"}) {
			t.Errorf("%s: relays %q want [in-process]", sc.Name, sc.Relays)
		}
	}
	if want := "in-process (every scenario)"; suite.RelayMode != want {
		t.Errorf("relay mode: got %q want %q", suite.RelayMode, want)
	}
	if !strings.Contains(out.String(), "PASS: ") {
		t.Errorf("verdict line missing:\n%s", out.String())
	}
	for _, f := range []string{"report.json", "report.md", "report.html", "age/batch-age-age.hgrm", "size/latency.hgrm"} {
		if _, err := os.Stat(filepath.Join(cfg.Out, f)); err != nil {
			t.Errorf("run directory lacks %s: %v", f, err)
		}
	}
}

// TestSuiteInProcessElasticsearch runs the scenarios whose destination
// misbehaves through the relay's _bulk sink into mockdest's _bulk
// receiver (--sink elasticsearch): outages, failed items and requests,
// broken answers. Every rule passes; the acks scenario is judged by the
// _bulk rule.
//
//	go test -tags timing -run TestSuiteInProcessElasticsearch ./internal/bench/
func TestSuiteInProcessElasticsearch(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.Quick = true
	cfg.Sink = "elasticsearch"
	cfg.FlushInterval = 2 * time.Second
	cfg.DurationScale = 0.4
	cfg.Rate = 5000
	cfg.Scenarios = []string{"size", "outage", "acks"}
	cfg.Out = t.TempDir()
	var out, prog bytes.Buffer
	cfg.Stdout, cfg.Progress = &out, &prog
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	suite, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run: %v\n%s\n%s", err, out.String(), prog.String())
	}
	for _, sc := range suite.Scenarios {
		if sc.Obs.Dest == nil || sc.Obs.Dest.Bulk == nil || sc.Obs.Dest.Bulk.DocsStored == 0 {
			t.Errorf("%s: no documents stored by the _bulk receiver", sc.Name)
		}
	}
	if acks := suite.Scenario("acks"); acks == nil || !slices.ContainsFunc(acks.Rules, func(r report.Rule) bool { return r.Rule == "answers delayed/failed, relay retried" }) {
		t.Errorf("acks: the _bulk rule is missing")
	}
	if !strings.Contains(suite.Sink, "elasticsearch+http://") {
		t.Errorf("suite sink %q", suite.Sink)
	}
}
