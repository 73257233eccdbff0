// Package rules provides the bench's checks: each turns what a scenario
// recorded (a report.Observation) into one rule verdict, and fails when
// the measurement it needs is missing. It also holds what the rules
// share with the scenarios that feed them: when an open-loop step counts
// as sustained, and the regression gate's rule.
package rules

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/logrelay/logrelay/internal/bench/report"
)

// A Check turns one recorded observation into one rule verdict. Every
// check fails when the measurement it needs is missing: a nil field, a
// scenario that produced no batches, a metric not found. None passes by
// default; rules_test.go feeds each one a recording that breaks it.
type Check struct {
	// Name names the check, and the rule it returns unless the check
	// names the rule after what it judged (the shutdown rounds).
	Name  string
	judge func(r report.Rule, w Want, o *report.Observation) report.Rule
}

// newCheck returns the check called name; judge gets a rule of that name
// to fill in.
func newCheck(name string, judge func(r report.Rule, w Want, o *report.Observation) report.Rule) Check {
	return Check{Name: name, judge: judge}
}

// Judge returns the check's verdict on o, with the thresholds w.
func (c Check) Judge(w Want, o *report.Observation) report.Rule {
	return c.judge(report.Rule{Rule: c.Name}, w, o)
}

// Want are a scenario's own thresholds, beyond the relay's rules (which
// the observation carries).
type Want struct {
	MinRate       float64 // CheckRate: messages/s loadgen achieves at least
	Conns         int     // CheckRate, CheckConns: client connections asked for
	MinAgeFlushes int     // CheckAgeFlushes: batches flushed by age at least
	MaxRSS        uint64  // CheckRSS: the relay's peak RSS at most, bytes
}

func newRule(name, expected string) report.Rule { return report.Rule{Rule: name, Expected: expected} }

func fail(r report.Rule, format string, a ...any) report.Rule {
	r.Measured, r.Pass = fmt.Sprintf(format, a...), false
	return r
}

func missing(r report.Rule, what string) report.Rule { return fail(r, "missing: %s", what) }

func verdict(r report.Rule, pass bool, format string, a ...any) report.Rule {
	r.Measured, r.Pass = fmt.Sprintf(format, a...), pass
	return r
}

func secs(us int64) string { return fmt.Sprintf("%.3f s", float64(us)/1e6) }

// batchesOf returns the number of batches recorded with reason.
func batchesOf(o *report.Observation, reason string) uint64 {
	var n uint64
	for _, c := range o.Dest.BatchSizes[reason] {
		n += c
	}
	return n
}

// CheckMaxBatch: no batch holds more than batch-size messages.
var CheckMaxBatch = newCheck("no batch exceeds batch-size", func(r report.Rule, w Want, o *report.Observation) report.Rule {
	r.Expected = fmt.Sprintf("max batch ≤ %d", o.BatchSize)
	d := o.Dest
	if d == nil || d.Batches == 0 {
		return missing(r, "no batches arrived")
	}
	if o.BatchSize <= 0 {
		return missing(r, "batch-size unknown")
	}
	over := 0
	for _, reason := range []string{"size", "age", "shutdown", "bytes", "read"} {
		for n := o.BatchSize + 1; n < len(d.BatchSizes[reason]); n++ {
			over += int(d.BatchSizes[reason][n])
		}
		over += len(d.BatchSizesOver[reason])
	}
	return verdict(r, d.MaxBatchSize <= o.BatchSize && over == 0, "max %d in %d batches (%d over the limit)", d.MaxBatchSize, d.Batches, over)
})

// CheckSizeExact: every batch closed by size holds exactly batch-size
// messages (and at least one such batch exists).
var CheckSizeExact = newCheck("size flushes hold exactly batch-size", func(r report.Rule, w Want, o *report.Observation) report.Rule {
	r.Expected = fmt.Sprintf("every size batch = %d, ≥ 1 size batch", o.BatchSize)
	d := o.Dest
	if d == nil || d.Batches == 0 {
		return missing(r, "no batches arrived")
	}
	sizes := d.BatchSizes["size"]
	var exact, other uint64
	var example int
	for n, c := range sizes {
		if n == o.BatchSize {
			exact += c
		} else if c > 0 {
			other += c
			example = n
		}
	}
	other += uint64(len(d.BatchSizesOver["size"]))
	if exact+other == 0 {
		return missing(r, "no batch was flushed by size")
	}
	if other > 0 {
		return fail(r, "%d of %d size batches ≠ %d (e.g. %d)", other, exact+other, o.BatchSize, example)
	}
	return verdict(r, true, "%d size batches, all %d", exact, o.BatchSize)
})

