package mockdest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		cfg    Config
		frames [][][]byte // per frame, its messages
		want   []error    // nil = Check passes
	}{
		{"no conditions", Config{}, [][][]byte{seqMsgs(0, 5, 9)}, nil},
		{"expect met", Config{Expect: 10, MaxBatch: 5},
			[][][]byte{seqMsgs(0, 1, 5), seqMsgs(1, 1, 5)}, nil},
		{"expect too few", Config{Expect: 10}, [][][]byte{seqMsgs(0, 1, 9)}, []error{ErrExpect}},
		{"expect too many", Config{Expect: 10}, [][][]byte{seqMsgs(0, 1, 11)}, []error{ErrExpect}},
		{"expect with a gap", Config{Expect: 10}, [][][]byte{seqMsgs(0, 1, 4), seqMsgs(0, 6, 11)}, []error{ErrExpect}},
		{"expect gap at start", Config{Expect: 3}, [][][]byte{seqMsgs(0, 2, 4)}, []error{ErrExpect}},
		{"duplicates do not count twice", Config{Expect: 5}, [][][]byte{seqMsgs(0, 1, 4), seqMsgs(0, 4, 4)}, []error{ErrExpect}},
		{"max batch exceeded", Config{MaxBatch: 5}, [][][]byte{seqMsgs(0, 1, 5), seqMsgs(0, 6, 11)}, []error{ErrMaxBatch}},
		{"both fail", Config{MaxBatch: 5, Expect: 7}, [][][]byte{seqMsgs(0, 1, 6)}, []error{ErrMaxBatch, ErrExpect}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, tt.cfg)
			c := dial(t, s)
			for i, msgs := range tt.frames {
				write(t, c, frame(wire.Header{Seq: uint64(i + 1)}, msgs...))
			}
			readAcks(t, c, len(tt.frames))
			err := s.Check()
			if len(tt.want) == 0 && err != nil {
				t.Errorf("Check: got %v want nil", err)
			}
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("Check: got %v want %v", err, w)
				}
			}
		})
	}
}

func TestConfigInvalid(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{
		{Mode: "http"}, {NackRate: 1.5}, {CloseRate: -0.1}, {AckDelay: -1},
		{DownFor: time.Second}, {DownFor: 2 * time.Second, DownEvery: time.Second}, {Expect: -1},
		{Mode: ModeLines, NackRate: 0.1}, {Mode: ModeLines, AckDelay: time.Millisecond},
	} {
		if _, err := New(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%+v): got %v want ErrConfig", cfg, err)
		}
	}
}

// TestListenError: an address in use, for connections or for the admin
// endpoint, makes Run fail at once with ErrListen.
func TestListenError(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, cfg := range []Config{{Listen: busy.Addr().String()}, {Listen: "127.0.0.1:0", Admin: busy.Addr().String()}} {
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Run(context.Background()); !errors.Is(err, ErrListen) || !strings.Contains(err.Error(), "in use") {
			t.Errorf("Run with listen %q admin %q: got %v want ErrListen (address in use)", cfg.Listen, cfg.Admin, err)
		}
	}
}

func TestStatsAndReports(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := Config{Listen: "127.0.0.1:0", Admin: "127.0.0.1:0", Report: filepath.Join(dir, "report.json"), OutDir: filepath.Join(dir, "out")}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-s.Ready()

	c := dial(t, s)
	now := time.Now().UnixNano()
	write(t, c, frame(wire.Header{Seq: 1, Reason: wire.ReasonAge, OldestNs: now - 3e9, FlushNs: now}, seqMsgs(4, 1, 7)...))
	readAcks(t, c, 1)

	resp, err := http.Get("http://" + s.AdminAddr().String() + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var live struct {
		Batches    uint64                       `json:"batches"`
		BatchSizes map[string]map[string]uint64 `json:"batch_sizes"`
		BatchAgeUs map[string]HistSummary       `json:"batch_age_us"`
		LatencyUs  HistSummary                  `json:"latency_us"`
		Streams    StreamTotals                 `json:"streams"`
	}
	if err := json.Unmarshal(body, &live); err != nil {
		t.Fatalf("/stats: %v in %s", err, body)
	}
	if live.Batches != 1 || live.BatchSizes["age"]["7"] != 1 || live.BatchAgeUs["age"].Count != 1 ||
		live.BatchAgeUs["age"].Max < 2_990_000 || live.LatencyUs.Count != 7 || live.Streams.Distinct != 7 {
		t.Errorf("/stats: got %+v", live)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	rep, err := os.ReadFile(cfg.Report)
	if err != nil || !strings.Contains(string(rep), `"batches": 1`) {
		t.Errorf("report file: %v %s", err, rep)
	}
	for _, name := range []string{"latency.hgrm", "batch-age.hgrm", "batch-age-age.hgrm", "batch-sizes.csv", "throughput.csv"} {
		b, err := os.ReadFile(filepath.Join(cfg.OutDir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if strings.HasSuffix(name, ".hgrm") && !strings.Contains(string(b), "Total count    =            ") {
			t.Errorf("%s does not look like an .hgrm file:\n%s", name, b)
		}
	}
	sizes, _ := os.ReadFile(filepath.Join(cfg.OutDir, "batch-sizes.csv"))
	if string(sizes) != "reason,size,count\nage,7,1\n" {
		t.Errorf("batch-sizes.csv: got %q", sizes)
	}
	var text strings.Builder
	snap := s.Snapshot()
	if err := snap.WriteText(&text); err != nil || !strings.Contains(text.String(), "age       1 batches: 7×1") {
		t.Errorf("text report: %v\n%s", err, text.String())
	}
}

// serveNothing runs Serve on loopback until it has started, stops it and
// returns its error (the report files are written on the way out).
func serveNothing(t *testing.T, cfg Config) error {
	t.Helper()
	_, stop := serve(t, cfg)
	return stop()
}

// TestReportDirs: Serve creates the directories of Report and OutDir, in
// either order of nesting, and a failure names the file once, without the
// program's name (the main adds it).
func TestReportDirs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct{ report, out string }{
		{"new/report.json", "new"}, // --out d --report d/r.json on a new d
		{"a/b/report.json", ""},
		{"", "c/d"},
		{"e/report.json", "f/g"},
	} {
		cfg := Config{}
		if tc.report != "" {
			cfg.Report = filepath.Join(dir, tc.report)
		}
		if tc.out != "" {
			cfg.OutDir = filepath.Join(dir, tc.out)
		}
		if err := serveNothing(t, cfg); err != nil {
			t.Errorf("report %q out %q: Serve: %v", tc.report, tc.out, err)
			continue
		}
		if _, err := os.Stat(cfg.Report); tc.report != "" && err != nil {
			t.Errorf("report %q: %v", tc.report, err)
		}
		if _, err := os.Stat(filepath.Join(cfg.OutDir, "latency.hgrm")); tc.out != "" && err != nil {
			t.Errorf("out %q: %v", tc.out, err)
		}
	}

	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := serveNothing(t, Config{Report: filepath.Join(file, "report.json"), OutDir: filepath.Join(file, "out")})
	if err == nil {
		t.Fatal("Serve: got nil error for a report and an out dir below a regular file")
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "write report: ") || strings.Contains(msg, "mockdest: ") ||
		!strings.Contains(msg, "create out dir: ") || !strings.Contains(msg, file) {
		t.Errorf("got %q want the report's and the out dir's errors naming %s, without a \"mockdest\" prefix", msg, file)
	}
}
