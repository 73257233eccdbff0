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
	"net/http/httptrace"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
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
	// batch bh. The body is dst's memory, never the engine's own buffer:
	// the transport may still be reading the last body (see Worker.wrote),
	// and only the worker knows when it may be reused.
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

	body []byte
	zbuf bytes.Buffer
	zw   *gzip.Writer
	resp []byte
	// req is the request template: method, URL, the fixed headers and
	// credentials set once; each request overwrites the batch headers,
	// the body and the context.
	req http.Request
	br  *bytes.Reader // reads the body being sent
	rc  io.ReadCloser // br, as the request's body
	// sent is the body being sent; getBody returns a new reader over it,
	// for the transport to send the request again on a new connection
	// when a reused one failed before anything was written.
	sent    []byte
	getBody func() (io.ReadCloser, error)
	// wrote is set (through trace) once the transport has written the
	// last request, body included, or given up writing it. Until then it
	// may still read the body and the headers, even after RoundTrip
	// returned (a server that answers before reading the request), so the
	// next request gets new buffers, reader and header map. Each set of
	// buffers has a flag and a trace of its own, so a late callback from
	// a request whose buffers were replaced cannot mark the new ones.
	wrote *atomic.Bool
	trace *httptrace.ClientTrace
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
	w.newReader()
	w.newTrace()
	w.getBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(w.sent)), nil }
	w.req = http.Request{Method: http.MethodPost, URL: k.url, Host: k.url.Host,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: make(http.Header, len(k.cfg.Headers)+8)}
	for name, vs := range k.cfg.Headers {
		w.req.Header[name] = vs
	}
	w.req.Header.Set("Content-Type", k.cfg.ContentType)
	if w.zw != nil {
		w.req.Header.Set("Content-Encoding", "gzip")
	}
	k.cfg.Credentials.Apply(w.req.Header)
	if u := k.url.User; u != nil && w.req.Header.Get("Authorization") == "" {
		// What http.Client does with credentials in the URL.
		pw, _ := u.Password()
		w.req.SetBasicAuth(u.Username(), pw)
	}
	return w
}

// newReader gives the worker a new body reader: a *bytes.Reader behind
// io.NopCloser, which the transport knows to be in memory, so it sends
// Content-Length and writes the headers and the body in one system call.
func (w *Worker) newReader() {
	w.br = &bytes.Reader{}
	w.rc = io.NopCloser(w.br)
}

// fresh gives the next request new buffers, reader and header map when
// the transport may still be reading the last request's.
func (w *Worker) fresh() {
	if w.wrote.Load() {
		return
	}
	w.body, w.zbuf = nil, bytes.Buffer{} // post resets w.zw onto the new zbuf
	w.newReader()
	w.req.Header = w.req.Header.Clone()
	w.newTrace()
}

// newTrace gives the worker's buffers a new written flag, set, and the
// trace that sets it.
func (w *Worker) newTrace() {
	f := new(atomic.Bool)
	f.Store(true)
	w.wrote = f
	w.trace = &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { f.Store(true) }}
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
	w.fresh()
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
	wire.SetBatchHeaders(w.req.Header, w.bh, len(idx))
	w.sent = body
	w.br.Reset(body)
	w.req.Body, w.req.ContentLength, w.req.GetBody = w.rc, int64(len(body)), w.getBody
	w.wrote.Store(false)
	req := w.req.WithContext(httptrace.WithClientTrace(actx, w.trace))

	w.h.Attempt()
	start := w.clock.Now()
	resp, err := k.rt.RoundTrip(req)
	k.M.SentBytes.Add(uint64(len(body)))
	if err != nil {
		if ctx.Err() != nil {
			return Verdict{}, ctx.Err()
		}
		k.M.Requests[0].Add(1)
		k.M.Latency.Observe(w.clock.Now().Sub(start).Seconds())
		return w.eng.Classify(Answer{TransportErr: redact(&url.Error{Op: "Post", URL: k.endpoint, Err: err}), Now: w.clock.Now()}, idx), nil
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

// redact drops the URL (and its query) from a transport error: the reason is
// logged and shown by /healthz.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", strings.ToLower(ue.Op), ue.Err)
	}
	return err
}