// CheckAgeBound: no batch's oldest message waited longer than the flush
// interval plus the tolerance (all reasons: a size batch must not be older
// either).
var CheckAgeBound = newCheck("no batch older than flush-interval", func(r report.Rule, w Want, o *report.Observation) report.Rule {
	limit := o.FlushInterval + o.AgeTolerance
	r.Expected = fmt.Sprintf("max age ≤ %s + %s", o.FlushInterval, o.AgeTolerance)
	r.Note = "age = flush time − oldest message's receive time, both from the relay's frame header; histogram resolution 0.1%"
	d := o.Dest
	if d == nil || d.Batches == 0 || o.FlushInterval <= 0 {
		return missing(r, "no batches arrived")
	}
	var maxUs, n int64
	worst := ""
	for reason, h := range d.BatchAge {
		if h == nil || h.TotalCount() == 0 {
			continue
		}
		n += h.TotalCount()
		if h.Max() > maxUs {
			maxUs, worst = h.Max(), reason
		}
	}
	if n == 0 {
		return missing(r, "no batch ages (frames without timestamps?)")
	}
	return verdict(r, time.Duration(maxUs)*time.Microsecond <= limit, "max %s (%s batch) over %d batches", secs(maxUs), worst, n)
})

// CheckAgeFlushes: at least MinAgeFlushes batches were flushed by age.
var CheckAgeFlushes = newCheck("age flushes happened", func(r report.Rule, w Want, o *report.Observation) report.Rule {
	r.Expected = fmt.Sprintf("≥ %d age flushes", max(w.MinAgeFlushes, 1))
	if o.Dest == nil || o.Dest.Batches == 0 {
		return missing(r, "no batches arrived")
	}
	n := batchesOf(o, "age")
	return verdict(r, n >= uint64(max(w.MinAgeFlushes, 1)), "%d age flushes", n)
})

// CheckAgeNotEarly: no batch flushed by age went out much earlier than the
// interval (a batch that filled up is flushed by size instead).
var CheckAgeNotEarly = newCheck("age flushes not early", func(r report.Rule, w Want, o *report.Observation) report.Rule {
	r.Expected = fmt.Sprintf("min age-flush age ≥ %s − %s", o.FlushInterval, o.AgeTolerance)
	d := o.Dest
	if d == nil || o.FlushInterval <= 0 {
		return missing(r, "no batches arrived")
	}
	h := d.BatchAge["age"]
	if h == nil || h.TotalCount() == 0 {
		return missing(r, "no batch was flushed by age")
	}
	minUs := h.Min()
	return verdict(r, time.Duration(minUs)*time.Microsecond >= o.FlushInterval-o.AgeTolerance,
		"min %s, max %s over %d age flushes", secs(minUs), secs(h.Max()), h.TotalCount())
})

// CheckNoLoss: every seq that loadgen sent safely arrived (stream by
// stream: [1, LastSeq] minus Failed ∪ AtRisk).
var CheckNoLoss = newCheck("nothing lost", func(r report.Rule, w Want, o *report.Observation) report.Rule {
	r.Expected = "every safely sent message arrives"
	dl := o.Delivery
	if dl == nil {
		return missing(r, "no per-stream delivery data")
	}
	if dl.MustArrive == 0 {
		return missing(r, "no message was sent")
	}
	if dl.Lost > 0 {
		ex := ""
		if len(dl.Examples) > 0 {
			g := dl.Examples[0]
			ex = fmt.Sprintf(" (e.g. stream %d seq %d–%d)", g.Stream, g.From, g.To)
		}
		return fail(r, "%d of %d lost%s", dl.Lost, dl.MustArrive, ex)
	}
	m := fmt.Sprintf("%d of %d arrived", dl.MustArrive, dl.MustArrive)
	if dl.Excused > 0 {
		m += fmt.Sprintf(" (%d excused: write failed or at risk)", dl.Excused)
	}
	return verdict(r, true, "%s", m)
})

// CheckExactCount: without chaos, the distinct messages at mockdest equal
// exactly what loadgen sent, and no write failed.
var CheckExactCount = newCheck("arrived = sent", func(r report.Rule, w Want, o *report.Observation) report.Rule {
	r.Expected = "distinct arrivals = messages sent, no failed writes"
	if o.Load == nil || o.Dest == nil {
		return missing(r, "loadgen or mockdest report")
	}
	if o.Load.Sent == 0 {
		return missing(r, "no message was sent")
	}
	got, want := o.Dest.Streams.Distinct, o.Load.Sent
	return verdict(r, got == want && o.Load.WriteFailed == 0 && o.Dest.Streams.Untracked == 0,
		"%d of %d (write failed %d)", got, want, o.Load.WriteFailed)
})

// CheckNoDuplicates: no stamped message arrived twice outside resent
// batches. Into mockdest's _bulk receiver, the duplicates under a batch
// whose answer it broke on purpose are expected (the shipper cannot know
// they were stored) and counted apart.
var CheckNoDuplicates = newCheck("no duplicates", func(r report.Rule, w Want, o *report.Observation) report.Rule {
	r.Expected = "0 duplicate messages (resent batches excluded)"
	d := o.Dest
	if d == nil || d.Streams.Distinct == 0 {
		return missing(r, "no stamped messages arrived")
	}
	dups := d.Streams.Duplicates
	m := fmt.Sprintf("%d duplicates", dups)
	if d.Bulk != nil && d.Bulk.DuplicatesAfterBreak > 0 {
		r.Expected = "0 duplicate messages (resent batches and resends after broken answers excluded)"
		after := min(d.Bulk.DuplicatesAfterBreak, dups)
		dups -= after
		m = fmt.Sprintf("%d duplicates (%d more after injected broken answers)", dups, after)
	}
	if d.DuplicateBatches > 0 {
		m += fmt.Sprintf(" (%d resent batches counted apart)", d.DuplicateBatches)
	}
	return verdict(r, dups == 0, "%s", m)
})

