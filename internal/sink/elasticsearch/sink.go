package elasticsearch

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/logrelay/logrelay/internal/relay"
	"github.com/logrelay/logrelay/internal/sink/httpout"
	"github.com/logrelay/logrelay/internal/wire"
)

// unhealthyAfter is how many consecutive failed requests (whole-request
// failures, or answers rejecting every document) make Health report the
// destination failing; any request that delivers a document resets it.
const unhealthyAfter = 3

// Sink delivers relay batches to a _bulk endpoint. It is a relay.Sink, a
// prometheus.Collector and a relay.HealthReporter.
type Sink struct {
	cfg      Config
	endpoint string   // URL with the query, filter_path added
	url      *url.URL // endpoint, parsed
	name     string   // for logs: the URL without its query
	client   *http.Client
	rt       http.RoundTripper // client's transport: requests go to it directly
	dead     *httpout.DeadLetter
	run      uint64 // this process's id for IDBatch
	ids      bool
	m        *metrics

	failing  atomic.Int64 // consecutive failed requests
	lastMu   sync.Mutex
	lastErr  string // the last failure, for Health
	rejLog   *httpout.Limiter
	blockLog *httpout.Limiter
	retryLog *httpout.Limiter
}

// New checks c and returns a sink. It opens the dead-letter file.
func New(c Config) (*Sink, error) {
	if c.URL == nil || (c.URL.Scheme != "http" && c.URL.Scheme != "https") || c.URL.Host == "" {
		return nil, fmt.Errorf("%w: URL: want http(s)://HOST:PORT/PATH", ErrConfig)
	}
	switch c.IDs {
	case "", IDNone, IDBatch:
	default:
		return nil, fmt.Errorf("%w: id mode %q: want %s or %s", ErrConfig, c.IDs, IDNone, IDBatch)
	}
	for name := range c.Headers {
		switch name {
		case "Authorization", "Proxy-Authorization", "Content-Type", "Content-Encoding", "Content-Length", "Host":
			return nil, fmt.Errorf("%w: header %s cannot be set", ErrConfig, name)
		}
	}
	u := *c.URL
	q := u.Query()
	if c.FilterPath && !q.Has("filter_path") {
		q.Set("filter_path", "errors,items.*.status,items.*.error")
	}
	u.RawQuery = q.Encode()
	name := *c.URL
	name.RawQuery, name.User = "", nil
	client, err := httpout.NewClient(httpout.ClientConfig{Conns: c.Concurrency, TLS: c.TLS, Logger: c.Logger})
	if err != nil {
		return nil, err
	}
	s := &Sink{
		cfg: c, endpoint: u.String(), url: &u, name: "elasticsearch+" + name.String(), client: client, rt: client.Transport,
		run: rand.Uint64(), ids: c.IDs == IDBatch, m: newMetrics(),
		rejLog: httpout.NewLimiter(time.Second), blockLog: httpout.NewLimiter(time.Second),
		retryLog: httpout.NewLimiter(time.Second),
	}
	if c.DeadLetter != "" {
		if s.dead, err = httpout.OpenDeadLetter(c.DeadLetter); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	return s, nil
}

// String names the destination (no query, no credentials).
func (s *Sink) String() string { return s.name }

// Endpoint returns the URL the sink posts to, query included.
func (s *Sink) Endpoint() string { return s.endpoint }

// Close closes the dead-letter file and idle connections.
func (s *Sink) Close() error {
	s.client.CloseIdleConnections()
	if s.dead != nil {
		return s.dead.Close()
	}
	return nil
}

// Health returns nil while the destination takes data; else the last
// failure, once unhealthyAfter requests in a row failed.
func (s *Sink) Health() error {
	n := s.failing.Load()
	if n < unhealthyAfter {
		return nil
	}
	s.lastMu.Lock()
	defer s.lastMu.Unlock()
	return fmt.Errorf("%s: %d requests in a row failed, last: %s", s.name, n, s.lastErr)
}

func (s *Sink) noteFailure(reason string) {
	s.lastMu.Lock()
	s.lastErr = reason
	s.lastMu.Unlock()
	s.failing.Add(1)
}

// Run delivers batches with Policy.Concurrency workers, each taking a
// batch, driving it to its outcome and settling it; see relay.Sink.
func (s *Sink) Run(ctx context.Context, f *relay.Feed) error {
	p := f.Policy()
	var g errgroup.Group
	for range max(p.Concurrency, 1) {
		fh := &feedHooks{f: f}
		w := s.newWorker(fh, f.Clock(), f.Logger(), p)
		g.Go(func() error {
			for {
				b, ok := f.Next(ctx)
				if !ok {
					return nil
				}
				fh.b = b
				o, err := w.deliverBatch(ctx, b)
				if err != nil {
					return nil // hard stop: b stays unsettled
				}
				f.Settle(b, o)
			}
		})
	}
	g.Wait()
	s.client.CloseIdleConnections()
	return ctx.Err()
}

// hooks are the relay's counters and backoff as a worker uses them, so
// tests can drive a worker without a relay.
type hooks interface {
	attempt()
	failed()
	backoff(failures int) time.Duration
}

// feedHooks are the hooks of a worker of Run: each request for batch b
// is an attempt of b (Feed.Attempt).
type feedHooks struct {
	f *relay.Feed
	b *relay.Batch
}

func (h *feedHooks) attempt()                    { h.f.Attempt(h.b) }
func (h *feedHooks) failed()                     { h.f.Failed() }
func (h *feedHooks) backoff(n int) time.Duration { return h.f.Backoff(n) }

// worker is one request in flight at a time. All its buffers are reused
// across batches.
type worker struct {
	s      *Sink
	h      hooks
	clock  relay.Clock
	log    *slog.Logger
	policy relay.Policy

	enc  *wire.BulkEncoder
	body []byte
	req  http.Request  // the request template: method, URL, headers set once
	br   *bytes.Reader // reads the body being sent
	rc   io.ReadCloser // br, as the request's body
	sent []byte        // the body being sent
	// wrote is set (through trace) when the transport has written the last
	// request, body included, or given up writing it. Until then it may
	// read the body and headers, even after RoundTrip returned (a server
	// that answers early), so the next request gets new ones.
	wrote atomic.Bool
	trace *httptrace.ClientTrace
	// getBody returns a fresh reader over sent, for the transport to send
	// the request again on a new connection when the first one failed
	// before anything was written.
	getBody func() (io.ReadCloser, error)
	zbuf    bytes.Buffer
	zw      *gzip.Writer
	resp    []byte
	id      []byte
	timer   relay.Timer

	// the batch being delivered
	bh    wire.Header
	msgs  [][]byte
	recvs []int64
	arena []int32 // document indexes; parts are ranges of it
	ready []part  // parts to send now (a stack: halves of a split)
	later []part  // parts to resend after a backoff
	dup   int
	rej   []int
}

// part is a set of the batch's documents sent as one request:
// arena[lo:hi], after failures consecutive failures.
type part struct {
	lo, hi     int
	failures   int
	retryAfter time.Duration
}

func (s *Sink) newWorker(h hooks, clock relay.Clock, log *slog.Logger, p relay.Policy) *worker {
	w := &worker{s: s, h: h, clock: clock, log: log, policy: p,
		enc: wire.NewBulkEncoder(s.cfg.Format)}
	if s.cfg.Gzip {
		w.zw = gzip.NewWriter(&w.zbuf)
	}
	w.timer = clock.NewTimer(time.Hour)
	w.timer.Stop()
	w.newReader()
	w.wrote.Store(true)
	w.trace = &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { w.wrote.Store(true) }}
	w.getBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(w.sent)), nil }
	w.req = http.Request{Method: http.MethodPost, URL: s.url, Host: s.url.Host,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: make(http.Header, len(s.cfg.Headers)+8)}
	for k, vs := range s.cfg.Headers {
		w.req.Header[k] = vs
	}
	w.req.Header.Set("Content-Type", wire.BulkContentType)
	if w.zw != nil {
		w.req.Header.Set("Content-Encoding", "gzip")
	}
	s.cfg.Credentials.Apply(w.req.Header)
	return w
}

