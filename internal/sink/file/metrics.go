package file

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Operations that fail, the "op" label of logrelay_file_errors_total.
var ops = [...]string{"open", "write", "fsync", "truncate", "rotate"}

const (
	opOpen = iota
	opWrite
	opFsync
	opTruncate
	opRotate
)

// Why the file was reopened, the "reason" label of
// logrelay_file_reopens_total.
var reopenReasons = [...]string{"signal", "path"}

const (
	reopenSignal = iota // Reopen (SIGHUP)
	reopenPath          // the path no longer names the open file
)

// metrics are the sink's counters, read at scrape time.
type metrics struct {
	bytes, fsyncs, rotations atomic.Uint64
	reopens                  [len(reopenReasons)]atomic.Uint64
	errors                   [len(ops)]atomic.Uint64
	size                     atomic.Int64
	fsyncSeconds             prometheus.Histogram

	dBytes, dFsyncs, dRotations, dReopens, dErrors, dSize *prometheus.Desc
}

func newMetrics() *metrics {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &metrics{
		fsyncSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "logrelay_file_fsync_seconds",
			Help:    "Time fsync of the file took after a batch's write (--file-fsync).",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 16),
		}),
		dBytes:     d("logrelay_file_bytes_written_total", "Bytes of acknowledged batches appended to the file (as written: lines or NDJSON)."),
		dFsyncs:    d("logrelay_file_fsyncs_total", "fsync calls on the file after a batch's write, failed ones included."),
		dRotations: d("logrelay_file_rotations_total", "Rotations: the file renamed to PATH.1 (--file-max-bytes) and a new one created."),
		dReopens:   d("logrelay_file_reopens_total", "Reopens of the path, by reason: signal (SIGHUP), path (the path no longer named the open file: moved, deleted, directory removed).", "reason"),
		dErrors:    d("logrelay_file_errors_total", "Failed file operations, each retried: open, write, fsync (file or directory), truncate (undoing a failed write), rotate.", "op"),
		dSize:      d("logrelay_file_size_bytes", "Size of the current file after the last batch."),
	}
}

// Describe and Collect make the Sink a prometheus.Collector.
func (s *Sink) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(s, ch) }

// Collect reports the sink's metrics.
func (s *Sink) Collect(ch chan<- prometheus.Metric) {
	m := s.m
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(m.dBytes, m.bytes.Load())
	counter(m.dFsyncs, m.fsyncs.Load())
	counter(m.dRotations, m.rotations.Load())
	for i, r := range reopenReasons {
		counter(m.dReopens, m.reopens[i].Load(), r)
	}
	for i, op := range ops {
		counter(m.dErrors, m.errors[i].Load(), op)
	}
	ch <- prometheus.MustNewConstMetric(m.dSize, prometheus.GaugeValue, float64(m.size.Load()))
	m.fsyncSeconds.Collect(ch)
}
