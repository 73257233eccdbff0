package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/logrelay/logrelay/internal/hgrm"
	"github.com/logrelay/logrelay/internal/wire"
)

// Report says exactly what a run sent. The invariant a receiver can check:
// for every stream, every seq in [1, LastSeq] that is in neither Failed nor
// AtRisk was completely written to a connection that was then closed
// gracefully or whose unacknowledged bytes did not include it, so it must
// arrive.
type Report struct {
	Start, End   time.Time
	TargetRate   float64 // messages per second the schedule called for over the run (0 = unpaced)
	AchievedRate float64 // Sent / (End − Start)

	Scheduled       uint64 // messages given a seq: Sent + WriteFailed = Σ LastSeq
	Sent            uint64 // messages completely written
	WriteFailed     uint64 // messages whose write failed: not sent (Σ Failed)
	AtRisk          uint64 // written messages possibly lost by a reset (Σ AtRisk)
	Bytes           uint64 // bytes written, including parts of failed messages
	ConnectAttempts uint64
	ConnectFailures uint64
	Reconnects      uint64            // connections after a stream's first
	Disconnects     map[string]uint64 // chaos_graceful, chaos_abortive, peer_closed, error

	Conns  int
	Size   int
	Format string

	// RELP mode only (Config.RELP):
	RELP *RELPReport

	Streams []StreamReport

	ScheduleLag    *hdrhistogram.Histogram // µs, actual − intended send time of every sent message (nil counts when unpaced)
	ConnectLatency *hdrhistogram.Histogram // µs, successful connects
}

// RELPReport is what the RELP server answered. Acked + Refused + Unacked
// = Sent: a message is answered once, however often it was resent.
type RELPReport struct {
	Acked   uint64 `json:"acked"`   // messages answered 200
	Refused uint64 `json:"refused"` // messages answered 500 (not resent)
	Resent  uint64 `json:"resent"`  // resends after reconnects (a message may count several times)
	Unacked uint64 `json:"unacked"` // unanswered at the end, after the final wait (also in AtRisk)
	Window  int    `json:"window"`  // the per-stream window
}

// StreamReport is the accounting of one stream (connection slot).
type StreamReport struct {
	ID          uint32            `json:"id"`
	LastSeq     uint64            `json:"last_seq"`          // seqs 1..LastSeq were scheduled
	Failed      []wire.SeqRange   `json:"failed,omitempty"`  // not sent: their write failed
	AtRisk      []wire.SeqRange   `json:"at_risk,omitempty"` // written but unacknowledged at a reset
	Sent        uint64            `json:"sent"`
	WriteFailed uint64            `json:"write_failed"`  // Σ Failed
	AtRiskCount uint64            `json:"at_risk_count"` // Σ AtRisk
	Connects    uint64            `json:"connects"`      // successful connections
	Attempts    uint64            `json:"connect_attempts"`
	ConnFails   uint64            `json:"connect_failures"`
	Disconnects map[string]uint64 `json:"disconnects,omitempty"`  // by cause, only causes that occurred
	RELPUnacked uint64            `json:"relp_unacked,omitempty"` // RELP mode: unanswered at the end
	// Resent are the seqs RELP mode resent after a reconnect (each at
	// least once): the only seqs of the stream that may arrive twice.
	Resent []wire.SeqRange `json:"resent,omitempty"`
}

