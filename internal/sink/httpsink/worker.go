package httpsink

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/logrelay/logrelay/internal/relay"
	"github.com/logrelay/logrelay/internal/sink/httpout"
	"github.com/logrelay/logrelay/internal/wire"
)

// Engine is one API's side of a worker: it encodes requests and reads
// their answers. Each worker has its own Engine, so it may keep buffers.
type Engine interface {
	// Encode appends to dst the body of a request of the messages idx
	// (indexes into msgs and recvs, the receive times in Unix ns) of the
	// batch bh.
	Encode(dst []byte, bh wire.Header, msgs [][]byte, recvs []int64, idx []int32) []byte
	// Classify reads the answer to the request Encode built last, of the
	// messages idx.
	Classify(a Answer, idx []int32) Verdict
}

// BatchEngine is an Engine that prepares per-batch state: Deliver calls
// Batch once per batch, before the batch's first Encode.
type BatchEngine interface {
	Engine
	Batch(bh wire.Header, msgs [][]byte, recvs []int64)
}

// Hooks are the relay's counters and backoff as a worker uses them, so
// tests can drive a worker without a relay.
type Hooks interface {
	Attempt()
	Failed()
	Backoff(failures int) time.Duration
}

// FeedHooks are the Hooks of a worker of Run: each request for batch B is
// an attempt of B (relay.Feed.Attempt).
type FeedHooks struct {
	F *relay.Feed
	B *relay.Batch
}

func (h *FeedHooks) Attempt()                    { h.F.Attempt(h.B) }
func (h *FeedHooks) Failed()                     { h.F.Failed() }
func (h *FeedHooks) Backoff(n int) time.Duration { return h.F.Backoff(n) }

// BatchWorker delivers one batch at a time.
type BatchWorker interface {
	// DeliverBatch drives b to its outcome; it returns an error only when
	// ctx is done.
	DeliverBatch(ctx context.Context, b *relay.Batch) (relay.Outcome, error)
}

// RunWorkers delivers batches with Policy.Concurrency workers made by
// newWorker (whose hooks name the batch being delivered), each taking a
// batch, driving it to its outcome and settling it; see relay.Sink.
func (k *Core) RunWorkers(ctx context.Context, f *relay.Feed, newWorker func(*FeedHooks) BatchWorker) error {
	var g errgroup.Group
	for range max(f.Policy().Concurrency, 1) {
		fh := &FeedHooks{F: f}
		w := newWorker(fh)
		g.Go(func() error {
			for {
				b, ok := f.Next(ctx)
				if !ok {
					return nil
				}
				fh.B = b
				o, err := w.DeliverBatch(ctx, b)
				if err != nil {
					return nil // hard stop: b stays unsettled
				}
				f.Settle(b, o)
			}
		})
	}
	g.Wait()
	k.client.CloseIdleConnections()
	return ctx.Err()
}

// Run delivers batches with workers over engines made by
// Config.NewEngine, each with its own copy of the relay's Policy; see
// relay.Sink.
func (k *Core) Run(ctx context.Context, f *relay.Feed) error {
	return k.RunWorkers(ctx, f, func(fh *FeedHooks) BatchWorker {
		p := f.Policy()
		return k.NewWorker(k.cfg.NewEngine(k), fh, f.Clock(), f.Logger(), &p)
	})
}

// Worker is one request in flight at a time. All its buffers are reused
// across batches.
type Worker struct {
	k      *Core
	eng    Engine
	h      Hooks
	clock  relay.Clock
	log    *slog.Logger
	policy *relay.Policy

	body  []byte
	zbuf  bytes.Buffer
	zw    *gzip.Writer
	resp  []byte
	timer relay.Timer

	// the batch being delivered
	bh    wire.Header
	msgs  [][]byte
	recvs []int64
	arena []int32 // message indexes; parts are ranges of it
	ready []part  // parts to send now (a stack: halves of a split)
	later []part  // parts to resend after a backoff
	dup   int
	rej   []int
}

// part is a set of the batch's messages sent as one request:
// arena[lo:hi], after failures consecutive failures.
type part struct {
	lo, hi     int
	failures   int
	retryAfter time.Duration
}

// NewWorker returns a worker sending eng's requests. It reads *policy at
// each request, so the caller may change it between batches.
func (k *Core) NewWorker(eng Engine, h Hooks, clock relay.Clock, log *slog.Logger, policy *relay.Policy) *Worker {
	w := &Worker{k: k, eng: eng, h: h, clock: clock, log: log, policy: policy}
	if k.cfg.Gzip {
		w.zw = gzip.NewWriter(&w.zbuf)
	}
	w.timer = clock.NewTimer(time.Hour)
	w.timer.Stop()
	return w
}

// DeliverBatch delivers b; see Deliver.
func (w *Worker) DeliverBatch(ctx context.Context, b *relay.Batch) (relay.Outcome, error) {
	msgs, recvs := w.msgs[:0], w.recvs[:0]
	for _, m := range b.All() {
		msgs = append(msgs, m.Data)
		recvs = append(recvs, m.RecvNs)
	}
	return w.Deliver(ctx, b.Header(), msgs, recvs)
}

