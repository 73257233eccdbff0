package elasticsearch

import (
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Status classes, the "class" label: the HTTP status class of the answer
// (the item's own status for item outcomes), or "none" when no answer came
// (a timeout, a transport error).
var classes = [...]string{"none", "1xx", "2xx", "3xx", "4xx", "5xx"}

func classOf(status int) int {
	if status < 100 || status > 599 {
		return 0
	}
	return status / 100
}

// Item outcomes, the "outcome" label.
var outcomes = [...]string{"delivered", "duplicate", "retried", "rejected"}

const (
	outDelivered = iota
	outDuplicate
	outRetried
	outRejected
)

// Causes of possible duplicates, the "cause" label.
var dupCauses = [...]string{"no_answer", "malformed_answer", "split_400"}

const (
	causeNoAnswer = iota
	causeMalformed
	causeSplit400
)

// metrics are the sink's counters, read at scrape time.
type metrics struct {
	requests         [len(classes)]atomic.Uint64
	items            [len(classes)][len(outcomes)]atomic.Uint64
	bodyBytes        atomic.Uint64 // before gzip
	sentBytes        atomic.Uint64 // on the wire (after gzip when on)
	deadLettered     atomic.Uint64
	deadLetterFailed atomic.Uint64
	replaced         atomic.Uint64
	possibleDups     [len(dupCauses)]atomic.Uint64
	latency          prometheus.Histogram

	mu         sync.Mutex
	rejectedBy map[int]uint64 // permanent rejections by status

	dRequests, dItems, dBody, dSent, dDead, dDeadFailed, dReplaced, dDups, dRejectedBy, dUp *prometheus.Desc
}

func newMetrics() *metrics {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &metrics{
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "logrelay_bulk_request_seconds",
			Help:    "Time from sending a _bulk request to having read its whole answer (or failed).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		rejectedBy:  map[int]uint64{},
		dRequests:   d("logrelay_bulk_requests_total", "_bulk requests answered, by HTTP status class (none: timeout or transport error).", "class"),
		dItems:      d("logrelay_bulk_items_total", "Documents by the status class that decided them and outcome (delivered, duplicate, retried, rejected).", "class", "outcome"),
		dBody:       d("logrelay_bulk_body_bytes_total", "_bulk request body bytes before compression."),
		dSent:       d("logrelay_bulk_sent_bytes_total", "_bulk request body bytes sent (after gzip when --sink-gzip is on)."),
		dDead:       d("logrelay_bulk_dead_lettered_total", "Rejected documents written to --dead-letter."),
		dDeadFailed: d("logrelay_bulk_dead_letter_errors_total", "Rejected documents that could not be written to --dead-letter."),
		dReplaced:   d("logrelay_bulk_invalid_utf8_total", "Messages whose invalid UTF-8 bytes were sent as U+FFFD."),
		dDups:       d("logrelay_bulk_possible_duplicates_total", "Documents resent whole although the engine may have stored them, by cause (no_answer, malformed_answer, split_400).", "cause"),
		dRejectedBy: d("logrelay_bulk_rejected_total", "Documents rejected for good, by the HTTP status of the item or request that rejected them.", "status"),
		dUp:         d("logrelay_bulk_destination_up", "1 while the destination takes data; 0 after consecutive whole-request failures or all-rejected answers (see /healthz)."),
	}
}

func (m *metrics) item(status, outcome int, n uint64) { m.items[classOf(status)][outcome].Add(n) }

func (m *metrics) rejected(status int) {
	m.mu.Lock()
	m.rejectedBy[status]++
	m.mu.Unlock()
}

// Describe and Collect make the Sink a prometheus.Collector.
func (s *Sink) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(s, ch) }

// Collect reports the sink's metrics.
func (s *Sink) Collect(ch chan<- prometheus.Metric) {
	m := s.m
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for c, name := range classes {
		counter(m.dRequests, m.requests[c].Load(), name)
		for o, out := range outcomes {
			counter(m.dItems, m.items[c][o].Load(), name, out)
		}
	}
	counter(m.dBody, m.bodyBytes.Load())
	counter(m.dSent, m.sentBytes.Load())
	counter(m.dDead, m.deadLettered.Load())
	counter(m.dDeadFailed, m.deadLetterFailed.Load())
	counter(m.dReplaced, m.replaced.Load())
	for c, name := range dupCauses {
		counter(m.dDups, m.possibleDups[c].Load(), name)
	}
	m.mu.Lock()
	for st, n := range m.rejectedBy {
		counter(m.dRejectedBy, n, strconv.Itoa(st))
	}
	m.mu.Unlock()
	up := 1.0
	if s.Health() != nil {
		up = 0
	}
	ch <- prometheus.MustNewConstMetric(m.dUp, prometheus.GaugeValue, up)
	m.latency.Collect(ch)
}
