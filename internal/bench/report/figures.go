package report

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/logrelay/logrelay/internal/mockdest"
)

// Figures returns a scenario's key measured figures, in display order.
func Figures(sc *Scenario) []Param {
	var fs []Param
	add := func(name, format string, a ...any) { fs = append(fs, Param{name, fmt.Sprintf(format, a...)}) }
	o := &sc.Obs
	if l := o.Load; l != nil {
		add("loadgen", "%s sent over %d conns in %.1f s: %s msgs/s (target %s)", count(l.Sent), l.Conns, l.Seconds,
			count(uint64(l.AchievedRate)), rateOrMax(l.TargetRate))
		if l.WriteFailed+l.AtRisk+l.ConnectFailures > 0 || len(l.Disconnects) > 0 {
			add("loadgen failures", "write failed %d, at risk %d, connect failures %d of %d, disconnects: %s",
				l.WriteFailed, l.AtRisk, l.ConnectFailures, l.ConnectAttempts, counts(l.Disconnects))
		}
		if l.ScheduleLagMax > 0 {
			add("schedule lag", "p99 %s, max %s (coordinated omission: time behind the intended send time)",
				l.ScheduleLagP99.Round(time.Microsecond), l.ScheduleLagMax.Round(time.Microsecond))
		}
	}
	if d := o.Dest; d != nil {
		add("mockdest", "%s batches, %s messages, %.1f MiB (%s mode); max batch %d", count(d.Batches), count(d.Messages),
			float64(d.Bytes)/(1<<20), d.Mode, d.MaxBatchSize)
		var rs []string
		for _, r := range sortedReasons(d.BatchSizes) {
			var n uint64
			for _, c := range d.BatchSizes[r] {
				n += c
			}
			rs = append(rs, fmt.Sprintf("%s %d", r, n))
		}
		add("batches by reason", "%s", strings.Join(rs, ", "))
		for _, r := range sortedReasons(d.BatchSizes) {
			if h := d.BatchAge[r]; h != nil && h.TotalCount() > 0 {
				add("batch age ("+r+")", "%s", histLine(h, 1e-6, "s"))
			}
		}
		if d.Latency != nil && d.Latency.TotalCount() > 0 {
			add("end-to-end latency", "%s", histLine(d.Latency, 1e-3, "ms"))
		}
		st := d.Streams
		add("streams", "%d streams, %s distinct, missing %d, duplicates %d, reordered %d, foreign %d",
			st.Streams, count(st.Distinct), st.Missing, st.Duplicates, st.Reordered, st.Foreign)
		if d.DuplicateBatches > 0 {
			add("resent batches", "%d duplicate batches (%d messages), expected after nacks/reconnects", d.DuplicateBatches, d.ResentMessages)
		}
		m := d.Misbehaviour
		if m != (mockdest.Misbehaviour{}) {
			add("mockdest misbehaviour", "down %d times (%d conns refused), nacks %d, acks delayed %d, acks dropped %d, conns closed %d",
				m.DownPeriods, m.ConnsRefused, m.Nacks, m.AcksDelayed, m.AcksDropped, m.ConnsClosed)
		}
	}
	if d := o.Delivery; d != nil {
		add("delivery", "%s of %s safely sent seqs arrived; lost %d; excused (write failed or at risk) %d",
			count(d.MustArrive-min(d.Lost, d.MustArrive)), count(d.MustArrive), d.Lost, d.Excused)
	}
	if r := o.Relay; r != nil {
		add("relay ("+r.Source+")", "received %s, delivered %s, rejected %d, retries %d, sink errors %d, conns peak %d (total %d), pending peak %d / %d",
			count(r.Received), count(r.Delivered), r.Rejected, r.Retries, r.SinkErrors, r.ConnsPeak, r.ConnsTotal, r.PendingPeak, r.MaxPending)
	}
	if p := o.Proc; p != nil {
		add("relay process", "pid %d: %.2f CPU s over %.1f s (%.0f%% of a core), peak RSS %.1f MiB", p.PID, p.CPUSeconds, p.Seconds,
			p.CPUPercent(), float64(p.PeakRSS)/(1<<20))
	}
	if l := o.Leak; l != nil {
		add("goroutines / fds", "goroutines %d → %d, fds %d → %d (slack %d, %s)", l.GoroutinesBefore, l.GoroutinesAfter,
			l.FDsBefore, l.FDsAfter, l.Slack, l.Source)
	}
	for _, s := range []*Shutdown{o.Shutdown, o.Signal} {
		if s != nil {
			add(fmt.Sprintf("shutdown round %d", s.Round), "%s: exited=%v code %d in %s; relay read %d, arrived %d, %d shutdown batches; files in %s/",
				s.Mode, s.Exited, s.ExitCode, s.Took.Round(time.Millisecond), s.Received, s.Arrived, s.Batches, s.Dir)
		}
	}
	if a := o.Alive; a != nil {
		add("probe", "%d of %d probe messages arrived after the load", a.Arrived, a.Sent)
	}
	if t := o.Throughput; t != nil {
		add("throughput", "relay median %s msgs/s, pipe %s msgs/s, ratio %.2f", count(uint64(t.RelayMedian)),
			count(uint64(t.PipeRate)), t.Ratio)
	}
	return fs
}

func histLine(h *hdrhistogram.Histogram, scale float64, unit string) string {
	v := func(q float64) string { return fmt.Sprintf("%.3f", float64(h.ValueAtQuantile(q))*scale) }
	return fmt.Sprintf("n=%d min %.3f p50 %s p99 %s p99.9 %s max %.3f %s", h.TotalCount(), float64(h.Min())*scale,
		v(50), v(99), v(99.9), float64(h.Max())*scale, unit)
}

func rateOrMax(r float64) string {
	if r <= 0 {
		return "as fast as possible"
	}
	return count(uint64(r)) + "/s"
}

// count formats n with thin thousands separators.
func count(n uint64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// counts formats a map of counters as "a 1, b 2", sorted, zeros left out.
func counts(m map[string]uint64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// Human formats a rate or count compactly: 1234567 → "1.23M", 4321 →
// "4.3k", 12 → "12".
func Human(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case a >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}
