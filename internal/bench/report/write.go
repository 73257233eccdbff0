package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/logrelay/logrelay/internal/mockdest"
)

// WriteDir writes the run directory: report.json, report.md, report.html
// and, per scenario with a mockdest snapshot, SCENARIO/ with its .hgrm
// percentile files and CSV tables (unless mockdest wrote them itself, to
// Scenario.DestDir). It records the files under SCENARIO/ in each
// Scenario.Files.
func WriteDir(dir string, s *Suite) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	var errs []error
	for _, sc := range s.Scenarios {
		if sc.Obs.Dest == nil {
			continue
		}
		sub := filepath.Join(dir, sc.Name)
		if sc.DestDir == "" {
			if err := mockdest.WriteFiles(sub, sc.Obs.Dest); err != nil {
				errs = append(errs, err)
			}
		}
		filepath.WalkDir(sub, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if rel, err := filepath.Rel(dir, path); err == nil {
					sc.Files = append(sc.Files, rel)
				}
			}
			return nil
		})
	}
	errs = append(errs,
		writeFile(filepath.Join(dir, "report.json"), func(w io.Writer) error { return WriteJSON(w, s) }),
		writeFile(filepath.Join(dir, "report.md"), func(w io.Writer) error { return WriteMarkdown(w, s) }),
		writeFile(filepath.Join(dir, "report.html"), func(w io.Writer) error { return WriteHTML(w, s) }),
	)
	return errors.Join(errs...)
}

func writeFile(path string, fill func(io.Writer) error) error {
	var b bytes.Buffer
	if err := fill(&b); err != nil {
		return fmt.Errorf("report: %s: %w", filepath.Base(path), err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// WriteJSON writes the whole suite as indented JSON (histograms
// summarised, see mockdest.Snapshot.MarshalJSON).
func WriteJSON(w io.Writer, s *Suite) error {
	type alias Suite
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		*alias
		Passed bool   `json:"passed"`
		Result string `json:"summary"`
	}{(*alias)(s), s.Passed(), Summary(s)})
}

// ReadJSON reads a report.json written by WriteJSON, e.g. a baseline. Only
// plain fields round-trip; histograms come back empty.
func ReadJSON(path string) (*Suite, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("report: read %s: %w", path, err)
	}
	var s Suite
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("report: parse %s: %w", path, err)
	}
	return &s, nil
}

// Scenario returns the named scenario of s, or nil.
func (s *Suite) Scenario(name string) *Scenario {
	for _, sc := range s.Scenarios {
		if sc.Name == name {
			return sc
		}
	}
	return nil
}

