package httpsink

import (
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Status classes, the "class" label: the HTTP status class of the answer
// (the item's own status for _bulk item outcomes), or "none" when no
// answer came (a timeout, a transport error).
var classes = [...]string{"none", "1xx", "2xx", "3xx", "4xx", "5xx"}

// ClassOf is the index in the class label of status.
func ClassOf(status int) int {
	if status < 100 || status > 599 {
		return 0
	}
	return status / 100
}

// Message outcomes, the "outcome" label; indexed by Outcome.
var outcomes = [...]string{"delivered", "duplicate", "retried", "rejected"}

// Causes of possible duplicates, the "cause" label.
var dupCauses = [...]string{"no_answer", "malformed_answer", "split_400"}

// Possible duplicate causes (indexes of Metrics.PossibleDups).
const (
	CauseNoAnswer = iota
	CauseMalformed
	CauseSplit400
)

// MetricsConfig names a sink's metrics.
type MetricsConfig struct {
	// Prefix starts every name: logrelay_bulk, logrelay_quickwit, ….
	Prefix string
	// API names the requests in help texts: "_bulk", "Quickwit ingest".
	API string
	// Unattributed adds PREFIX_unattributed_rejections_total, for an
	// engine whose answers may count rejections without naming them.
	Unattributed bool
}

// Metrics are an HTTP sink's counters, read at scrape time.
type Metrics struct {
	Requests         [len(classes)]atomic.Uint64
	Items            [len(classes)][len(outcomes)]atomic.Uint64
	BodyBytes        atomic.Uint64 // before gzip
	SentBytes        atomic.Uint64 // on the wire (after gzip when on)
	DeadLettered     atomic.Uint64
	DeadLetterFailed atomic.Uint64
	Replaced         atomic.Uint64 // messages with invalid UTF-8
	PossibleDups     [len(dupCauses)]atomic.Uint64
	Unattributed     atomic.Uint64
	Latency          prometheus.Histogram

	mu         sync.Mutex
	rejectedBy map[int]uint64 // permanent rejections by status

	unattributed                                                                       bool
	dRequests, dItems, dBody, dSent, dDead, dDeadFailed, dReplaced, dDups, dRejectedBy *prometheus.Desc
	dUp, dUnattributed                                                                 *prometheus.Desc
}

// NewMetrics returns the counters of a sink named by c.
func NewMetrics(c MetricsConfig) *Metrics {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(c.Prefix+"_"+name, help, labels, nil)
	}
	api := c.API
	m := &Metrics{
		Latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    c.Prefix + "_request_seconds",
			Help:    "Time from sending a " + api + " request to having read its whole answer (or failed).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		rejectedBy:   map[int]uint64{},
		unattributed: c.Unattributed,
		dRequests:    d("requests_total", api+" requests answered, by HTTP status class (none: timeout or transport error).", "class"),
		dItems:       d("items_total", "Documents by the status class that decided them and outcome (delivered, duplicate, retried, rejected).", "class", "outcome"),
		dBody:        d("body_bytes_total", api+" request body bytes before compression."),
		dSent:        d("sent_bytes_total", api+" request body bytes sent (after gzip when --sink-gzip is on)."),
		dDead:        d("dead_lettered_total", "Rejected documents written to --dead-letter."),
		dDeadFailed:  d("dead_letter_errors_total", "Rejected documents that could not be written to --dead-letter."),
		dReplaced:    d("invalid_utf8_total", "Messages whose invalid UTF-8 bytes were sent as U+FFFD."),
		dDups:        d("possible_duplicates_total", "Documents resent whole although the engine may have stored them, by cause (no_answer, malformed_answer, split_400).", "cause"),
		dRejectedBy:  d("rejected_total", "Documents rejected for good, by the HTTP status of the item or request that rejected them.", "status"),
		dUp:          d("destination_up", "1 while the destination takes data; 0 after consecutive whole-request failures or all-rejected answers (see /healthz)."),
	}
	if c.Unattributed {
		m.dUnattributed = d("unattributed_rejections_total", "Documents the engine's answer counted as rejected without naming which: counted as delivered, not dead-lettered.")
	}
	return m
}

// Item counts n messages decided by status with outcome o.
func (m *Metrics) Item(status int, o Outcome, n uint64) { m.Items[ClassOf(status)][o].Add(n) }

func (m *Metrics) rejected(status int) {
	m.mu.Lock()
	m.rejectedBy[status]++
	m.mu.Unlock()
}

// collect reports the metrics; up is destination_up.
func (m *Metrics) collect(ch chan<- prometheus.Metric, up bool) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for c, name := range classes {
		counter(m.dRequests, m.Requests[c].Load(), name)
		for o, out := range outcomes {
			counter(m.dItems, m.Items[c][o].Load(), name, out)
		}
	}
	counter(m.dBody, m.BodyBytes.Load())
	counter(m.dSent, m.SentBytes.Load())
	counter(m.dDead, m.DeadLettered.Load())
	counter(m.dDeadFailed, m.DeadLetterFailed.Load())
	counter(m.dReplaced, m.Replaced.Load())
	for c, name := range dupCauses {
		counter(m.dDups, m.PossibleDups[c].Load(), name)
	}
	if m.unattributed {
		counter(m.dUnattributed, m.Unattributed.Load())
	}
	m.mu.Lock()
	for st, n := range m.rejectedBy {
		counter(m.dRejectedBy, n, strconv.Itoa(st))
	}
	m.mu.Unlock()
	v := 1.0
	if !up {
		v = 0
	}
	ch <- prometheus.MustNewConstMetric(m.dUp, prometheus.GaugeValue, v)
	m.Latency.Collect(ch)
}
