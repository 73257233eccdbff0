package scenario

import (
	"context"
	"fmt"

	"github.com/logrelay/logrelay/internal/bench/compare"
	"github.com/logrelay/logrelay/internal/bench/rules"
	"github.com/logrelay/logrelay/internal/bench/sut"
	"github.com/logrelay/logrelay/internal/victorialogs"
)

// vlConcurrency is the victorialogs scenario's requests in flight, both
// the relay's --sink-concurrency and the ideal client's, unless
// --sink-concurrency says otherwise.
const vlConcurrency = 2

// victoriaLogsDescription is the victorialogs scenario's description.
func victoriaLogsDescription() string {
	return fmt.Sprintf("The relay into a real VictoriaLogs node against the ideal client of the same engine, in one run: "+
		"in replicates that alternate, the bench POSTs prebuilt _bulk bodies of batch-size documents with %d requests in flight "+
		"(or --sink-concurrency), no relay; then the same lines go through a relay process (batch-size, the same concurrency) "+
		"into a fresh node. Each node is counted back (LogsQL): nothing lost or duplicated; the relay's rate is ≥ %.0f%% of "+
		"the ideal client's (median of the per-replicate ratios). Needs victoria-logs (scripts/install-victorialogs.sh); "+
		"run it by name: --scenario victorialogs.", vlConcurrency, 100*rules.MinIdealRatio)
}

// runVictoriaLogs runs the ideal-client and relay rows of package compare
// into VictoriaLogs, interleaved by replicate, and records the table.
func runVictoriaLogs(ctx context.Context, t *Trial) error {
	bin, err := victorialogs.Binary()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNotApplicable, err)
	}
	if t.cfg.RelayAddr != "" {
		return fmt.Errorf("%w: the bench starts its own relays into VictoriaLogs (not the one at --relay-addr)", ErrNotApplicable)
	}
	var rows []compare.Row
	for _, r := range compare.Rows(bin) {
		if r.Name == "ideal → VictoriaLogs" || r.Name == "_bulk → VictoriaLogs" {
			rows = append(rows, r)
		}
	}
	conc := t.cfg.SinkConcurrency
	if conc == 0 {
		conc = vlConcurrency
	}
	c, err := compare.Run(ctx, compare.Config{Rows: rows, Messages: t.P.Messages, Conns: t.P.Conns, Replicates: t.P.Replicates,
		BatchSizes: []int{t.cfg.BatchSize}, Concurrencies: []int{conc}, FlushInterval: t.cfg.FlushInterval,
		Relays: t.relays, VictoriaLogs: bin,
		Notify: func(m string) { t.prog.Printf("%s\n", m) }, Logger: t.cfg.Logger})
	t.Rec.Obs.Compare = c
	t.noteStarted(t.Scenario.Name, t.relays.KindFor(sut.Process))
	t.Rec.Notes = append(t.Rec.Notes, fmt.Sprintf("VictoriaLogs %s at %s, a fresh node per step; the relay and the ideal client "+
		"send the same %d-byte JSON lines (msg the message, host the stream, the relay's @timestamp the time), %d requests "+
		"in flight each; msgs/s = messages / (first line written → last one acknowledged). The relay, VictoriaLogs and "+
		"the bench share this machine's cores, so only the ratio within this run means anything.",
		victorialogs.Version, bin, 200, conc))
	return err
}