// Deliver drives the messages msgs (received at recvs, Unix ns; of batch
// bh) to their outcomes: every one delivered, a duplicate or rejected. It
// returns early only when ctx is done. The outcome's Rejected is valid
// until the next call.
func (w *Worker) Deliver(ctx context.Context, bh wire.Header, msgs [][]byte, recvs []int64) (relay.Outcome, error) {
	w.bh, w.msgs, w.recvs = bh, msgs, recvs
	if be, ok := w.eng.(BatchEngine); ok {
		be.Batch(bh, msgs, recvs)
	}
	n := len(msgs)
	w.arena = w.arena[:0]
	for i := range n {
		w.arena = append(w.arena, int32(i))
	}
	w.ready = append(w.ready[:0], part{lo: 0, hi: n})
	w.later = w.later[:0]
	w.dup, w.rej = 0, w.rej[:0]
	for len(w.ready)+len(w.later) > 0 {
		var p part
		if k := len(w.ready); k > 0 {
			p, w.ready = w.ready[k-1], w.ready[:k-1]
		} else {
			p, w.later = w.later[0], w.later[1:]
			d := max(w.h.Backoff(p.failures), min(p.retryAfter, w.policy.RetryMax))
			if err := w.sleep(ctx, d); err != nil {
				return relay.Outcome{}, err
			}
		}
		if p.hi == p.lo {
			continue
		}
		if err := w.send(ctx, p); err != nil {
			return relay.Outcome{}, err
		}
	}
	slices.Sort(w.rej)
	return relay.Outcome{Duplicate: w.dup, Rejected: w.rej}, nil
}

func (w *Worker) sleep(ctx context.Context, d time.Duration) error {
	w.timer.Reset(d)
	select {
	case <-w.timer.C():
		return nil
	case <-ctx.Done():
		w.timer.Stop()
		return ctx.Err()
	}
}

// split pushes p's halves onto ready, the first half on top.
func (w *Worker) split(p part) {
	mid := p.lo + (p.hi-p.lo)/2
	w.ready = append(w.ready, part{lo: mid, hi: p.hi}, part{lo: p.lo, hi: mid})
}

// send sends part p as one request and files its messages by the answer.
func (w *Worker) send(ctx context.Context, p part) error {
	k, m := w.k, w.k.M
	idx := w.arena[p.lo:p.hi]
	w.body = w.eng.Encode(w.body[:0], w.bh, w.msgs, w.recvs, idx)
	if max := k.cfg.MaxBody; max > 0 && len(w.body) > max {
		if len(idx) > 1 {
			w.split(p)
			return nil
		}
		reason := fmt.Sprintf("document of %d bytes encoded exceeds the %d-byte body limit", len(w.body), max)
		w.reject(int(idx[0]), http.StatusRequestEntityTooLarge, reason)
		m.Item(http.StatusRequestEntityTooLarge, Rejected, 1)
		return nil
	}
	v, err := w.post(ctx, idx)
	if err != nil {
		return err
	}
	switch v.Act {
	case ActItems:
		w.fileItems(p, idx, v)
	case ActRetry, ActBlocked:
		w.h.Failed()
		k.noteFailure(v.Reason)
		m.Item(v.Status, Retry, uint64(len(idx)))
		if v.MaybeStored {
			cause := CauseNoAnswer
			if v.Status != 0 {
				cause = CauseMalformed
			}
			m.PossibleDups[cause].Add(uint64(len(idx)))
		}
		p.failures++
		p.retryAfter = v.RetryAfter
		lim, level, msg := k.retryLog, slog.LevelWarn, " request failed; will resend it after the backoff"
		if v.Act == ActBlocked {
			lim, level, msg = k.blockLog, slog.LevelError,
				" destination refuses every request (auth, index, URL?); holding the documents and retrying"
		}
		if ok, suppressed := lim.Allow(w.clock.Now()); ok {
			w.log.Log(ctx, level, k.cfg.API+msg, "sink", k.name, "status", v.Status, "reason", v.Reason,
				"documents", len(idx), "failures", p.failures, "suppressed", suppressed)
		}
		w.later = append(w.later, p)
	case ActSplit:
		w.h.Failed()
		if len(idx) == 1 {
			w.reject(int(idx[0]), v.Status, v.Reason)
			m.Item(v.Status, Rejected, 1)
			k.noteFailure(v.Reason)
			return nil
		}
		if v.MaybeStored {
			// Resending stores again what the engine already stored: its
			// count when it says (VictoriaLogs), else at most all of them.
			stored := len(idx)
			if v.StoredBefore >= 0 {
				stored = v.StoredBefore
			}
			m.PossibleDups[CauseSplit400].Add(uint64(stored))
		}
		m.Item(v.Status, Retry, uint64(len(idx)))
		w.split(p)
	}
	return nil
}

