// Package report holds what a bench run measured and decided — the
// verdict rules, each scenario's observations, the throughput steps and the
// regression gate — and writes it as a table on a terminal, GitHub step
// summary Markdown, report.json, report.md, and report.html, a
// self-contained page with plots.
package report

import (
	"time"

	"github.com/logrelay/logrelay/internal/bench/procstat"
	"github.com/logrelay/logrelay/internal/bench/stats"
	"github.com/logrelay/logrelay/internal/mockdest"
	"github.com/logrelay/logrelay/internal/wire"
)

// Rule is one checked rule of a scenario: what was expected, what was
// measured, and the verdict. A rule whose measurement is missing fails.
type Rule struct {
	Scenario string `json:"scenario"`
	Rule     string `json:"rule"`
	Expected string `json:"expected"`
	Measured string `json:"measured"`
	Pass     bool   `json:"pass"`
	// Skipped marks a rule that could not be judged in this setup (its
	// scenario was not applicable, e.g. an engine not installed); it
	// counts as passed and says SKIP.
	Skipped bool   `json:"skipped,omitempty"`
	Note    string `json:"note,omitempty"`
}

// Verdict returns "PASS", "FAIL" or "SKIP".
func (r Rule) Verdict() string {
	if r.Skipped {
		return "SKIP"
	}
	if r.Pass {
		return "PASS"
	}
	return "FAIL"
}

