package elasticsearch

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/logrelay/logrelay/internal/relay"
	"github.com/logrelay/logrelay/internal/sink/httpsink"
	"github.com/logrelay/logrelay/internal/wire"
)

// Sink delivers relay batches to a _bulk endpoint. It is a relay.Sink, a
// prometheus.Collector and a relay.HealthReporter.
type Sink struct {
	*httpsink.Core
	cfg Config
	run uint64 // this process's id for IDBatch
	ids bool
	m   *httpsink.Metrics
}

// New checks c and returns a sink. It opens the dead-letter file.
func New(c Config) (*Sink, error) {
	if err := httpsink.CheckURL(c.URL); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	switch c.IDs {
	case "", IDNone, IDBatch:
	default:
		return nil, fmt.Errorf("%w: id mode %q: want %s or %s", ErrConfig, c.IDs, IDNone, IDBatch)
	}
	u := *c.URL
	q := u.Query()
	if c.FilterPath && !q.Has("filter_path") {
		q.Set("filter_path", "errors,items.*.status,items.*.error")
	}
	u.RawQuery = q.Encode()
	core, err := httpsink.NewCore(httpsink.Config{
		Client: httpsink.Client{Headers: c.Headers, Gzip: c.Gzip, TLS: c.TLS, Credentials: c.Credentials,
			DeadLetter: c.DeadLetter, Concurrency: c.Concurrency, Logger: c.Logger},
		Scheme: "elasticsearch", Endpoint: &u, API: "_bulk",
		ContentType: wire.BulkContentType,
		Metrics:     httpsink.MetricsConfig{Prefix: "logrelay_bulk", API: "_bulk"},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return &Sink{Core: core, cfg: c, run: rand.Uint64(), ids: c.IDs == IDBatch, m: core.M}, nil
}

// Run delivers batches with Policy.Concurrency workers, each taking a
// batch, driving it to its outcome and settling it; see relay.Sink.
func (s *Sink) Run(ctx context.Context, f *relay.Feed) error {
	return s.RunWorkers(ctx, f, func(fh *httpsink.FeedHooks) httpsink.BatchWorker {
		return s.newWorker(feedHooks{fh}, f.Clock(), f.Logger(), f.Policy())
	})
}

// hooks are the relay's counters and backoff as a worker uses them, so
// tests can drive a worker without a relay.
type hooks interface {
	attempt()
	failed()
	backoff(failures int) time.Duration
}

// feedHooks are the hooks of a worker of Run.
type feedHooks struct{ fh *httpsink.FeedHooks }

func (h feedHooks) attempt()                    { h.fh.Attempt() }
func (h feedHooks) failed()                     { h.fh.Failed() }
func (h feedHooks) backoff(n int) time.Duration { return h.fh.Backoff(n) }

// worker is one request in flight at a time: the shared driver over this
// package's encoder and classification.
type worker struct {
	s      *Sink
	h      hooks
	policy relay.Policy
	d      *httpsink.Worker

	enc   *wire.BulkEncoder
	id    []byte
	msgs  [][]byte
	recvs []int64
	v     verdict
	items []httpsink.Item
}

func (s *Sink) newWorker(h hooks, clock relay.Clock, log *slog.Logger, p relay.Policy) *worker {
	w := &worker{s: s, h: h, policy: p, enc: wire.NewBulkEncoder(s.cfg.Format)}
	w.d = s.NewWorker(w, w, clock, log, &w.policy)
	return w
}

// The driver's hooks are the worker's, which tests may replace.
func (w *worker) Attempt()                    { w.h.attempt() }
func (w *worker) Failed()                     { w.h.failed() }
func (w *worker) Backoff(n int) time.Duration { return w.h.backoff(n) }

// DeliverBatch delivers b and returns its outcome, or ctx's error.
func (w *worker) DeliverBatch(ctx context.Context, b *relay.Batch) (relay.Outcome, error) {
	w.msgs, w.recvs = w.msgs[:0], w.recvs[:0]
	for _, m := range b.All() {
		w.msgs = append(w.msgs, m.Data)
		w.recvs = append(w.recvs, m.RecvNs)
	}
	return w.deliver(ctx, b.Header())
}

// deliver drives the documents in w.msgs (batch header bh) to their
// outcomes: every one delivered, a duplicate or rejected. It returns early
// only when ctx is done.
func (w *worker) deliver(ctx context.Context, bh wire.Header) (relay.Outcome, error) {
	return w.d.Deliver(ctx, bh, w.msgs, w.recvs)
}

// Encode appends the _bulk actions and documents of idx.
func (w *worker) Encode(dst []byte, bh wire.Header, msgs [][]byte, recvs []int64, idx []int32) []byte {
	before := w.enc.Replaced()
	for _, i := range idx {
		var id []byte
		if w.s.ids {
			w.id = wire.AppendBulkID(w.id[:0], w.s.run, bh.Seq, int(i))
			id = w.id
		}
		dst = w.enc.Append(dst, msgs[i], recvs[i], id)
	}
	w.s.m.Replaced.Add(w.enc.Replaced() - before)
	return dst
}

// indexNotFound is the item error of a document sent to an index that
// does not exist.
const indexNotFound = "index_not_found_exception"

// Classify reads a _bulk answer (see classify) as the driver's verdict.
func (w *worker) Classify(a httpsink.Answer, idx []int32) httpsink.Verdict {
	w.v = classify(a.Status, a.Header, a.Body, a.ReadErr, a.TransportErr, len(idx), a.Now)
	v := &w.v
	out := httpsink.Verdict{Act: v.act, Status: v.status, Reason: v.reason, RetryAfter: v.retryAfter,
		AllOK: v.allOK, MaybeStored: v.maybeStored, StoredBefore: v.storedBefore}
	if v.act == actItems && !v.allOK {
		w.items = w.items[:0]
		for k := range v.items {
			r := &v.items[k].Result
			it := httpsink.Item{Outcome: classifyItem(r.Status, w.s.ids), Status: r.Status}
			if r.Error != nil && r.Error.Type == indexNotFound {
				// the destination's refusal (Quickwit's _bulk answers a
				// missing index item by item), not the document's fault
				it.Outcome = httpsink.Retry
			}
			if it.Outcome == httpsink.Rejected || it.Outcome == httpsink.Retry {
				it.Reason = itemReason(r)
			}
			w.items = append(w.items, it)
		}
		out.Items = w.items
	}
	return out
}