// fileItems files each message of an answered request.
func (w *Worker) fileItems(p part, idx []int32, v Verdict) {
	k, m := w.k, w.k.M
	if v.AllOK {
		m.Item(v.Status, Delivered, uint64(len(idx)))
		k.failing.Store(0)
		return
	}
	start := len(w.arena)
	delivered := 0
	retryReason := ""
	for j, it := range v.Items {
		i := int(idx[j])
		switch it.Outcome {
		case Delivered:
			delivered++
		case Duplicate:
			delivered++
			w.dup++
		case Retry:
			w.arena = append(w.arena, int32(i))
			if retryReason == "" {
				retryReason = it.Reason
			}
		case Rejected:
			w.reject(i, it.Status, it.Reason)
		}
		m.Item(it.Status, it.Outcome, 1)
	}
	if delivered > 0 {
		k.failing.Store(0)
	} else {
		k.noteFailure(fmt.Sprintf("HTTP %d, no document of %d stored", v.Status, len(idx)))
	}
	if len(w.arena) > start {
		w.h.Failed()
		failures := 1
		if len(w.arena)-start == len(idx) { // no progress
			failures = p.failures + 1
		}
		w.later = append(w.later, part{lo: start, hi: len(w.arena), failures: failures, retryAfter: v.RetryAfter})
		if ok, suppressed := k.retryLog.Allow(w.clock.Now()); ok {
			w.log.Warn(k.cfg.API+" documents refused for now (429, 5xx, a missing index); resending them alone after the backoff", "sink", k.name,
				"documents", len(w.arena)-start, "of", len(idx), "reason", retryReason, "suppressed", suppressed)
		}
	}
}

// reject files message i as rejected for good: counted, logged
// (rate-limited) and dead-lettered.
func (w *Worker) reject(i, status int, reason string) {
	k := w.k
	w.rej = append(w.rej, i)
	k.M.rejected(status)
	if ok, suppressed := k.rejLog.Allow(w.clock.Now()); ok {
		w.log.Warn(k.cfg.API+" document rejected", "sink", k.name, "status", status, "reason", reason,
			"batch", w.bh.Seq, "position", i, "dead_letter", k.cfg.DeadLetter, "suppressed", suppressed)
	}
	if k.dead != nil {
		if err := k.dead.Write(w.clock.Now(), status, reason, w.msgs[i]); err != nil {
			k.M.DeadLetterFailed.Add(1)
			w.log.Error("dead-letter write failed", "error", err)
			return
		}
		k.M.DeadLettered.Add(1)
	}
}

// post sends the body w.body (of the messages idx) as one request and
// classifies the answer. It returns an error only when ctx is done.
func (w *Worker) post(ctx context.Context, idx []int32) (Verdict, error) {
	k := w.k
	body := w.body
	if w.zw != nil {
		w.zbuf.Reset()
		w.zw.Reset(&w.zbuf)
		w.zw.Write(body)
		w.zw.Close()
		body = w.zbuf.Bytes()
	}
	k.M.BodyBytes.Add(uint64(len(w.body)))

	actx, cancel := context.WithTimeout(ctx, w.policy.SendTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, k.endpoint, bytes.NewReader(body))
	if err != nil {
		return Verdict{}, fmt.Errorf("build %s request: %w", k.cfg.API, err) // cannot happen: the URL was checked
	}
	for name, vs := range k.cfg.Headers {
		req.Header[name] = vs
	}
	req.Header.Set("Content-Type", k.cfg.ContentType)
	if w.zw != nil {
		req.Header.Set("Content-Encoding", "gzip")
	}
	k.cfg.Credentials.Apply(req.Header)
	wire.SetBatchHeaders(req.Header, w.bh, len(idx))

	w.h.Attempt()
	start := w.clock.Now()
	resp, err := k.client.Do(req)
	k.M.SentBytes.Add(uint64(len(body)))
	if err != nil {
		if ctx.Err() != nil {
			return Verdict{}, ctx.Err()
		}
		k.M.Requests[0].Add(1)
		k.M.Latency.Observe(w.clock.Now().Sub(start).Seconds())
		return w.eng.Classify(Answer{TransportErr: redact(err), Now: w.clock.Now()}, idx), nil
	}
	limit := int64(4096 + 1024*len(idx))
	if k.cfg.ResponseLimit != nil {
		limit = k.cfg.ResponseLimit(len(idx), len(w.body))
	}
	w.resp, err = httpout.ReadBounded(resp.Body, w.resp, limit)
	if err != nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused if it is short
	}
	resp.Body.Close()
	if err != nil && ctx.Err() != nil {
		return Verdict{}, ctx.Err()
	}
	k.M.Latency.Observe(w.clock.Now().Sub(start).Seconds())
	k.M.Requests[ClassOf(resp.StatusCode)].Add(1)
	return w.eng.Classify(Answer{Status: resp.StatusCode, Header: resp.Header, Body: w.resp, ReadErr: err, Now: w.clock.Now()}, idx), nil
}

// redact drops the URL (and its query) from a client error: the reason is
// logged and shown by /healthz.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", strings.ToLower(ue.Op), ue.Err)
	}
	return err
}