// Param is one named parameter of a scenario run, in display order.
type Param struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Event marks a moment of a scenario on the throughput plot (a chaos
// phase, an outage, a shutdown signal).
type Event struct {
	At    time.Time `json:"at"`
	Label string    `json:"label"`
}

// RatePoint is one sample of the live send rate, taken by the bench.
type RatePoint struct {
	At   time.Time `json:"at"`
	Sent uint64    `json:"sent"` // messages loadgen had written so far
}

// Scenario is one scenario's run: parameters, observations and rules.
type Scenario struct {
	Name            string      `json:"name"`
	Description     string      `json:"description"`
	Params          []Param     `json:"params"`
	ExpectedSeconds float64     `json:"expected_seconds"`
	Start           time.Time   `json:"start"`
	End             time.Time   `json:"end"`
	Error           string      `json:"error,omitempty"` // why the scenario could not run to its end
	Rules           []Rule      `json:"rules"`
	Notes           []string    `json:"notes,omitempty"`
	Events          []Event     `json:"events,omitempty"`
	SendRate        []RatePoint `json:"send_rate,omitempty"`
	Files           []string    `json:"files,omitempty"`    // written next to the report, relative paths
	Relays          []string    `json:"relays,omitempty"`   // kinds of relay started, in order: "in-process", "process", "external"
	DestDir         string      `json:"dest_dir,omitempty"` // where mockdest itself wrote Obs.Dest's files (relative); "" = WriteDir writes them to NAME/
	Obs             Observation `json:"observation"`
}

// Seconds returns the scenario's wall time.
func (s *Scenario) Seconds() float64 { return s.End.Sub(s.Start).Seconds() }

// Passed reports whether the scenario has rules and all passed.
func (s *Scenario) Passed() bool {
	if len(s.Rules) == 0 {
		return false
	}
	for _, r := range s.Rules {
		if !r.Pass {
			return false
		}
	}
	return true
}

// Observation is everything recorded about one scenario run. A nil field
// means the measurement is missing, and every rule needing it fails.
type Observation struct {
	BatchSize     int           `json:"batch_size"`
	FlushInterval time.Duration `json:"flush_interval_ns"`
	AgeTolerance  time.Duration `json:"age_tolerance_ns"`

	Dest       *mockdest.Snapshot `json:"dest,omitempty"`       // what arrived at mockdest
	Load       *Load              `json:"load,omitempty"`       // what loadgen sent
	Delivery   *Delivery          `json:"delivery,omitempty"`   // sent vs arrived, stream by stream
	Relay      *Relay             `json:"relay,omitempty"`      // the relay's own counters
	Proc       *procstat.Summary  `json:"process,omitempty"`    // the relay's process (or the bench's, in-process)
	Leak       *Leak              `json:"leak,omitempty"`       // goroutines and fds before and after
	Shutdown   *Shutdown          `json:"shutdown,omitempty"`   // shutdown round 1: the relay as the suite runs it (in-process: ctx cancelled; as a process: SIGTERM)
	Signal     *Shutdown          `json:"signal,omitempty"`     // shutdown round 2: a relay process, SIGTERM
	Alive      *Alive             `json:"alive,omitempty"`      // probe after the chaos
	Throughput *Throughput        `json:"throughput,omitempty"` // throughput steps
	Overload   *Overload          `json:"overload,omitempty"`   // overload: fairness and quiet latency
	Compare    *Compare           `json:"compare,omitempty"`    // the victorialogs scenario: relay vs the ideal client
	Restarts   *Restarts          `json:"restarts,omitempty"`   // relp-restart: the relay killed and restarted under load
	Resends    *Resends           `json:"resends,omitempty"`    // RELP: duplicates at mockdest against loadgen's resends
}

// Restarts are the faults of a relay-restart scenario, in order.
type Restarts struct {
	Faults []Fault `json:"faults"`
}

// Fault is one stop of the relay under load and its recovery. Every time
// counts from the signal.
type Fault struct {
	Signal string    `json:"signal"` // "SIGKILL" or "SIGTERM"
	At     time.Time `json:"at"`
	// InFlight is what loadgen had sent and not had answered once the old
	// process was gone: the messages that may be resent, so the bound on
	// the duplicates this fault may cause.
	InFlight uint64 `json:"in_flight"`
	// SentAt is what loadgen had sent when the old process was gone.
	SentAt uint64 `json:"sent_at"`
	// Exit is how long the old process took to exit.
	Exit time.Duration `json:"exit_ns"`
	// Up is when the new process accepted connections on the same ports.
	Up time.Duration `json:"up_ns"`
	// FirstDelivery is when the first batch the new process sent arrived
	// at mockdest (seen as a sender restart: its seq 1 again); Cleared
	// when every loadgen stream had each message it had written before
	// the old process was gone answered (its backlog resent and
	// acknowledged). 0 = not seen before the next fault or the end of the
	// load.
	FirstDelivery time.Duration `json:"first_delivery_ns"`
	Cleared       time.Duration `json:"cleared_ns"`
	Err           string        `json:"error,omitempty"`
}

// Resends compares the duplicates at mockdest with what loadgen resent:
// a duplicate of a seq loadgen resent is explained by the resend; any
// other is unexplained.
type Resends struct {
	Resent      uint64 `json:"resent"`      // seqs in loadgen's resent ranges
	Duplicated  uint64 `json:"duplicated"`  // seqs that arrived more than once
	Explained   uint64 `json:"explained"`   // of those, in their stream's resent ranges
	Unexplained uint64 `json:"unexplained"` // the others, plus duplicates mockdest could not track
	Examples    []Gap  `json:"examples,omitempty"`
}

// Load is loadgen's account of what it sent.
type Load struct {
	TargetRate      float64           `json:"target_rate"`
	AchievedRate    float64           `json:"achieved_rate"`
	Seconds         float64           `json:"seconds"`
	Conns           int               `json:"conns"`
	Sent            uint64            `json:"sent"`
	WriteFailed     uint64            `json:"write_failed"`
	AtRisk          uint64            `json:"at_risk"`
	ConnectAttempts uint64            `json:"connect_attempts"`
	ConnectFailures uint64            `json:"connect_failures"`
	Disconnects     map[string]uint64 `json:"disconnects,omitempty"`
	ScheduleLagP99  time.Duration     `json:"schedule_lag_p99_ns"`
	ScheduleLagMax  time.Duration     `json:"schedule_lag_max_ns"`
	RELP            *RELPLoad         `json:"relp,omitempty"` // loadgen --relp only
}

// RELPLoad is what the relay answered a RELP load.
type RELPLoad struct {
	Acked   uint64 `json:"acked"`   // messages answered 200
	Refused uint64 `json:"refused"` // messages answered 500
	Resent  uint64 `json:"resent"`  // resends after reconnects
	Unacked uint64 `json:"unacked"` // unanswered at the end
	Window  int    `json:"window"`  // messages outstanding per connection, at most
}

// Gap is a range of a stream's sequence numbers.
type Gap struct {
	Stream uint32 `json:"stream"`
	wire.SeqRange
}

// Delivery compares, stream by stream, what loadgen sent with what arrived:
// every seq in [1, LastSeq] not in Failed ∪ AtRisk must have arrived.
type Delivery struct {
	Streams    int    `json:"streams"`
	MustArrive uint64 `json:"must_arrive"` // seqs that loadgen sent safely
	Excused    uint64 `json:"excused"`     // seqs in Failed ∪ AtRisk (write failed, or in flight at an abort)
	Lost       uint64 `json:"lost"`        // seqs that must have arrived and did not
	Examples   []Gap  `json:"examples,omitempty"`
}

// Relay is the relay's own account, from relay.Stats in-process or its
// /metrics otherwise.
type Relay struct {
	Source      string            `json:"source"` // "in-process, relay.Stats", "process, /metrics before its shutdown" or "external, /metrics"
	Received    uint64            `json:"received"`
	Delivered   uint64            `json:"delivered"`
	Rejected    uint64            `json:"rejected"`
	Retries     uint64            `json:"retries"`
	SinkErrors  uint64            `json:"sink_errors"`
	Batches     map[string]uint64 `json:"batches,omitempty"`
	ConnsTotal  uint64            `json:"conns_total"`
	ConnsPeak   int64             `json:"conns_peak"`   // most connections open at one sample
	ConnsEnd    int64             `json:"conns_end"`    // connections open at the end
	PendingPeak int64             `json:"pending_peak"` // most messages pending at one sample
	MaxPending  int               `json:"max_pending"`  // the configured limit
	Samples     int               `json:"samples"`      // how many times it was polled
}

// Leak compares the relay's goroutines and file descriptors before the
// load and after it ended.
type Leak struct {
	GoroutinesBefore int    `json:"goroutines_before"`
	GoroutinesAfter  int    `json:"goroutines_after"`
	FDsBefore        int    `json:"fds_before"`
	FDsAfter         int    `json:"fds_after"`
	Slack            int    `json:"slack"` // allowed excess
	Source           string `json:"source"`
}

// How a shutdown round stopped its relay (Shutdown.Mode).
const (
	ModeCancel  = "in-process, context cancelled"
	ModeSIGTERM = "process, SIGTERM"
)

// Shutdown is the outcome of one round of graceful shutdown under load.
type Shutdown struct {
	Round     int           `json:"round"` // 1 or 2
	Mode      string        `json:"mode"`  // ModeCancel or ModeSIGTERM
	Dir       string        `json:"dir"`   // the round's loadgen/ and mockdest/ files, relative to the run directory
	Exited    bool          `json:"exited"`
	ExitCode  int           `json:"exit_code"`
	Err       string        `json:"error,omitempty"`
	Took      time.Duration `json:"took_ns"`
	Received  uint64        `json:"received"`   // messages the relay read (its own count)
	Counted   bool          `json:"counted"`    // Received is known
	Arrived   uint64        `json:"arrived"`    // distinct stamped messages at mockdest
	PrefixGap uint64        `json:"prefix_gap"` // seqs missing below a stream's highest arrival
	Batches   uint64        `json:"shutdown_batches"`
	// Dest is the round's mockdest record, for the batch rules; it is
	// kept in the round's own files, not repeated in report.json.
	Dest *mockdest.Snapshot `json:"-"`
}

// Alive is a probe sent to the relay after a disruptive phase.
type Alive struct {
	Sent    int    `json:"sent"`
	Early   int    `json:"early"`   // arrived within 5 s (a full batch proves the relay relays)
	Arrived int    `json:"arrived"` // arrived by the end of the scenario
	Err     string `json:"error,omitempty"`
}

// Step is one throughput measurement of one relay (or of the bare pipe).
type Step struct {
	Name       string  `json:"name"`
	TargetRate float64 `json:"target_rate"` // 0 = as fast as possible
	Conns      int     `json:"conns"`
	Size       int     `json:"size"`
	Seconds    float64 `json:"seconds"`
	Sent       uint64  `json:"sent"`
	Arrived    uint64  `json:"arrived"`
	Bytes      uint64  `json:"bytes"`
	MsgsPerSec float64 `json:"msgs_per_sec"` // arrivals per second
	MiBPerSec  float64 `json:"mib_per_sec"`
	SendRate   float64 `json:"send_rate"` // loadgen's achieved rate
	// SteadyRate is the mean arrival rate over the step's whole seconds
	// but the first and the last (the pipeline filling and draining).
	SteadyRate float64 `json:"steady_rate"`
	CPUSeconds float64 `json:"cpu_seconds"`
	PeakRSS    uint64  `json:"peak_rss_bytes"`
	Lost       uint64  `json:"lost"`
	Err        string  `json:"error,omitempty"`
}

// Throughput is the throughput scenario's measurements.
type Throughput struct {
	Replicates  []Step  `json:"replicates"`         // the relay at full speed, repeated
	Profiled    *Step   `json:"profiled,omitempty"` // one more, profiled (--profile): slowed, so not in RelayMedian or the gate
	Pipe        *Step   `json:"pipe,omitempty"`
	Sustained   *Step   `json:"sustained,omitempty"` // open-loop check below the saturation rate
	NotHeld     []Step  `json:"not_held,omitempty"`  // higher open-loop rates tried first that did not hold
	Peers       []Step  `json:"peers,omitempty"`     // other relays (compare-relays.sh)
	RelayMedian float64 `json:"relay_median_msgs_per_sec"`
	PipeRate    float64 `json:"pipe_msgs_per_sec"`
	Ratio       float64 `json:"ratio_to_pipe"`
}

// Rates returns the replicates' messages per second (the profiled run is
// not a replicate).
func (t *Throughput) Rates() []float64 {
	r := make([]float64, 0, len(t.Replicates))
	for _, s := range t.Replicates {
		if s.Err == "" && s.MsgsPerSec > 0 {
			r = append(r, s.MsgsPerSec)
		}
	}
	return r
}

// Regression is the --baseline gate's result.
type Regression struct {
	Baseline  string     `json:"baseline"`
	Before    []float64  `json:"before"` // baseline replicates, msgs/s
	After     []float64  `json:"after"`  // this run's replicates
	Gate      stats.Gate `json:"gate"`
	Err       string     `json:"error,omitempty"`
	Alpha     float64    `json:"alpha"`
	MinEffect float64    `json:"min_effect"`
}

// Profile is a saved relay profile.
type Profile struct {
	Kind    string `json:"kind"`
	Path    string `json:"path"`
	Command string `json:"command"`
}

// Host describes the machine that ran the suite.
type Host struct {
	Hostname  string `json:"hostname"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	CPUs      int    `json:"cpus"`
}

// Suite is a whole bench run.
type Suite struct {
	Command []string  `json:"command"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Quick   bool      `json:"quick"`
	Host    Host      `json:"host"`
	// RelayMode says how the scenarios ran their relays: "external
	// (ADDR)", "in-process (every scenario)", "process (every scenario)",
	// "in-process: NAMES; process: NAMES", or "none started".
	RelayMode string `json:"relay_mode"`
	// Sink is the relay's sink in every scenario and where it delivers,
	// e.g. "tcp (mockdest frames)"; "" = not recorded.
	Sink          string        `json:"sink,omitempty"`
	BatchSize     int           `json:"batch_size"`
	FlushInterval time.Duration `json:"flush_interval_ns"`
	AgeTolerance  time.Duration `json:"age_tolerance_ns"`
	Scenarios     []*Scenario   `json:"scenarios"`
	Regression    *Regression   `json:"regression,omitempty"`
	Profiles      []Profile     `json:"profiles,omitempty"`
	Dir           string        `json:"-"`
}

// Rules returns every rule of every scenario, in order (the regression
// gate's rule is one of the throughput scenario's).
func (s *Suite) Rules() []Rule {
	var rs []Rule
	for _, sc := range s.Scenarios {
		rs = append(rs, sc.Rules...)
	}
	return rs
}

// Passed reports whether the suite has rules and every one passed.
func (s *Suite) Passed() bool {
	rs := s.Rules()
	if len(rs) == 0 {
		return false
	}
	for _, r := range rs {
		if !r.Pass {
			return false
		}
	}
	return true
}

// Failed returns the rules that failed.
func (s *Suite) Failed() []Rule {
	var rs []Rule
	for _, r := range s.Rules() {
		if !r.Pass {
			rs = append(rs, r)
		}
	}
	return rs
}