// AppendStepSummary appends the Markdown verdict table to the file named
// by GITHUB_STEP_SUMMARY (path); an empty path does nothing.
func AppendStepSummary(path string, s *Suite) error {
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("report: step summary: %w", err)
	}
	err = WriteMarkdownTable(f, s)
	if tp := s.Scenario("throughput"); err == nil && tp != nil && tp.Obs.Throughput != nil {
		var b strings.Builder
		b.WriteString("Throughput (arrivals at mockdest; CPU and RSS of the relay's own process):\n\n")
		writeStepsTable(&b, tp.Obs.Throughput)
		b.WriteString("\n")
		_, err = io.WriteString(f, b.String())
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// WriteMarkdown writes report.md: the verdict table, then each scenario's
// parameters, figures, notes and files.
func WriteMarkdown(w io.Writer, s *Suite) error {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# logrelay bench report\n\n")
	p("%s  \n", Summary(s))
	sink := ""
	if s.Sink != "" {
		sink = "; sink " + s.Sink
	}
	p("Run %s → %s on %s (%s/%s, %d CPUs, %s); relay %s%s; batch-size %d, flush-interval %s, age tolerance %s.  \n",
		s.Start.UTC().Format(time.RFC3339), s.End.UTC().Format("15:04:05"), s.Host.Hostname, s.Host.OS, s.Host.Arch,
		s.Host.CPUs, s.Host.GoVersion, s.RelayMode, sink, s.BatchSize, s.FlushInterval, s.AgeTolerance)
	p("Command: `%s`\n\n", strings.Join(s.Command, " "))
	var tb strings.Builder
	if err := WriteMarkdownTable(&tb, s); err != nil {
		return err
	}
	b.WriteString(tb.String())
	if r := s.Regression; r != nil {
		p("## Regression gate (--baseline %s)\n\n", r.Baseline)
		if r.Err != "" {
			p("Not computed: %s\n\n", r.Err)
		} else {
			g := r.Gate
			p("Welch's t-test on %d baseline vs %d new replicates: mean %s → %s msgs/s, delta %+.2f%%, t = %.3f, df = %.1f, **p = %.4f**. "+
				"A regression needs p < %.2f (%.0f%% confidence) and a drop larger than %.0f%%: **%s**.\n\n",
				len(r.Before), len(r.After), count(uint64(g.MeanA)), count(uint64(g.MeanB)), 100*g.Delta, g.T, g.DF, g.P,
				r.Alpha, 100*(1-r.Alpha), 100*r.MinEffect, map[bool]string{true: "regressed", false: "no regression"}[g.Regressed])
		}
	}
	for _, sc := range s.Scenarios {
		p("## %s\n\n%s\n\n", sc.Name, sc.Description)
		p("Ran %.1f s (expected about %.0f s). ", sc.Seconds(), sc.ExpectedSeconds)
		if len(sc.Params) > 0 {
			var ps []string
			for _, x := range sc.Params {
				ps = append(ps, x.Name+" "+x.Value)
			}
			p("Parameters: %s.", strings.Join(ps, ", "))
		}
		p("\n\n")
		if sc.Error != "" {
			p("**Error:** %s\n\n", sc.Error)
		}
		for _, f := range Figures(sc) {
			p("- **%s**: %s\n", f.Name, f.Value)
		}
		if t := sc.Obs.Throughput; t != nil {
			p("\n")
			writeStepsTable(&b, t)
		}
		if c := sc.Obs.Compare; c != nil {
			p("\n")
			WriteCompareMarkdown(&b, c)
		}
		for _, n := range sc.Notes {
			p("\n> %s\n", n)
		}
		if len(sc.Files) > 0 {
			p("\nFiles: %s\n", "`"+strings.Join(sc.Files, "`, `")+"`")
		}
		p("\n")
	}
	if len(s.Profiles) > 0 {
		p("## Relay profiles\n\n")
		for _, pr := range s.Profiles {
			p("- %s: `%s`\n", pr.Kind, pr.Command)
		}
		p("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// StepRows returns the throughput steps as table rows: name, msgs/s,
// MiB/s, CPU s, peak RSS, ratio to the pipe.
func StepRows(t *Throughput) [][]string {
	var steps []Step
	steps = append(steps, t.Replicates...)
	if t.Profiled != nil {
		s := *t.Profiled
		s.Name += ", not in the median"
		steps = append(steps, s)
	}
	for _, s := range t.NotHeld {
		s.Name += " (not held)"
		steps = append(steps, s)
	}
	if t.Sustained != nil {
		steps = append(steps, *t.Sustained)
	}
	if t.Pipe != nil {
		steps = append(steps, *t.Pipe)
	}
	steps = append(steps, t.Peers...)
	rows := [][]string{{"relay", "msgs/s", "MiB/s", "CPU s", "peak RSS MiB", "× pipe"}}
	for _, s := range steps {
		ratio := "–"
		if t.PipeRate > 0 {
			ratio = fmt.Sprintf("%.2f", s.MsgsPerSec/t.PipeRate)
		}
		name := s.Name
		if s.Err != "" {
			name += " (error: " + s.Err + ")"
		}
		rows = append(rows, []string{name, count(uint64(s.MsgsPerSec)), fmt.Sprintf("%.1f", s.MiBPerSec),
			fmt.Sprintf("%.2f", s.CPUSeconds), fmt.Sprintf("%.1f", float64(s.PeakRSS)/(1<<20)), ratio})
	}
	return rows
}

func writeStepsTable(b *strings.Builder, t *Throughput) {
	rows := StepRows(t)
	for i, r := range rows {
		fmt.Fprintf(b, "| %s |\n", strings.Join(r, " | "))
		if i == 0 {
			b.WriteString("|---|---:|---:|---:|---:|---:|\n")
		}
	}
}
