package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/logrelay/logrelay/internal/bench/compare"
	"github.com/logrelay/logrelay/internal/bench/report"
	"github.com/logrelay/logrelay/internal/bench/sut"
	"github.com/logrelay/logrelay/internal/victorialogs"
)

// CompareConfig configures "bench compare-sinks": the same workload
// through every sink row (package compare) in one run.
type CompareConfig struct {
	// Rows are the rows to run, by name; empty = all (compare.RowNames).
	Rows []string
	// Messages per step, over Conns connections; Replicates steps per row.
	Messages, Conns, Replicates int
	// BatchSizes and Concurrencies are swept for every sink row.
	BatchSizes, Concurrencies []int
	// FlushInterval is the relay's.
	FlushInterval time.Duration
	// RelayBin is the relay binary; "" = go build ./relay on the fly.
	RelayBin string
	// PipeBin and PipeArgs run the bare pipe as its own process.
	PipeBin  string
	PipeArgs []string
	// Out is the directory compare.json, compare.md and compare.html go
	// to; "" = bench-results/compare-<timestamp>.
	Out string
	// Stdout receives the table; Progress the steps as they run.
	Stdout, Progress io.Writer
	// Command is recorded in the report.
	Command []string
	// Logger receives the components' logs; nil = discard.
	Logger *slog.Logger
}

// compareFile is compare.json: the command and the comparison.
type compareFile struct {
	Command []string        `json:"command"`
	Start   time.Time       `json:"start"`
	End     time.Time       `json:"end"`
	Compare *report.Compare `json:"compare"`
}

// CompareSinks runs the sink comparison, prints its table and writes its
// reports. The error wraps ErrFailed when a step failed or lost or
// duplicated messages, ErrConfig for a bad configuration.
func CompareSinks(ctx context.Context, c CompareConfig) (*report.Compare, error) {
	if c.Stdout == nil {
		c.Stdout = io.Discard
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.Out == "" {
		c.Out = filepath.Join("bench-results", "compare-"+time.Now().Format("20060102-150405"))
	}
	var rows []compare.Row
	if len(c.Rows) > 0 {
		all := compare.Rows("")
		for _, n := range c.Rows {
			if !slices.ContainsFunc(all, func(r compare.Row) bool { return r.Name == n }) {
				return nil, fmt.Errorf("%w: row %q (have %s)", ErrConfig, n, strings.Join(compare.RowNames(), "; "))
			}
		}
		vl, _ := victorialogs.Binary() // none: compare.Run leaves its rows out, saying why
		for _, r := range compare.Rows(vl) {
			if slices.Contains(c.Rows, r.Name) {
				rows = append(rows, r)
			}
		}
	}
	if err := os.MkdirAll(c.Out, 0o755); err != nil {
		return nil, fmt.Errorf("run directory: %w", err)
	}
	st := &sut.Starter{FlushInterval: c.FlushInterval, Bin: c.RelayBin, Logger: c.Logger,
		Notify: func(m string) { fmt.Fprintln(c.Progress, m) }}
	defer st.Close()
	start := time.Now()
	res, err := compare.Run(ctx, compare.Config{Rows: rows, Messages: c.Messages, Conns: c.Conns, Replicates: c.Replicates,
		BatchSizes: c.BatchSizes, Concurrencies: c.Concurrencies, FlushInterval: c.FlushInterval, Relays: st,
		PipeBin: c.PipeBin, PipeArgs: c.PipeArgs, Logger: c.Logger,
		Notify: func(m string) { fmt.Fprintln(c.Progress, m) }})
	if res == nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	f := compareFile{Command: c.Command, Start: start, End: time.Now(), Compare: res}
	werr := writeCompare(c.Out, &f)
	report.WriteCompareText(c.Stdout, res)
	fmt.Fprintf(c.Stdout, "reports: %s\n", filepath.Join(c.Out, "compare.html"))
	if err != nil {
		return res, err
	}
	if werr != nil {
		return res, werr
	}
	var bad []string
	for i := range res.Rows {
		r := &res.Rows[i]
		if len(r.Failed()) > 0 || r.Lost > 0 || r.Duplicates > 0 {
			bad = append(bad, fmt.Sprintf("%s: %d failed steps, %d lost, %d duplicates", r.Label(), len(r.Failed()), r.Lost, r.Duplicates))
		}
	}
	if len(bad) > 0 {
		return res, fmt.Errorf("%w: %s", ErrFailed, strings.Join(bad, "; "))
	}
	return res, nil
}

// writeCompare writes compare.json, compare.md and compare.html to dir.
func writeCompare(dir string, f *compareFile) error {
	for name, fill := range map[string]func(io.Writer) error{
		"compare.json": func(w io.Writer) error {
			e := json.NewEncoder(w)
			e.SetIndent("", "  ")
			return e.Encode(f)
		},
		"compare.md": func(w io.Writer) error {
			fmt.Fprintf(w, "# logrelay sink comparison\n\nRun %s → %s. Command: `%s`\n\n", f.Start.UTC().Format(time.RFC3339),
				f.End.UTC().Format("15:04:05"), strings.Join(f.Command, " "))
			return report.WriteCompareMarkdown(w, f.Compare)
		},
		"compare.html": func(w io.Writer) error { return report.WriteCompareHTML(w, f.Compare, f.Command) },
	} {
		if err := writeFile(filepath.Join(dir, name), fill); err != nil {
			return err
		}
	}
	return nil
}

// writeFile creates path and fills it.
func writeFile(path string, fill func(io.Writer) error) error {
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := fill(out); err != nil {
		out.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return out.Close()
}