func (g *Generator) report(start, end time.Time, lag, conn *hdrhistogram.Histogram) *Report {
	r := &Report{
		Start: start, End: end,
		Sent:            g.c.sent.Load(),
		WriteFailed:     g.c.failed.Load(),
		AtRisk:          g.c.atRisk.Load(),
		Bytes:           g.c.bytes.Load(),
		ConnectAttempts: g.c.attempts.Load(),
		ConnectFailures: g.c.connFailures.Load(),
		Reconnects:      g.c.reconnects.Load(),
		Disconnects:     make(map[string]uint64, len(causes)),
		Conns:           g.cfg.Conns,
		Size:            g.cfg.Size,
		Format:          g.cfg.Format,
		Streams:         make([]StreamReport, len(g.streams)),
		ScheduleLag:     lag,
		ConnectLatency:  conn,
	}
	for i, c := range causes {
		r.Disconnects[c] = g.c.disconnects[i].Load()
	}
	if g.cfg.RELP {
		r.RELP = &RELPReport{Acked: g.c.relpAcked.Load(), Refused: g.c.relpRefused.Load(),
			Resent: g.c.relpResent.Load(), Unacked: g.c.relpUnacked.Load(), Window: g.cfg.RELPWindow}
	}
	for i := range g.streams {
		s := &g.streams[i]
		sr := StreamReport{ID: s.id, LastSeq: s.next, Failed: s.failed, AtRisk: s.atRisk, Sent: s.written,
			WriteFailed: s.failedN, AtRiskCount: s.atRiskN, Connects: s.connects, Attempts: s.attempts,
			ConnFails: s.connFails, RELPUnacked: s.relpUnacked, Resent: s.resent}
		for j, n := range s.disc {
			if n > 0 {
				if sr.Disconnects == nil {
					sr.Disconnects = map[string]uint64{}
				}
				sr.Disconnects[causes[j]] = n
			}
		}
		r.Streams[i] = sr
		r.Scheduled += s.next
	}
	el := end.Sub(start).Seconds()
	if el > 0 {
		r.AchievedRate = float64(r.Sent) / el
	}
	// The target is what the schedule called for over its own window: the
	// run's length, cut at Duration (a run may end a little later, while
	// its last writes complete).
	if window := min(end.Sub(start), g.durationOr(end.Sub(start))); g.pacer != nil && window > 0 {
		want := expected(g.pacer, window)
		if g.cfg.Count > 0 {
			want = min(want, float64(g.cfg.Count))
		}
		r.TargetRate = want / window.Seconds()
	}
	return r
}

func (g *Generator) durationOr(d time.Duration) time.Duration {
	if g.cfg.Duration > 0 {
		return g.cfg.Duration
	}
	return d
}

// histSummary is a histogram as the JSON report shows it: values in µs and
// the histogram itself, compressed and base64-encoded (HdrHistogram V2).
type histSummary struct {
	Count  int64            `json:"count"`
	Min    int64            `json:"min_us"`
	Max    int64            `json:"max_us"`
	Mean   float64          `json:"mean_us"`
	StdDev float64          `json:"stddev_us"`
	Pcts   map[string]int64 `json:"percentiles_us"`
	Hdr    string           `json:"hdr,omitempty"`
}

var summaryPcts = []float64{50, 75, 90, 99, 99.9, 99.99, 100}

func summarize(h *hdrhistogram.Histogram) *histSummary {
	if h == nil {
		return nil
	}
	s := &histSummary{Count: h.TotalCount(), Min: h.Min(), Max: h.Max(), Mean: h.Mean(), StdDev: h.StdDev(),
		Pcts: make(map[string]int64, len(summaryPcts))}
	for _, p := range summaryPcts {
		s.Pcts[fmt.Sprintf("p%g", p)] = h.ValueAtPercentile(p)
	}
	if b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase); err == nil {
		s.Hdr = string(b)
	}
	return s
}

