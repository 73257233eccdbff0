package sut

import (
	"fmt"
	"io"
	"math"
	"net/http"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads the relay's Prometheus /metrics.
func scrape(c *http.Client, admin string) (Stats, error) {
	resp, err := c.Get("http://" + admin + "/metrics")
	if err != nil {
		return Stats{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Stats{}, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return parseMetrics(resp.Body)
}

// parseMetrics extracts the relay's counters from the Prometheus text
// format. A metric the bench needs that is absent is an error.
func parseMetrics(r io.Reader) (Stats, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return Stats{}, fmt.Errorf("parse /metrics: %w", err)
	}
	var missing []string
	sum := func(name string) float64 {
		f, ok := fams[name]
		if !ok {
			missing = append(missing, name)
			return 0
		}
		var v float64
		for _, m := range f.GetMetric() {
			switch {
			case m.Counter != nil:
				v += m.GetCounter().GetValue()
			case m.Gauge != nil:
				v += m.GetGauge().GetValue()
			case m.Untyped != nil:
				v += m.GetUntyped().GetValue()
			}
		}
		return v
	}
	s := Stats{
		ConnsOpen:  int64(sum("logrelay_connections_open")),
		ConnsTotal: uint64(sum("logrelay_connections_total")),
		Received:   uint64(sum("logrelay_messages_received_total")),
		Delivered:  uint64(sum("logrelay_messages_delivered_total")),
		Rejected:   uint64(sum("logrelay_messages_rejected_total")),
		Pending:    int64(sum("logrelay_pending_messages")),
		Retries:    uint64(sum("logrelay_sink_retries_total")),
		SinkErrors: uint64(sum("logrelay_sink_errors_total")),
		Goroutines: int(sum("go_goroutines")),
		FDs:        int(sum("process_open_fds")),
		Batches:    map[string]uint64{},
	}
	if f, ok := fams["logrelay_batches_flushed_total"]; ok {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" {
					s.Batches[l.GetValue()] += uint64(m.GetCounter().GetValue())
				}
			}
		}
	} else {
		missing = append(missing, "logrelay_batches_flushed_total")
	}
	if f, ok := fams["logrelay_sink_send_seconds"]; ok && len(f.GetMetric()) > 0 {
		if h := f.GetMetric()[0].GetHistogram(); h != nil {
			for _, b := range h.GetBucket() {
				s.Send = append(s.Send, Bucket{Le: b.GetUpperBound(), Count: b.GetCumulativeCount()})
			}
			s.Send = append(s.Send, Bucket{Le: math.Inf(1), Count: h.GetSampleCount()})
		}
	}
	if len(missing) > 0 {
		return s, fmt.Errorf("/metrics lacks %v", missing)
	}
	return s, nil
}