// CheckRELPAcked: over RELP every message is answered 200 and none is left
// unanswered (so nothing is excused from the loss check: missing = 0 is a
// hard rule); duplicates at mockdest are reported and may only come from
// resends.
var CheckRELPAcked = newCheck("RELP: every message acknowledged", func(r report.Rule, w Want, o *report.Observation) report.Rule {
	r.Expected = "acked = sent, 0 unacked, 0 refused, 0 failed writes; duplicates ≤ resent"
	l := o.Load
	if l == nil || l.RELP == nil {
		return missing(r, "no RELP load report")
	}
	x := l.RELP
	m := fmt.Sprintf("%d of %d acked, %d unacked, %d refused, %d resent", x.Acked, l.Sent, x.Unacked, x.Refused, x.Resent)
	dups := uint64(0)
	if d := o.Dest; d != nil {
		dups = d.Streams.Duplicates
		m += fmt.Sprintf("; %d duplicates at mockdest", dups)
	}
	ok := l.Sent > 0 && x.Acked == l.Sent && x.Unacked == 0 && x.Refused == 0 && l.WriteFailed == 0 && l.AtRisk == 0 &&
		dups <= x.Resent
	return verdict(r, ok, "%s", m)
})

// CheckResendsExplained: every seq that arrived twice at mockdest is one
// loadgen resent after a reconnect (its per-stream resent ranges): the
// resend explains it. Any other duplicate — or one mockdest could not
// track — is unexplained, and there must be none.
var CheckResendsExplained = newCheck("duplicates explained by resends", func(r report.Rule, w Want, o *report.Observation) report.Rule {
	r.Expected = "0 unexplained duplicates (every seq that arrived twice was resent by loadgen)"
	x := o.Resends
	if x == nil {
		return missing(r, "no resend account")
	}
	m := fmt.Sprintf("%d seqs duplicated: %d explained by resends (of %d resent seqs), %d unexplained", x.Duplicated, x.Explained, x.Resent, x.Unexplained)
	if len(x.Examples) > 0 {
		g := x.Examples[0]
		m += fmt.Sprintf(" (e.g. stream %d seq %d–%d)", g.Stream, g.From, g.To)
	}
	return verdict(r, x.Unexplained == 0, "%s", m)
})

// CheckRestarts: the relay, killed or stopped under load, came back on
// the same ports each time, delivered again and had every message sent
// before the fault answered before the next one; each fault's recovery
// times are the measured figures.
var CheckRestarts = newCheck("relay restarts recovered", func(r report.Rule, w Want, o *report.Observation) report.Rule {
	r.Expected = "each fault: the relay back on the same ports, a new delivery, the backlog answered; mockdest sees each restart"
	x := o.Restarts
	if x == nil || len(x.Faults) == 0 {
		return missing(r, "no fault recorded")
	}
	ok := true
	var parts []string
	for i, f := range x.Faults {
		if f.Err != "" || f.Up <= 0 || f.FirstDelivery <= 0 || f.Cleared <= 0 {
			ok = false
		}
		p := fmt.Sprintf("%d %s: up %s, first delivery %s, backlog cleared %s", i+1, f.Signal, ms(f.Up), ms(f.FirstDelivery), ms(f.Cleared))
		if f.Err != "" {
			p += " (" + f.Err + ")"
		}
		parts = append(parts, p)
	}
	if d := o.Dest; d == nil || d.SenderRestarts != uint64(len(x.Faults)) {
		ok = false
		if d != nil {
			parts = append(parts, fmt.Sprintf("mockdest saw %d sender restarts, want %d", d.SenderRestarts, len(x.Faults)))
		}
	}
	return verdict(r, ok, "%s", strings.Join(parts, "; "))
})