// MarshalJSON writes the report with snake_case keys and each histogram as
// a summary plus its encoded form.
func (r *Report) MarshalJSON() ([]byte, error) {
	type plain struct {
		Start           time.Time         `json:"start"`
		End             time.Time         `json:"end"`
		DurationSec     float64           `json:"duration_s"`
		TargetRate      float64           `json:"target_rate"`
		AchievedRate    float64           `json:"achieved_rate"`
		Scheduled       uint64            `json:"scheduled"`
		Sent            uint64            `json:"sent"`
		WriteFailed     uint64            `json:"write_failed"`
		AtRisk          uint64            `json:"at_risk"`
		Bytes           uint64            `json:"bytes"`
		ConnectAttempts uint64            `json:"connect_attempts"`
		ConnectFailures uint64            `json:"connect_failures"`
		Reconnects      uint64            `json:"reconnects"`
		Disconnects     map[string]uint64 `json:"disconnects"`
		Conns           int               `json:"conns"`
		Size            int               `json:"size"`
		Format          string            `json:"format"`
		RELP            *RELPReport       `json:"relp,omitempty"`
		ScheduleLag     *histSummary      `json:"schedule_lag"`
		ConnectLatency  *histSummary      `json:"connect_latency"`
		Streams         []StreamReport    `json:"streams"`
	}
	return json.Marshal(plain{r.Start, r.End, r.End.Sub(r.Start).Seconds(), r.TargetRate, r.AchievedRate,
		r.Scheduled, r.Sent, r.WriteFailed, r.AtRisk, r.Bytes, r.ConnectAttempts, r.ConnectFailures,
		r.Reconnects, r.Disconnects, r.Conns, r.Size, r.Format, r.RELP, summarize(r.ScheduleLag),
		summarize(r.ConnectLatency), r.Streams})
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}

// WriteText writes the report for people.
func (r *Report) WriteText(w io.Writer) error {
	el := r.End.Sub(r.Start)
	var err error
	p := func(format string, a ...any) {
		if err == nil {
			_, err = fmt.Fprintf(w, format, a...)
		}
	}
	p("loadgen: %d conns, %s messages of %d bytes, %.3f s\n", r.Conns, r.Format, r.Size, el.Seconds())
	if r.TargetRate > 0 {
		p("  rate          %.1f msg/s achieved, %.1f msg/s target (%+.2f%%)\n", r.AchievedRate, r.TargetRate,
			100*(r.AchievedRate/r.TargetRate-1))
	} else {
		p("  rate          %.1f msg/s achieved (as fast as possible)\n", r.AchievedRate)
	}
	p("  scheduled     %d (seqs given out: sent + write failed)\n", r.Scheduled)
	p("  sent          %d messages, %d bytes (%.1f MB/s)\n", r.Sent, r.Bytes, float64(r.Bytes)/1e6/max(el.Seconds(), 1e-9))
	p("  write failed  %d (not sent)\n", r.WriteFailed)
	p("  at risk       %d (written, unacknowledged at a reset)\n", r.AtRisk)
	p("  connects      %d attempts, %d failed, %d reconnects\n", r.ConnectAttempts, r.ConnectFailures, r.Reconnects)
	if x := r.RELP; x != nil {
		p("  relp          %d acked, %d refused, %d resent, %d unacked at the end (window %d)\n",
			x.Acked, x.Refused, x.Resent, x.Unacked, x.Window)
	}
	p("  disconnects  ")
	for _, c := range causes {
		p(" %s %d", c, r.Disconnects[c])
	}
	p("\n")
	for _, h := range []struct {
		name string
		h    *hdrhistogram.Histogram
	}{{"schedule lag", r.ScheduleLag}, {"connect", r.ConnectLatency}} {
		if h.h == nil || h.h.TotalCount() == 0 {
			continue
		}
		p("  %-13s ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  (n=%d)\n", h.name,
			ms(h.h.ValueAtPercentile(50)), ms(h.h.ValueAtPercentile(90)), ms(h.h.ValueAtPercentile(99)),
			ms(h.h.ValueAtPercentile(99.9)), ms(h.h.Max()), h.h.TotalCount())
	}
	return err
}

func ms(us int64) float64 { return float64(us) / 1e3 }

// hgrmWriter writes h (µs) as an .hgrm file in milliseconds, as wrk2 does.
func hgrmWriter(h *hdrhistogram.Histogram) func(io.Writer) error {
	return func(w io.Writer) error {
		if h == nil {
			h = newHist()
		}
		return hgrm.Write(w, h, 1000)
	}
}