// newReader gives the worker a new body reader. The body is a
// *bytes.Reader behind io.NopCloser, which the transport knows to be in
// memory: it writes the headers and the body in one system call.
func (w *worker) newReader() {
	w.br = &bytes.Reader{}
	w.rc = io.NopCloser(w.br)
}

// deliverBatch delivers b and returns its outcome, or ctx's error.
func (w *worker) deliverBatch(ctx context.Context, b *relay.Batch) (relay.Outcome, error) {
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
	w.bh = bh
	n := len(w.msgs)
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
			d := max(w.h.backoff(p.failures), min(p.retryAfter, w.policy.RetryMax))
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

func (w *worker) sleep(ctx context.Context, d time.Duration) error {
	w.timer.Reset(d)
	select {
	case <-w.timer.C():
		return nil
	case <-ctx.Done():
		w.timer.Stop()
		return ctx.Err()
	}
}

// send sends part p as one request and files its documents by the answer.
func (w *worker) send(ctx context.Context, p part) error {
	idx := w.arena[p.lo:p.hi]
	v, err := w.post(ctx, idx)
	if err != nil {
		return err
	}
	s, m := w.s, w.s.m
	switch v.act {
	case actItems:
		w.fileItems(p, idx, v)
	case actRetry, actBlocked:
		w.h.failed()
		s.noteFailure(v.reason)
		m.item(v.status, outRetried, uint64(len(idx)))
		if v.maybeStored {
			cause := causeNoAnswer
			if v.status != 0 {
				cause = causeMalformed
			}
			m.possibleDups[cause].Add(uint64(len(idx)))
		}
		p.failures++
		p.retryAfter = v.retryAfter
		lim, level, msg := s.retryLog, slog.LevelWarn, "_bulk request failed; will resend it after the backoff"
		if v.act == actBlocked {
			lim, level, msg = s.blockLog, slog.LevelError,
				"_bulk destination refuses every request (auth, index, URL?); holding the documents and retrying"
		}
		if ok, suppressed := lim.Allow(w.clock.Now()); ok {
			w.log.Log(ctx, level, msg, "sink", s.name, "status", v.status, "reason", v.reason,
				"documents", len(idx), "failures", p.failures, "suppressed", suppressed)
		}
		w.later = append(w.later, p)
	case actSplit:
		w.h.failed()
		if len(idx) == 1 {
			w.reject(int(idx[0]), v.status, v.reason)
			m.item(v.status, outRejected, 1)
			s.noteFailure(v.reason)
			return nil
		}
		if v.maybeStored {
			// Resending stores again what the engine already stored: its
			// count when it says (VictoriaLogs), else at most all of them.
			stored := len(idx)
			if v.storedBefore >= 0 {
				stored = v.storedBefore
			}
			m.possibleDups[causeSplit400].Add(uint64(stored))
		}
		m.item(v.status, outRetried, uint64(len(idx)))
		mid := p.lo + (p.hi-p.lo)/2
		// the first half is sent first: ready is a stack
		w.ready = append(w.ready, part{lo: mid, hi: p.hi}, part{lo: p.lo, hi: mid})
	}
	return nil
}

// fileItems files each document of an answered request.
func (w *worker) fileItems(p part, idx []int32, v verdict) {
	s, m := w.s, w.s.m
	if v.allOK {
		m.item(v.status, outDelivered, uint64(len(idx)))
		s.failing.Store(0)
		return
	}
	start := len(w.arena)
	delivered := 0
	for k, it := range v.items {
		r := &it.Result
		i := int(idx[k])
		switch classifyItem(r.Status, s.ids) {
		case itemDelivered:
			delivered++
			m.item(r.Status, outDelivered, 1)
		case itemDuplicate:
			delivered++
			w.dup++
			m.item(r.Status, outDuplicate, 1)
		case itemRetry:
			w.arena = append(w.arena, int32(i))
			m.item(r.Status, outRetried, 1)
		case itemRejected:
			w.reject(i, r.Status, itemReason(r))
			m.item(r.Status, outRejected, 1)
		}
	}
	if delivered > 0 {
		s.failing.Store(0)
	} else {
		s.noteFailure(fmt.Sprintf("HTTP %d, no document of %d stored", v.status, len(idx)))
	}
	if len(w.arena) > start {
		w.h.failed()
		failures := 1
		if len(w.arena)-start == len(idx) { // no progress
			failures = p.failures + 1
		}
		w.later = append(w.later, part{lo: start, hi: len(w.arena), failures: failures})
		if ok, suppressed := s.retryLog.Allow(w.clock.Now()); ok {
			w.log.Warn("_bulk items refused for now (429/5xx); resending them alone after the backoff", "sink", s.name,
				"documents", len(w.arena)-start, "of", len(idx), "suppressed", suppressed)
		}
	}
}

// reject files document i as rejected for good: counted, logged
// (rate-limited) and dead-lettered.
func (w *worker) reject(i, status int, reason string) {
	s := w.s
	w.rej = append(w.rej, i)
	s.m.rejected(status)
	if ok, suppressed := s.rejLog.Allow(w.clock.Now()); ok {
		w.log.Warn("_bulk document rejected", "sink", s.name, "status", status, "reason", reason,
			"batch", w.bh.Seq, "position", i, "dead_letter", s.cfg.DeadLetter, "suppressed", suppressed)
	}
	if s.dead != nil {
		if err := s.dead.Write(w.clock.Now(), status, reason, w.msgs[i]); err != nil {
			s.m.deadLetterFailed.Add(1)
			w.log.Error("dead-letter write failed", "error", err)
			return
		}
		s.m.deadLettered.Add(1)
	}
}

// post encodes the documents idx into one request, sends it and classifies
// the answer. It returns an error only when ctx is done.
func (w *worker) post(ctx context.Context, idx []int32) (verdict, error) {
	s := w.s
	if !w.wrote.Load() {
		// The transport may still read the last request's body and
		// headers: use new ones.
		w.body, w.zbuf = nil, bytes.Buffer{}
		w.newReader()
		w.req.Header = w.req.Header.Clone()
	}
	w.body = w.body[:0]
	before := w.enc.Replaced()
	for _, i := range idx {
		var id []byte
		if s.ids {
			w.id = wire.AppendBulkID(w.id[:0], s.run, w.bh.Seq, int(i))
			id = w.id
		}
		w.body = w.enc.Append(w.body, w.msgs[i], w.recvs[i], id)
	}
	s.m.replaced.Add(w.enc.Replaced() - before)
	body := w.body
	if w.zw != nil {
		w.zbuf.Reset()
		w.zw.Reset(&w.zbuf)
		w.zw.Write(body)
		w.zw.Close()
		body = w.zbuf.Bytes()
	}
	s.m.bodyBytes.Add(uint64(len(w.body)))

	actx, cancel := context.WithTimeout(ctx, w.policy.SendTimeout)
	defer cancel()
	wire.SetBatchHeaders(w.req.Header, w.bh, len(idx))
	w.sent = body
	w.br.Reset(body)
	w.req.Body, w.req.ContentLength, w.req.GetBody = w.rc, int64(len(body)), w.getBody
	w.wrote.Store(false)
	req := w.req.WithContext(httptrace.WithClientTrace(actx, w.trace))

	w.h.attempt()
	start := w.clock.Now()
	// Straight to the transport: the client would only copy the headers
	// for redirects, which the sink does not follow.
	resp, err := s.rt.RoundTrip(req)
	s.m.sentBytes.Add(uint64(len(body)))
	if err != nil {
		if ctx.Err() != nil {
			return verdict{}, ctx.Err()
		}
		s.m.requests[0].Add(1)
		s.m.latency.Observe(w.clock.Now().Sub(start).Seconds())
		return classify(0, nil, nil, nil, redact(err), len(idx), w.clock.Now()), nil
	}
	limit := int64(4096 + 1024*len(idx))
	w.resp, err = httpout.ReadBounded(resp.Body, w.resp, limit)
	if err != nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused if it is short
	}
	resp.Body.Close()
	if err != nil && ctx.Err() != nil {
		return verdict{}, ctx.Err()
	}
	s.m.latency.Observe(w.clock.Now().Sub(start).Seconds())
	s.m.requests[classOf(resp.StatusCode)].Add(1)
	return classify(resp.StatusCode, resp.Header, w.resp, err, nil, len(idx), w.clock.Now()), nil
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