// ms formats d in milliseconds; 0 reads "not seen".
func ms(d time.Duration) string {
	if d <= 0 {
		return "not seen"
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}

// CheckRestartDuplicates: the duplicates at mockdest are at most what was
// in flight at the faults — per fault, what loadgen had sent and not had
// answered once the old process was gone, itself at most conns × window.
var CheckRestartDuplicates = newCheck("duplicates ≤ in flight at the faults", func(r report.Rule, w Want, o *report.Observation) report.Rule {
	r.Expected = "duplicates ≤ Σ in flight per fault ≤ faults × conns × window"
	x, d, l := o.Restarts, o.Dest, o.Load
	if x == nil || d == nil || l == nil || l.RELP == nil {
		return missing(r, "restarts, mockdest or RELP load report")
	}
	var bound uint64
	var each []string
	for _, f := range x.Faults {
		bound += f.InFlight
		each = append(each, strconv.FormatUint(f.InFlight, 10))
	}
	window := uint64(len(x.Faults)) * uint64(l.Conns) * uint64(l.RELP.Window)
	dups := d.Streams.Duplicates
	return verdict(r, dups <= bound && bound <= window, "%d duplicates ≤ %d in flight (%s per fault; %d faults × %d conns × window %d = %d)",
		dups, bound, strings.Join(each, " + "), len(x.Faults), l.Conns, l.RELP.Window, window)
})

// CheckOrder: per-stream order holds. Into mockdest's _bulk receiver, the
// late arrivals of documents resent after a failure it injected (items
// answered 429 resent alone, a failed request resent whole) are expected
// and counted apart.
var CheckOrder = newCheck("per-stream order", func(r report.Rule, w Want, o *report.Observation) report.Rule {
	r.Expected = "0 out-of-order arrivals"
	d := o.Dest
	if d == nil || d.Streams.Distinct == 0 {
		return missing(r, "no stamped messages arrived")
	}
	re := d.Streams.Reordered
	if d.Bulk != nil && d.Bulk.ReorderedAfterFault > 0 {
		r.Expected = "0 out-of-order arrivals (resends after injected failures excluded)"
		after := min(d.Bulk.ReorderedAfterFault, re)
		re -= after
		return verdict(r, re == 0, "%d reordered in %d streams (%d more after injected failures)", re, d.Streams.Streams, after)
	}
	return verdict(r, re == 0, "%d reordered in %d streams", re, d.Streams.Streams)
})

// CheckRate: loadgen achieved at least MinRate messages per second.
var CheckRate = newCheck("sustained input rate", func(r report.Rule, w Want, o *report.Observation) report.Rule {
	r.Expected = fmt.Sprintf("≥ %s msgs/s over %d conns", report.Human(w.MinRate), w.Conns)
	l := o.Load
	if l == nil || l.Sent == 0 || l.Seconds <= 0 {
		return missing(r, "loadgen report")
	}
	return verdict(r, l.AchievedRate >= w.MinRate && l.Conns >= w.Conns, "%s msgs/s over %d conns (%s in %.1f s)",
		report.Human(l.AchievedRate), l.Conns, report.Human(float64(l.Sent)), l.Seconds)
})

// CheckConns: the relay held all the connections at once.
var CheckConns = newCheck("concurrent connections", func(r report.Rule, w Want, o *report.Observation) report.Rule {
	r.Expected = fmt.Sprintf("%d open at once, 0 connect failures", w.Conns)
	if o.Relay == nil || o.Relay.Samples == 0 || o.Load == nil {
		return missing(r, "relay connection counts or loadgen report")
	}
	return verdict(r, o.Relay.ConnsPeak >= int64(w.Conns) && o.Load.ConnectFailures == 0,
		"peak %d open, %d connect failures", o.Relay.ConnsPeak, o.Load.ConnectFailures)
})

// CheckRSS: the relay's RSS is reported and under MaxRSS.
var CheckRSS = newCheck("relay RSS", func(r report.Rule, w Want, o *report.Observation) report.Rule {
	r.Expected = fmt.Sprintf("reported, peak ≤ %d MiB", w.MaxRSS>>20)
	if o.Proc == nil || o.Proc.PeakRSS == 0 {
		return missing(r, "no RSS samples")
	}
	return verdict(r, w.MaxRSS > 0 && o.Proc.PeakRSS <= w.MaxRSS, "peak %.1f MiB (pid %d)", float64(o.Proc.PeakRSS)/(1<<20), o.Proc.PID)
})

// CheckChaos: chaos really happened — both graceful and abortive closes,
// followed by reconnects.
var CheckChaos = newCheck("chaos happened", func(r report.Rule, w Want, o *report.Observation) report.Rule {
	r.Expected = "≥ 1 graceful and ≥ 1 abortive close, reconnects"
	l := o.Load
	if l == nil {
		return missing(r, "loadgen report")
	}
	g, a := l.Disconnects["chaos_graceful"], l.Disconnects["chaos_abortive"]
	return verdict(r, g > 0 && a > 0 && l.ConnectAttempts > uint64(l.Conns),
		"%d graceful, %d abortive, %d connects for %d conns", g, a, l.ConnectAttempts, l.Conns)
})

// CheckAlive: the relay still relays after the disruption.
var CheckAlive = newCheck("relay keeps running", func(r report.Rule, w Want, o *report.Observation) report.Rule {
	r.Expected = "probe after the chaos: a full batch arrives within 5 s, all of it by the end"
	a := o.Alive
	if a == nil || a.Sent == 0 {
		return missing(r, "no probe")
	}
	if a.Err != "" {
		return fail(r, "%d of %d arrived: %s", a.Arrived, a.Sent, a.Err)
	}
	return verdict(r, a.Early >= o.BatchSize && a.Arrived == a.Sent, "%d within 5 s, %d of %d by the end", a.Early, a.Arrived, a.Sent)
})

// CheckLeaks: goroutines and file descriptors return to their baseline.
var CheckLeaks = newCheck("no goroutine or fd leak", func(r report.Rule, w Want, o *report.Observation) report.Rule {
	r.Expected = "counts return to baseline (± slack)"
	l := o.Leak
	if l == nil || l.GoroutinesBefore <= 0 || l.FDsBefore <= 0 {
		return missing(r, "goroutine/fd counts")
	}
	r.Expected = fmt.Sprintf("after ≤ before + %d", l.Slack)
	return verdict(r, l.GoroutinesAfter <= l.GoroutinesBefore+l.Slack && l.FDsAfter >= 0 && l.FDsAfter <= l.FDsBefore+l.Slack,
		"goroutines %d → %d, fds %d → %d", l.GoroutinesBefore, l.GoroutinesAfter, l.FDsBefore, l.FDsAfter)
})

// CheckOutage: mockdest went down and came back several times and the
// relay retried.
var CheckOutage = newCheck("outages happened, relay retried", func(r report.Rule, w Want, o *report.Observation) report.Rule {
	r.Expected = "≥ 2 down periods, ≥ 1 retry"
	if o.Dest == nil || o.Relay == nil {
		return missing(r, "mockdest or relay counters")
	}
	m := o.Dest.Misbehaviour
	return verdict(r, m.DownPeriods >= 2 && o.Relay.Retries > 0, "%d down periods (%d conns refused), %d retries",
		m.DownPeriods, m.ConnsRefused, o.Relay.Retries)
})

// CheckAckTrouble: mockdest delayed, refused or dropped acknowledgements
// and the relay retried.
var CheckAckTrouble = newCheck("acks delayed/failed, relay retried", func(r report.Rule, w Want, o *report.Observation) report.Rule {
	r.Expected = "acks delayed, nacks and dropped acks > 0; ≥ 1 retry"
	if o.Dest == nil || o.Relay == nil {
		return missing(r, "mockdest or relay counters")
	}
	m := o.Dest.Misbehaviour
	return verdict(r, m.AcksDelayed > 0 && m.Nacks > 0 && m.AcksDropped > 0 && o.Relay.Retries > 0,
		"%d delayed, %d nacks, %d dropped; %d retries, %d resent batches", m.AcksDelayed, m.Nacks, m.AcksDropped,
		o.Relay.Retries, o.Dest.DuplicateBatches)
})

// CheckBulkTrouble: mockdest's _bulk receiver delayed its answers, failed
// items and whole requests and broke answers on purpose, and the relay
// retried: the acks scenario's CheckAckTrouble for the elasticsearch sink.
var CheckBulkTrouble = newCheck("answers delayed/failed, relay retried", func(r report.Rule, w Want, o *report.Observation) report.Rule {
	r.Expected = "answers delayed, items failed, requests failed and answers broken > 0; ≥ 1 retry"
	if o.Dest == nil || o.Relay == nil {
		return missing(r, "mockdest or relay counters")
	}
	if o.Dest.Bulk == nil {
		return missing(r, "mockdest's bulk counters (not in bulk mode)")
	}
	in := o.Dest.Bulk.Injected
	failed := in.RequestsRejected + in.WindowRejected + in.ServerErrors
	return verdict(r, in.Delayed > 0 && in.ItemsRejected > 0 && failed > 0 && in.Broken+in.Truncated > 0 && o.Relay.Retries > 0,
		"%d delayed, %d items and %d requests failed, %d answers broken; %d retries, %d resent batches",
		in.Delayed, in.ItemsRejected, failed, in.Broken+in.Truncated, o.Relay.Retries, o.Dest.DuplicateBatches)
})

// ForBulk returns cs as judged with the relay's elasticsearch sink into
// mockdest's _bulk receiver at sink concurrency conc, and a note for each
// change: CheckAckTrouble becomes CheckBulkTrouble (the failures are
// HTTP's), and above concurrency 1 the order rule is left out (the sink
// keeps a stream's order only with one request in flight).
func ForBulk(cs []Check, conc int) ([]Check, []string) {
	out := make([]Check, 0, len(cs))
	var notes []string
	for _, c := range cs {
		switch {
		case c.Name == CheckAckTrouble.Name:
			out = append(out, CheckBulkTrouble)
			notes = append(notes, "elasticsearch sink: mockdest's _bulk receiver has no acknowledgements to refuse or drop; "+
				"it fails items (429) and requests (429, 500) and breaks answers instead, judged by \""+CheckBulkTrouble.Name+"\".")
		case c.Name == CheckOrder.Name && conc > 1:
			notes = append(notes, fmt.Sprintf("elasticsearch sink at --sink-concurrency %d: requests in flight at once "+
				"may store a stream's batches out of order, so \"%s\" is not applicable (it is at --sink-concurrency 1).", conc, CheckOrder.Name))
		default:
			out = append(out, c)
		}
	}
	return out, notes
}

// MinIdealRatio is CheckIdealRatio's bound: the relay into an engine at
// ≥ 90% of the ideal client's rate into the same engine.
const MinIdealRatio = 0.90

// CheckIdealRatio: every relay row of the comparison reaches MinIdealRatio
// of its ideal client's rate (the median of the per-replicate ratios).
var CheckIdealRatio = newCheck("relay ≥ 90% of the ideal client", func(r report.Rule, w Want, o *report.Observation) report.Rule {
	r.Expected = fmt.Sprintf("relay msgs/s ≥ %.0f%% of the ideal client's into the same engine (median of the replicates' ratios)", 100*MinIdealRatio)
	c := o.Compare
	if c == nil {
		return missing(r, "no comparison recorded")
	}
	var ms []string
	pass, n := true, 0
	for i := range c.Rows {
		row := &c.Rows[i]
		if row.Ideal == "" {
			continue
		}
		n++
		ideal := 0.0
		for j := range c.Rows {
			if id := &c.Rows[j]; id.Name == row.Ideal && id.BatchSize == row.BatchSize && id.Concurrency == row.Concurrency {
				ideal = id.MsgsPerSec
			}
		}
		ms = append(ms, fmt.Sprintf("%s: %s vs ideal %s msgs/s, ratio %.2f", row.Label(), report.Human(row.MsgsPerSec), report.Human(ideal), row.Ratio))
		pass = pass && row.Ratio >= MinIdealRatio
	}
	if n == 0 {
		return missing(r, "no relay row with an ideal client")
	}
	return verdict(r, pass, "%s", strings.Join(ms, "; "))
})

// CheckCompareLossless: every step of the comparison ran, and the
// destinations' counts back hold every message exactly once.
var CheckCompareLossless = newCheck("counted back: nothing lost or duplicated", func(r report.Rule, w Want, o *report.Observation) report.Rule {
	r.Expected = "every step ran; each destination holds every message once"
	c := o.Compare
	if c == nil || len(c.Rows) == 0 {
		return missing(r, "no comparison recorded")
	}
	var steps int
	var stored, lost, dups uint64
	var failed []string
	for i := range c.Rows {
		row := &c.Rows[i]
		failed = append(failed, row.Failed()...)
		for _, s := range row.Steps {
			steps++
			stored += s.Stored
		}
		lost += row.Lost
		dups += row.Duplicates
	}
	if steps == 0 {
		return missing(r, "no step ran")
	}
	m := fmt.Sprintf("%d steps: %d stored, %d lost, %d duplicates", steps, stored, lost, dups)
	if len(failed) > 0 {
		m += fmt.Sprintf("; %d failed (%s)", len(failed), failed[0])
	}
	return verdict(r, len(failed) == 0 && lost == 0 && dups == 0, "%s", m)
})

// CheckPendingBound: backpressure kept the relay's pending messages within
// max-pending.
var CheckPendingBound = newCheck("pending bounded (backpressure)", func(r report.Rule, w Want, o *report.Observation) report.Rule {
	r.Expected = "pending ≤ max-pending at every sample"
	rl := o.Relay
	if rl == nil || rl.Samples == 0 || rl.MaxPending <= 0 {
		return missing(r, "relay pending samples")
	}
	r.Expected = fmt.Sprintf("pending ≤ %d at every sample", rl.MaxPending)
	return verdict(r, rl.PendingPeak <= int64(rl.MaxPending), "peak %d over %d samples", rl.PendingPeak, rl.Samples)
})

// CheckShutdownExit: shutdown round 1's relay, stopped under load as the
// suite runs it, exited cleanly: Serve returned nil after its context was
// cancelled, or (under --relay-process) the process exited 0 after SIGTERM.
var CheckShutdownExit = shutdownExit(1, func(o *report.Observation) *report.Shutdown { return o.Shutdown })

// CheckShutdownDelivered: every message round 1's relay read arrived.
var CheckShutdownDelivered = shutdownDelivered(1, func(o *report.Observation) *report.Shutdown { return o.Shutdown })

// CheckSignalExit: shutdown round 2's relay process exited 0 after SIGTERM
// under load.
var CheckSignalExit = shutdownExit(2, func(o *report.Observation) *report.Shutdown { return o.Signal })

// CheckSignalDelivered: every message round 2's relay process read
// arrived.
var CheckSignalDelivered = shutdownDelivered(2, func(o *report.Observation) *report.Shutdown { return o.Signal })

// Shutdown round 2's batch rules: the batch size, batch age and duplicate
// checks judged on round 2's own mockdest record.
var (
	CheckSignalMaxBatch     = onSignalRound(CheckMaxBatch)
	CheckSignalAgeBound     = onSignalRound(CheckAgeBound)
	CheckSignalNoDuplicates = onSignalRound(CheckNoDuplicates)
)

// onSignalRound returns c judged on shutdown round 2's mockdest record
// instead of the scenario's, its rule named after the round.
func onSignalRound(c Check) Check {
	return newCheck("shutdown round 2: "+c.Name, func(_ report.Rule, w Want, o *report.Observation) report.Rule {
		ro := &report.Observation{BatchSize: o.BatchSize, FlushInterval: o.FlushInterval, AgeTolerance: o.AgeTolerance}
		if o.Signal != nil {
			ro.Dest = o.Signal.Dest
		}
		r := c.Judge(w, ro)
		r.Rule = roundRule(2, o.Signal, r.Rule, r.Expected).Rule
		return r
	})
}

// roundRule names a shutdown round's rule after how its relay was stopped
// (unknown when the round did not run).
func roundRule(round int, s *report.Shutdown, what, expected string) report.Rule {
	if s == nil || s.Mode == "" {
		return newRule(fmt.Sprintf("round %d: %s", round, what), expected)
	}
	return newRule(fmt.Sprintf("round %d (%s): %s", round, s.Mode, what), expected)
}

func shutdownExit(round int, sel func(*report.Observation) *report.Shutdown) Check {
	return newCheck(fmt.Sprintf("shutdown round %d: exits cleanly", round), func(_ report.Rule, _ Want, o *report.Observation) report.Rule {
		s := sel(o)
		expected, exited := "a clean exit within the shutdown timeout", "exited cleanly"
		switch {
		case s == nil:
		case s.Mode == report.ModeCancel:
			expected, exited = "Serve returns nil within the shutdown timeout", "Serve returned nil"
		case s.Mode == report.ModeSIGTERM:
			expected, exited = "exit status 0 within the shutdown timeout", "exit 0"
		}
		r := roundRule(round, s, "exits cleanly", expected)
		if s == nil || !s.Exited {
			if s != nil && s.Err != "" {
				return missing(r, "the relay did not exit: "+s.Err)
			}
			return missing(r, "the relay did not exit")
		}
		if s.Err != "" || s.ExitCode != 0 {
			return fail(r, "exit %d after %s: %s", s.ExitCode, s.Took.Round(time.Millisecond), s.Err)
		}
		return verdict(r, true, "%s in %s", exited, s.Took.Round(time.Millisecond))
	})
}

func shutdownDelivered(round int, sel func(*report.Observation) *report.Shutdown) Check {
	return newCheck(fmt.Sprintf("shutdown round %d: everything read delivered", round), func(_ report.Rule, _ Want, o *report.Observation) report.Rule {
		s := sel(o)
		r := roundRule(round, s, "everything read delivered", "arrivals = messages the relay read; no gap below any stream's last arrival")
		if s == nil || !s.Counted {
			return missing(r, "the relay's read count")
		}
		if s.Received == 0 {
			return missing(r, "the relay read nothing")
		}
		return verdict(r, s.Arrived == s.Received && s.PrefixGap == 0, "read %d, arrived %d, %d missing below the last arrival",
			s.Received, s.Arrived, s.PrefixGap)
	})
}

// CheckThroughput: the relay and the bare pipe were both measured, and the
// ratio is reported.
var CheckThroughput = newCheck("throughput measured", func(r report.Rule, w Want, o *report.Observation) report.Rule {
	r.Expected = "relay and bare pipe rates > 0, ratio reported"
	t := o.Throughput
	if t == nil || len(t.Rates()) == 0 {
		return missing(r, "no relay throughput step")
	}
	if t.Pipe == nil || t.Pipe.MsgsPerSec <= 0 {
		return missing(r, "no bare-pipe step")
	}
	return verdict(r, t.RelayMedian > 0 && t.Ratio > 0, "relay %s msgs/s (%.1f MiB/s, median of %d), pipe %s msgs/s: ratio %.2f",
		report.Human(t.RelayMedian), medianMiB(t), len(t.Rates()), report.Human(t.PipeRate), t.Ratio)
})

// CheckSustained: an open-loop run at a good fraction (≥ MinSustained) of
// the measured capacity holds its rate with nothing lost (the throughput
// scenario tries fractions in order and keeps the first that holds).
var CheckSustained = newCheck("sustained rate holds", func(r report.Rule, w Want, o *report.Observation) report.Rule {
	r.Expected = fmt.Sprintf("open-loop at ≥ %.0f%% of saturation: sent and delivered (steady state) at ≥ 97%% of target, nothing lost", 100*MinSustained)
	t := o.Throughput
	if t == nil || t.Sustained == nil || t.Sustained.TargetRate <= 0 || t.RelayMedian <= 0 {
		return missing(r, "no sustained step")
	}
	s := t.Sustained
	if s.Err != "" {
		return fail(r, "%s", s.Err)
	}
	frac := s.TargetRate / t.RelayMedian
	return verdict(r, frac >= MinSustained-1e-9 && Sustained(*s),
		"%s msgs/s (%.0f%% of saturation): sent at %s, delivered at %s msgs/s; %d sent, %d arrived, %d lost", report.Human(s.TargetRate), 100*frac,
		report.Human(s.SendRate), report.Human(s.SteadyRate), s.Sent, s.Arrived, s.Lost)
})

// CheckStepsLossless: no full-speed step of the relay (replicate or
// profiled run) lost a message that loadgen sent safely. (A message whose write was cut off when a step
// ended may still arrive, as the final unterminated line of its
// connection, so arrivals may exceed the sent count by up to one per
// connection.)
var CheckStepsLossless = newCheck("no loss at full speed", func(r report.Rule, w Want, o *report.Observation) report.Rule {
	r.Expected = "every relay step: every safely sent message arrives"
	t := o.Throughput
	if t == nil || len(t.Replicates) == 0 {
		return missing(r, "no relay throughput step")
	}
	steps := slices.Clone(t.Replicates)
	if t.Profiled != nil {
		steps = append(steps, *t.Profiled)
	}
	var sent, arrived, lost uint64
	for _, s := range steps {
		if s.Err != "" {
			return fail(r, "%s: %s", s.Name, s.Err)
		}
		sent, arrived, lost = sent+s.Sent, arrived+s.Arrived, lost+s.Lost
	}
	if sent == 0 || arrived == 0 {
		return missing(r, "nothing was sent or nothing arrived")
	}
	return verdict(r, lost == 0, "%d steps: %d sent, %d arrived, %d lost", len(steps), sent, arrived, lost)
})

// CheckFairShare: under overload, in every window after the first (when
// the flooders' connections are still being set up), Jain's index of the
// flooders' arrivals is at least MinJain and none got nothing.
var CheckFairShare = newCheck("fair share under overload", func(r report.Rule, w Want, o *report.Observation) report.Rule {
	r.Expected = fmt.Sprintf("Jain's index ≥ %.1f and no flooder starved in every window after the first", MinJain)
	ov := o.Overload
	if ov == nil || len(ov.Jain) < 2 || len(ov.Starved) != len(ov.Jain) {
		return missing(r, "two windows of arrivals")
	}
	worst, starved := 1.0, 0
	for i := 1; i < len(ov.Jain); i++ {
		worst, starved = min(worst, ov.Jain[i]), max(starved, ov.Starved[i])
	}
	return verdict(r, worst >= MinJain && starved == 0, "worst window: index %.3f, %d of %d flooders starved (%d windows of %v)",
		worst, starved, ov.Flooders, len(ov.Jain), ov.Window)
})

// MinJain is the smallest Jain's index of the flooders' arrivals in a
// window that counts as a fair share (CheckFairShare).
const MinJain = 0.9

// CheckQuietLatency: under overload, every quiet message arrives, each
// within the scenario's timeout.
var CheckQuietLatency = newCheck("quiet clients served", func(r report.Rule, w Want, o *report.Observation) report.Rule {
	r.Expected = "every quiet message arrives within its timeout"
	ov := o.Overload
	if ov == nil || ov.QuietSent == 0 {
		return missing(r, "quiet messages")
	}
	if ov.QuietTimeout <= 0 {
		return missing(r, "the quiet messages' timeout")
	}
	r.Expected = fmt.Sprintf("every quiet message arrives within %v", ov.QuietTimeout)
	lat := "none arrived"
	if len(ov.QuietLatency) == 3 {
		lat = fmt.Sprintf("p50 %v, p99 %v, max %v", ov.QuietLatency[0].Round(time.Millisecond),
			ov.QuietLatency[1].Round(time.Millisecond), ov.QuietLatency[2].Round(time.Millisecond))
	}
	return verdict(r, ov.QuietArrived == ov.QuietSent, "%d of %d arrived in time; %s", ov.QuietArrived, ov.QuietSent, lat)
})

func medianMiB(t *report.Throughput) float64 {
	for _, s := range t.Replicates {
		if s.MsgsPerSec > 0 && math.Abs(s.MsgsPerSec-t.RelayMedian) < 1 {
			return s.MiBPerSec
		}
	}
	if len(t.Replicates) > 0 {
		return t.Replicates[0].MiBPerSec
	}
	return 0
}

// MinSustained is the smallest fraction of the saturation rate that counts
// as sustained (CheckSustained).
const MinSustained = 0.3

// Sustained reports whether an open-loop step held its rate — loadgen sent
// it and the relay delivered it in steady state — with nothing lost.
func Sustained(s report.Step) bool {
	return s.Err == "" && s.TargetRate > 0 && s.SendRate >= 0.97*s.TargetRate && s.SteadyRate >= 0.97*s.TargetRate &&
		s.Lost == 0 && s.Arrived > 0
}

// framesOnly are the checks that need the framed protocol's batch
// boundaries and timestamps.
var framesOnly = map[string]bool{
	CheckMaxBatch.Name: true, CheckSizeExact.Name: true, CheckAgeBound.Name: true,
	CheckAgeFlushes.Name: true, CheckAgeNotEarly.Name: true,
	CheckSignalMaxBatch.Name: true, CheckSignalAgeBound.Name: true,
}

// NeedsFrames reports whether c judges batch boundaries, reasons or ages,
// which a mockdest in lines mode does not see.
func (c Check) NeedsFrames() bool { return framesOnly[c.Name] }

// Regression is the regression gate's rule on r.
func Regression(r *report.Regression) report.Rule {
	rule := newRule("no regression vs baseline", fmt.Sprintf("not (p < %.2f and drop > %.0f%%)", r.Alpha, 100*r.MinEffect))
	if r.Err != "" {
		return missing(rule, r.Err)
	}
	g := r.Gate
	return verdict(rule, !g.Regressed, "%s → %s msgs/s: delta %+.2f%%, p = %.4f (n = %d vs %d)",
		report.Human(g.MeanA), report.Human(g.MeanB), 100*g.Delta, g.P, len(r.Before), len(r.After))
}
