package relay

import (
	"net/http"
	"net/http/pprof"

	"github.com/logrelay/logrelay/internal/wire"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// collector exposes the relay's atomic counters to Prometheus at scrape
// time, so the hot path never touches a Prometheus metric.
type collector struct {
	r                                             *Relay
	connsOpen, connsTotal, connsRejected          *prometheus.Desc
	received, delivered, rejected, bytes, pending *prometheus.Desc
	readsHeld, pendingBytes, lineTimeouts         *prometheus.Desc
	duplicates, sinkRejected                      *prometheus.Desc
	unreadConns, unreadBytes                      *prometheus.Desc
	batches, retries, sinkErrors                  *prometheus.Desc
	relpOpen, relpTotal, relpAnswers, relpWrites  *prometheus.Desc
	relpWindowFull, relpProtocolErrors            *prometheus.Desc
}

func newCollector(r *Relay) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &collector{
		r:                  r,
		connsOpen:          d("logrelay_connections_open", "Client connections open now."),
		connsTotal:         d("logrelay_connections_total", "Client connections accepted."),
		connsRejected:      d("logrelay_connections_rejected_total", "Client connections closed at once because --max-conns was reached."),
		received:           d("logrelay_messages_received_total", "Messages read from clients and handed to the batcher."),
		delivered:          d("logrelay_messages_delivered_total", "Messages acknowledged by the destination."),
		duplicates:         d("logrelay_messages_duplicate_total", "Delivered messages the destination reported it already had (counted in delivered too)."),
		sinkRejected:       d("logrelay_messages_sink_rejected_total", "Messages the destination refused for good; the sink dead-lettered or dropped them."),
		rejected:           d("logrelay_messages_rejected_total", "Lines dropped, by reason.", "reason"),
		bytes:              d("logrelay_bytes_received_total", "Bytes read from clients."),
		pending:            d("logrelay_pending_messages", "Messages held: batched or in flight, not yet acknowledged."),
		pendingBytes:       d("logrelay_pending_bytes", "Bytes of the messages held, newlines included."),
		readsHeld:          d("logrelay_reads_held", "Reads waiting, with their data, for room under --max-pending and --max-pending-bytes."),
		lineTimeouts:       d("logrelay_line_timeouts_total", "Client connections closed because a line did not end within --line-timeout."),
		unreadConns:        d("logrelay_shutdown_unread_connections_total", "Client connections closed at shutdown with bytes still unread in their socket."),
		unreadBytes:        d("logrelay_shutdown_unread_bytes_total", "Bytes clients sent that were still unread in their sockets at shutdown (never counted as received)."),
		batches:            d("logrelay_batches_flushed_total", "Batches flushed, by reason.", "reason"),
		retries:            d("logrelay_sink_retries_total", "Batch sends after the first (resends after a sink failure)."),
		sinkErrors:         d("logrelay_sink_errors_total", "Sink failures: connects, writes, nacks, timeouts, protocol errors."),
		relpOpen:           d("logrelay_relp_sessions_open", "RELP sessions open now."),
		relpTotal:          d("logrelay_relp_sessions_total", "RELP sessions accepted."),
		relpAnswers:        d("logrelay_relp_answers_total", "RELP commands answered, by code: 200 (delivered) or 500 (refused).", "code"),
		relpWrites:         d("logrelay_relp_answer_writes_total", "Writes of RELP answers; each carries every answer ready for its session."),
		relpWindowFull:     d("logrelay_relp_window_full_total", "Times a RELP session's reading paused because --relp-window answers were outstanding."),
		relpProtocolErrors: d("logrelay_relp_protocol_errors_total", "RELP sessions ended by a malformed frame or a misplaced command, and unknown commands answered 500."),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.r.st
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	ch <- prometheus.MustNewConstMetric(c.connsOpen, prometheus.GaugeValue, float64(st.connsOpen.Load()))
	counter(c.connsTotal, st.connsTotal.Load())
	counter(c.connsRejected, st.connsRejected.Load())
	counter(c.received, st.received.Load())
	counter(c.delivered, st.delivered.Load())
	counter(c.duplicates, st.duplicates.Load())
	counter(c.sinkRejected, st.sinkRejected.Load())
	for i, reason := range rejectReasons {
		counter(c.rejected, st.rejected[i].Load(), reason)
	}
	counter(c.bytes, st.bytes.Load())
	n, b := c.r.pending.counts()
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(c.pendingBytes, prometheus.GaugeValue, float64(b))
	ch <- prometheus.MustNewConstMetric(c.readsHeld, prometheus.GaugeValue, float64(st.readsHeld.Load()))
	counter(c.lineTimeouts, st.lineTimeouts.Load())
	counter(c.unreadConns, st.unreadConns.Load())
	counter(c.unreadBytes, st.unreadBytes.Load())
	for _, reason := range wire.Reasons {
		counter(c.batches, st.batches[reason].Load(), reason.String())
	}
	counter(c.retries, st.retries.Load())
	counter(c.sinkErrors, st.sinkErrors.Load())
	ch <- prometheus.MustNewConstMetric(c.relpOpen, prometheus.GaugeValue, float64(st.relpOpen.Load()))
	counter(c.relpTotal, st.relpTotal.Load())
	counter(c.relpAnswers, st.relpOK.Load(), "200")
	counter(c.relpAnswers, st.relpRefused.Load(), "500")
	counter(c.relpWrites, st.relpWrites.Load())
	counter(c.relpWindowFull, st.relpWindowFull.Load())
	counter(c.relpProtocolErrors, st.relpProtocolErrors.Load())
}

// newRegistry returns a private registry with the relay's metrics, the
// sink's own when it is a prometheus.Collector, and the Go and process
// collectors.
func newRegistry(r *Relay) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		newCollector(r),
		r.st.batchSize,
		r.st.sendSeconds,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	if c, ok := r.sink.(prometheus.Collector); ok {
		reg.MustRegister(c)
	}
	return reg
}

// AdminHandler returns the admin listener's handler: /metrics (Prometheus
// text format), /debug/pprof/ and /healthz (503 while stopping, or while a
// HealthReporter sink reports its destination failing). Serve it on
// loopback only.
func (r *Relay) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{Registry: r.reg}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if r.stopping.Load() {
			http.Error(w, "stopping", http.StatusServiceUnavailable)
			return
		}
		if h, ok := r.sink.(HealthReporter); ok {
			if err := h.Health(); err != nil {
				http.Error(w, "sink: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		w.Write([]byte("ok\n"))
	})
	return mux
}
