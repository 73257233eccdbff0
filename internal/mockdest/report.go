package mockdest

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/logrelay/logrelay/internal/hgrm"
)

// HistSummary summarises a histogram of microseconds.
type HistSummary struct {
	Count  int64   `json:"count"`
	Min    int64   `json:"min"`
	Mean   float64 `json:"mean"`
	StdDev float64 `json:"stddev"`
	P50    int64   `json:"p50"`
	P90    int64   `json:"p90"`
	P99    int64   `json:"p99"`
	P999   int64   `json:"p99_9"`
	P9999  int64   `json:"p99_99"`
	Max    int64   `json:"max"`
}

// Summarise returns h's count, mean, extremes and main percentiles.
func Summarise(h *hdrhistogram.Histogram) HistSummary {
	if h == nil || h.TotalCount() == 0 {
		return HistSummary{}
	}
	return HistSummary{
		Count: h.TotalCount(), Min: h.Min(), Mean: h.Mean(), StdDev: h.StdDev(),
		P50: h.ValueAtQuantile(50), P90: h.ValueAtQuantile(90), P99: h.ValueAtQuantile(99),
		P999: h.ValueAtQuantile(99.9), P9999: h.ValueAtQuantile(99.99), Max: h.Max(),
	}
}

// MarshalJSON encodes the snapshot with its histograms summarised and its
// batch sizes as sparse maps from size to count.
func (s Snapshot) MarshalJSON() ([]byte, error) {
	type plain Snapshot
	sizes := make(map[string]map[string]uint64, len(s.BatchSizes))
	for reason, counts := range s.BatchSizes {
		m := make(map[string]uint64)
		for n, c := range counts {
			if c > 0 {
				m[strconv.Itoa(n)] = c
			}
		}
		for n, c := range s.BatchSizesOver[reason] {
			m[strconv.FormatUint(uint64(n), 10)] = c
		}
		sizes[reason] = m
	}
	ages := make(map[string]HistSummary, len(s.BatchAge))
	for reason, h := range s.BatchAge {
		if h.TotalCount() > 0 { // lines mode has sizes but no ages
			ages[reason] = Summarise(h)
		}
	}
	return json.Marshal(struct {
		plain
		DurationSeconds float64                      `json:"duration_seconds"`
		BatchSizes      map[string]map[string]uint64 `json:"batch_sizes"`
		BatchAgeUs      map[string]HistSummary       `json:"batch_age_us"`
		LatencyUs       HistSummary                  `json:"latency_us"`
	}{plain(s), s.End.Sub(s.Start).Seconds(), sizes, ages, Summarise(s.Latency)})
}

// MergedBatchAge returns the batch ages of all reasons in one histogram.
func (s *Snapshot) MergedBatchAge() *hdrhistogram.Histogram {
	h := newHist()
	for _, a := range s.BatchAge {
		h.Merge(a)
	}
	return h
}

// WriteText writes a human-readable report of s to w.
func (s *Snapshot) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	secs := s.End.Sub(s.Start).Seconds()
	p := func(format string, a ...any) { fmt.Fprintf(bw, format, a...) }
	p("mockdest report: %s mode, %.1f s\n", s.Mode, secs)
	p("  received     %d batches, %d messages, %d bytes (%.0f msg/s, %.2f MB/s)\n",
		s.Batches, s.Messages, s.Bytes, float64(s.Messages)/max(secs, 1e-9), float64(s.Bytes)/max(secs, 1e-9)/1e6)
	p("  resent       %d duplicate batches (%d messages), %d sender restarts\n",
		s.DuplicateBatches, s.ResentMessages, s.SenderRestarts)
	switch s.Mode {
	case ModeLines:
		p("  batch sizes  (lines mode: a batch is the complete lines that arrived in one read)\n")
	case ModeBulk:
		p("  batch sizes  (documents stored per relay batch, all its requests joined, by flush reason; \"request\" = a request without batch headers)\n")
	default:
		p("  batch sizes  (messages per frame, by the relay's flush reason)\n")
	}
	for _, reason := range sortedKeys(s.BatchSizes) {
		counts := s.BatchSizes[reason]
		var total uint64
		for _, c := range counts {
			total += c
		}
		for _, c := range s.BatchSizesOver[reason] {
			total += c
		}
		p("    %-9s %d batches:", reason, total)
		type sc struct {
			size  int
			count uint64
		}
		var top []sc
		for n, c := range counts {
			if c > 0 {
				top = append(top, sc{n, c})
			}
		}
		for n, c := range s.BatchSizesOver[reason] {
			top = append(top, sc{int(n), c})
		}
		slices.SortFunc(top, func(a, b sc) int {
			if a.count != b.count {
				if a.count > b.count {
					return -1
				}
				return 1
			}
			return a.size - b.size
		})
		for i, t := range top {
			if i == 8 {
				p(" … (%d sizes)", len(top))
				break
			}
			p(" %d×%d", t.size, t.count)
		}
		p("\n")
	}
	p("  max batch    %d messages\n", s.MaxBatchSize)
	switch {
	case s.Mode == ModeLines:
		p("  batch age    none: lines carry no relay timestamps (batch age needs frames mode)\n")
	case len(s.BatchAge) > 0:
		p("  batch age    oldest message → flush, from the batches' own timestamps (frame header or X-Logrelay-* headers) (ms)\n")
		for _, reason := range sortedKeys(s.BatchAge) {
			if h := s.BatchAge[reason]; h.TotalCount() > 0 {
				p("    %-9s %s\n", reason, msLine(Summarise(h)))
			}
		}
	}
	p("  latency      send stamp → arrival (ms): %s\n", msLine(Summarise(s.Latency)))
	t := s.Streams
	p("  streams      %d streams, %d distinct, %d missing, %d duplicates, %d reordered, %d foreign, %d untracked\n",
		t.Streams, t.Distinct, t.Missing, t.Duplicates, t.Reordered, t.Foreign, t.Untracked)
	if len(t.GapExamples) > 0 {
		p("    gaps:")
		for _, g := range t.GapExamples {
			p(" stream %d seq %d-%d;", g.Stream, g.From, g.To)
		}
		p("\n")
	}
	if len(s.Throughput) > 0 {
		var peak, sum uint64
		for _, pt := range s.Throughput {
			peak = max(peak, pt.Messages)
			sum += pt.Messages
		}
		p("  throughput   peak %d msg/s, mean %.0f msg/s over %d active seconds\n",
			peak, float64(sum)/float64(len(s.Throughput)), len(s.Throughput))
	}
	m := s.Misbehaviour
	p("  misbehaviour %d acks delayed, %d nacks, %d acks dropped, %d frames ignored after a nack or a dropped ack, %d conns closed, "+
		"%d down periods (%d conns closed, %d refused), %d throttled reads\n",
		m.AcksDelayed, m.Nacks, m.AcksDropped, m.FramesIgnored, m.ConnsClosed,
		m.DownPeriods, m.DownClosed, m.ConnsRefused, m.ReadThrottled)
	p("  connections  %d accepted, %d open, %d protocol errors, %d frames timed out, %d lines too long\n",
		s.ConnsAccepted, s.ConnsOpen, s.ProtocolErrors, s.FramesTimedOut, s.LinesTooLong)
	if s.Bulk != nil {
		s.Bulk.writeText(bw)
	}
	return bw.Flush()
}

