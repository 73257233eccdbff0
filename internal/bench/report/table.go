package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteTable writes the verdict table — scenario, rule, expected, measured,
// verdict — aligned for a terminal, followed by a one-line summary.
func WriteTable(w io.Writer, s *Suite) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tRULE\tEXPECTED\tMEASURED\tVERDICT")
	for _, r := range s.Rules() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Scenario, r.Rule, oneLine(r.Expected), oneLine(r.Measured), r.Verdict())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, Summary(s))
	return err
}

// Summary returns one line: how many rules passed, and the overall verdict.
func Summary(s *Suite) string {
	rs := s.Rules()
	failed := len(s.Failed())
	verdict := "PASS"
	if !s.Passed() {
		verdict = "FAIL"
	}
	return fmt.Sprintf("%s: %d of %d rules passed in %d scenarios (%.0f s)",
		verdict, len(rs)-failed, len(rs), len(s.Scenarios), s.End.Sub(s.Start).Seconds())
}

// WriteFailures writes the failed rules again, one line each, so that the
// last lines of a long CI log say what failed without scrolling back to
// the table. It writes nothing when every rule passed.
func WriteFailures(w io.Writer, s *Suite) error {
	failed := s.Failed()
	if len(failed) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "failed rules (%d):\n", len(failed))
	for _, r := range failed {
		fmt.Fprintf(&b, "  %s / %s: measured %s; expected %s\n", r.Scenario, r.Rule, oneLine(r.Measured), oneLine(r.Expected))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteMarkdownTable writes the verdict table as GitHub-flavoured Markdown.
func WriteMarkdownTable(w io.Writer, s *Suite) error {
	var b strings.Builder
	fmt.Fprintf(&b, "### logrelay bench: %s\n\n", Summary(s))
	b.WriteString("| Scenario | Rule | Expected | Measured | Verdict |\n|---|---|---|---|---|\n")
	for _, r := range s.Rules() {
		v := "✅ PASS"
		switch {
		case r.Skipped:
			v = "⏭️ SKIP"
		case !r.Pass:
			v = "❌ FAIL"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", mdCell(r.Scenario), mdCell(r.Rule),
			mdCell(r.Expected), mdCell(r.Measured), v)
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func mdCell(s string) string {
	return strings.ReplaceAll(oneLine(s), "|", `\|`)
}

// WriteStepsTable writes the throughput steps — relay, msgs/s, MiB/s, CPU
// seconds, peak RSS and ratio to the bare pipe — aligned for a terminal.
func WriteStepsTable(w io.Writer, t *Throughput) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, r := range StepRows(t) {
		fmt.Fprintf(tw, "%s\t%s\t\n", r[0], strings.Join(r[1:], "\t"))
	}
	return tw.Flush()
}