func msLine(h HistSummary) string {
	if h.Count == 0 {
		return "none"
	}
	ms := func(us int64) float64 { return float64(us) / 1e3 }
	return fmt.Sprintf("n=%d p50=%.3f p90=%.3f p99=%.3f p99.9=%.3f max=%.3f mean=%.3f",
		h.Count, ms(h.P50), ms(h.P90), ms(h.P99), ms(h.P999), ms(h.Max), h.Mean/1e3)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// writeReports writes cfg.Report and the files of cfg.OutDir, creating
// their directories.
func (s *Server) writeReports() error {
	if s.cfg.Report == "" && s.cfg.OutDir == "" {
		return nil
	}
	snap := s.Snapshot()
	var errs []error
	if s.cfg.Report != "" {
		b, err := json.MarshalIndent(snap, "", "  ")
		if err == nil {
			err = os.MkdirAll(filepath.Dir(s.cfg.Report), 0o755)
		}
		if err == nil {
			err = os.WriteFile(s.cfg.Report, append(b, '\n'), 0o644)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("write report: %w", err))
		}
	}
	if s.cfg.OutDir != "" {
		if err := WriteFiles(s.cfg.OutDir, &snap); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// WriteFiles writes into dir, creating it: latency.hgrm, batch-age.hgrm
// (all reasons) and batch-age-REASON.hgrm, in milliseconds, in the .hgrm
// percentile format (no batch-age files in lines mode, which has no relay
// timestamps); batch-sizes.csv (reason,size,count) and throughput.csv
// (unix_second,messages,bytes).
func WriteFiles(dir string, s *Snapshot) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create out dir: %w", err)
	}
	write := func(name string, fill func(w io.Writer) error) error {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
		bw := bufio.NewWriter(f)
		err = fill(bw)
		if ferr := bw.Flush(); err == nil {
			err = ferr
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
		return nil
	}
	hist := func(h *hdrhistogram.Histogram) func(io.Writer) error {
		return func(w io.Writer) error { return hgrm.Write(w, h, 1e3) }
	}
	errs := []error{write("latency.hgrm", hist(s.Latency))}
	if s.Mode != ModeLines {
		errs = append(errs, write("batch-age.hgrm", hist(s.MergedBatchAge())))
		for _, reason := range sortedKeys(s.BatchAge) {
			errs = append(errs, write("batch-age-"+reason+".hgrm", hist(s.BatchAge[reason])))
		}
	}
	errs = append(errs, write("batch-sizes.csv", func(w io.Writer) error {
		fmt.Fprintln(w, "reason,size,count")
		for _, reason := range sortedKeys(s.BatchSizes) {
			for n, c := range s.BatchSizes[reason] {
				if c > 0 {
					fmt.Fprintf(w, "%s,%d,%d\n", reason, n, c)
				}
			}
			over := s.BatchSizesOver[reason]
			sizes := make([]uint32, 0, len(over))
			for n := range over {
				sizes = append(sizes, n)
			}
			slices.Sort(sizes)
			for _, n := range sizes {
				fmt.Fprintf(w, "%s,%d,%d\n", reason, n, over[n])
			}
		}
		return nil
	}))
	errs = append(errs, write("throughput.csv", func(w io.Writer) error {
		fmt.Fprintln(w, "unix_second,messages,bytes")
		for _, pt := range s.Throughput {
			fmt.Fprintf(w, "%d,%d,%d\n", pt.Unix, pt.Messages, pt.Bytes)
		}
		return nil
	}))
	return errors.Join(errs...)
}

// adminHandler serves /stats (the live Snapshot as JSON) and /healthz.
func (s *Server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(s.Snapshot()); err != nil {
			s.log.Debug("write /stats", "err", err)
		}
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if s.down.Load() {
			http.Error(w, "down (misbehaving on purpose)\n", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}
