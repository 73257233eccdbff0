package elasticsearch

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/relay"
	"github.com/logrelay/logrelay/internal/sink/httpout"
	"github.com/logrelay/logrelay/internal/sink/httpsink"
	"github.com/logrelay/logrelay/internal/wire"
)

// fakeClock's timers fire at once and record their delays, so a test sees
// every backoff without waiting for it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	delays []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) relay.Timer {
	t := &fakeTimer{c: c, ch: make(chan time.Time, 1)}
	t.Reset(d)
	return t
}

func (c *fakeClock) waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.delays[1:]) // the first is the worker's stopped timer
}

type fakeTimer struct {
	c  *fakeClock
	ch chan time.Time
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }
func (t *fakeTimer) Stop() bool {
	select {
	case <-t.ch:
	default:
	}
	return true
}
func (t *fakeTimer) Reset(d time.Duration) bool {
	t.Stop()
	t.c.mu.Lock()
	t.c.now = t.c.now.Add(d)
	t.c.delays = append(t.c.delays, d)
	now := t.c.now
	t.c.mu.Unlock()
	t.ch <- now
	return true
}

// testHooks: the n-th retry waits n seconds.
type testHooks struct {
	mu                 sync.Mutex
	attempts, failures int
}

func (h *testHooks) attempt() { h.mu.Lock(); h.attempts++; h.mu.Unlock() }
func (h *testHooks) failed()  { h.mu.Lock(); h.failures++; h.mu.Unlock() }
func (h *testHooks) backoff(n int) time.Duration {
	return time.Duration(n) * time.Second
}

// request is what the test engine received.
type request struct {
	hdr  http.Header
	msgs []string // the documents' message fields
	ids  []string
}

// answer is the test engine's reply to one request.
type answer func(w http.ResponseWriter, r *http.Request, msgs []string)

// engine is an httptest _bulk endpoint answering with script[k] for the
// k-th request (the last one thereafter).
type engine struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	reqs   []request
	script []answer
}

func newEngine(t *testing.T, script ...answer) *engine {
	e := &engine{t: t, script: script}
	e.srv = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *engine) serve(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		body = zr
	}
	var req request
	req.hdr = r.Header.Clone()
	sc := bufio.NewScanner(body)
	sc.Buffer(nil, 1<<20)
	for k := 0; sc.Scan(); k++ {
		var obj map[string]any
		if err := json.Unmarshal(sc.Bytes(), &obj); err != nil {
			e.t.Errorf("request line %q: %v", sc.Bytes(), err)
		}
		if k%2 == 0 {
			c, _ := obj["create"].(map[string]any)
			id, _ := c["_id"].(string)
			req.ids = append(req.ids, id)
		} else {
			m, _ := obj["message"].(string)
			req.msgs = append(req.msgs, m)
		}
	}
	e.mu.Lock()
	k := len(e.reqs)
	e.reqs = append(e.reqs, req)
	a := e.script[min(k, len(e.script)-1)]
	e.mu.Unlock()
	a(w, r, req.msgs)
}

func (e *engine) requests() []request {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.reqs)
}

// items answers 200 with one item per document, status from fn.
func items(fn func(i int, msg string) int) answer {
	return func(w http.ResponseWriter, _ *http.Request, msgs []string) {
		resp := wire.BulkResponse{}
		for i, m := range msgs {
			st := fn(i, m)
			it := wire.BulkItem{Action: wire.BulkCreate, Result: wire.BulkItemResult{Status: st}}
			if st >= 300 {
				resp.Errors = true
				it.Result.Error = &wire.BulkError{Type: "test_exception", Reason: "status " + strconv.Itoa(st) + " for " + m}
			}
			resp.Items = append(resp.Items, it)
		}
		b, _ := json.Marshal(resp)
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	}
}

var allOK = items(func(int, string) int { return 201 })

func status(code int, body string, hdr ...string) answer {
	return func(w http.ResponseWriter, _ *http.Request, _ []string) {
		for i := 0; i+1 < len(hdr); i += 2 {
			w.Header().Set(hdr[i], hdr[i+1])
		}
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

func raw(body string) answer {
	return func(w http.ResponseWriter, _ *http.Request, _ []string) { io.WriteString(w, body) }
}

type testSink struct {
	s     *Sink
	w     *worker
	clock *fakeClock
	hooks *testHooks
	dead  string
	logs  *bytes.Buffer
}

func newTestSink(t *testing.T, e *engine, mod func(*Config)) *testSink {
	t.Helper()
	u, _ := url.Parse(e.srv.URL + "/insert/elasticsearch/_bulk?_msg_field=message")
	dead := filepath.Join(t.TempDir(), "dead.ndjson")
	c := Config{URL: u, FilterPath: true, DeadLetter: dead}
	if mod != nil {
		mod(&c)
	}
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	h := &testHooks{}
	logs := &bytes.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	w := s.newWorker(h, clock, log, relay.Policy{Concurrency: 1, SendTimeout: 2 * time.Second, RetryBase: time.Second, RetryMax: 5 * time.Second})
	return &testSink{s: s, w: w, clock: clock, hooks: h, dead: dead, logs: logs}
}

// deliver sends msgs as batch 7 and returns the outcome.
func (ts *testSink) deliver(t *testing.T, msgs ...string) relay.Outcome {
	t.Helper()
	ts.w.msgs, ts.w.recvs = ts.w.msgs[:0], ts.w.recvs[:0]
	for i, m := range msgs {
		ts.w.msgs = append(ts.w.msgs, []byte(m))
		ts.w.recvs = append(ts.w.recvs, 1_700_000_000_000_000_000+int64(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o, err := ts.w.deliver(ctx, wire.Header{Seq: 7, Count: uint32(len(msgs)), OldestNs: 5, FlushNs: 6, Reason: wire.ReasonSize})
	if err != nil {
		t.Fatalf("deliver: %v", err)
	}
	o.Rejected = slices.Clone(o.Rejected)
	return o
}

func (ts *testSink) deadLetters(t *testing.T) []map[string]any {
	b, err := os.ReadFile(ts.dead)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("dead letter %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func msgs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "m" + strconv.Itoa(i)
	}
	return out
}

// TestDeliverRules runs one batch through each response rule of the
// package comment against a scripted engine, and checks the requests
// sent, the waits between them and the outcome.
func TestDeliverRules(t *testing.T) {
	t.Parallel()
	truncated := `{"errors":false,"items":[{"create":{"status":201}}`
	tests := []struct {
		name      string
		mod       func(*Config)
		script    []answer
		n         int
		wantReqs  [][]string // the messages of each request, in order
		wantWaits []time.Duration
		wantDup   int
		wantRej   []int
		wantDead  []float64 // statuses in the dead-letter file
	}{
		{name: "all stored", script: []answer{allOK}, n: 3,
			wantReqs: [][]string{{"m0", "m1", "m2"}}},
		{name: "errors:false without items (filter_path)", script: []answer{raw(`{"errors":false}`)}, n: 2,
			wantReqs: [][]string{{"m0", "m1"}}},
		{name: "429 and 5xx items resent alone after the backoff",
			script: []answer{items(func(i int, _ string) int { return [...]int{201, 429, 201, 503}[i] }), allOK}, n: 4,
			wantReqs: [][]string{{"m0", "m1", "m2", "m3"}, {"m1", "m3"}}, wantWaits: []time.Duration{time.Second}},
		{name: "item refused again backs off longer",
			script: []answer{items(func(i int, _ string) int { return [...]int{201, 429}[i] }), items(func(int, string) int { return 429 }), allOK}, n: 2,
			wantReqs: [][]string{{"m0", "m1"}, {"m1"}, {"m1"}}, wantWaits: []time.Duration{time.Second, 2 * time.Second}},
		{name: "409 with ids is a duplicate", mod: func(c *Config) { c.IDs = IDBatch },
			script: []answer{items(func(i int, _ string) int { return [...]int{201, 409, 409}[i] })}, n: 3,
			wantReqs: [][]string{{"m0", "m1", "m2"}}, wantDup: 2},
		{name: "409 without ids is rejected",
			script: []answer{items(func(i int, _ string) int { return [...]int{201, 409}[i] })}, n: 2,
			wantReqs: [][]string{{"m0", "m1"}}, wantRej: []int{1}, wantDead: []float64{409}},
		{name: "mapping error rejected, dead-lettered, not resent",
			script: []answer{items(func(i int, _ string) int { return [...]int{400, 201, 404}[i] })}, n: 3,
			wantReqs: [][]string{{"m0", "m1", "m2"}}, wantRej: []int{0, 2}, wantDead: []float64{400, 404}},
		{name: "whole 429 honours Retry-After",
			script: []answer{status(429, `{"error":{"type":"es_rejected_execution_exception","reason":"busy"},"status":429}`, "Retry-After", "3"), allOK}, n: 2,
			wantReqs: [][]string{{"m0", "m1"}, {"m0", "m1"}}, wantWaits: []time.Duration{3 * time.Second}},
		{name: "Retry-After capped by retry-max",
			script: []answer{status(503, "busy", "Retry-After", "3600"), allOK}, n: 1,
			wantReqs: [][]string{{"m0"}, {"m0"}}, wantWaits: []time.Duration{5 * time.Second}},
		{name: "whole 5xx backs off doubling",
			script: []answer{status(500, ""), status(502, ""), allOK}, n: 1,
			wantReqs: [][]string{{"m0"}, {"m0"}, {"m0"}}, wantWaits: []time.Duration{time.Second, 2 * time.Second}},
		{name: "413 splits in halves",
			script: []answer{func(w http.ResponseWriter, r *http.Request, m []string) {
				if len(m) > 2 {
					status(413, "too large")(w, r, m)
					return
				}
				allOK(w, r, m)
			}}, n: 5,
			wantReqs: [][]string{{"m0", "m1", "m2", "m3", "m4"}, {"m0", "m1"}, {"m2", "m3", "m4"}, {"m2"}, {"m3", "m4"}}},
		{name: "413 down to one document is dead-lettered",
			script: []answer{status(413, "too large")}, n: 2,
			wantReqs: [][]string{{"m0", "m1"}, {"m0"}, {"m1"}}, wantRej: []int{0, 1}, wantDead: []float64{413, 413}},
		{name: "whole 400 isolates the bad document",
			script: []answer{func(w http.ResponseWriter, r *http.Request, m []string) {
				if slices.Contains(m, "m2") {
					status(400, "cannot decode log message #2")(w, r, m)
					return
				}
				allOK(w, r, m)
			}}, n: 4,
			wantReqs: [][]string{{"m0", "m1", "m2", "m3"}, {"m0", "m1"}, {"m2", "m3"}, {"m2"}, {"m3"}},
			wantRej:  []int{2}, wantDead: []float64{400}},
		{name: "401 holds and retries, never drops",
			script: []answer{status(401, "unauthorized"), status(403, "forbidden"), status(404, `{"error":{"type":"index_not_found_exception","reason":"no such index"},"status":404}`), allOK}, n: 2,
			wantReqs:  [][]string{{"m0", "m1"}, {"m0", "m1"}, {"m0", "m1"}, {"m0", "m1"}},
			wantWaits: []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}},
		{name: "truncated answer is resent", script: []answer{raw(truncated), allOK}, n: 2,
			wantReqs: [][]string{{"m0", "m1"}, {"m0", "m1"}}, wantWaits: []time.Duration{time.Second}},
		{name: "wrong item count is resent", script: []answer{raw(`{"errors":false,"items":[{"create":{"status":201}}]}`), allOK}, n: 2,
			wantReqs: [][]string{{"m0", "m1"}, {"m0", "m1"}}, wantWaits: []time.Duration{time.Second}},
		{name: "not JSON is resent", script: []answer{raw(`<html>proxy</html>`), allOK}, n: 1,
			wantReqs: [][]string{{"m0"}, {"m0"}}, wantWaits: []time.Duration{time.Second}},
		{name: "item without status is resent", script: []answer{raw(`{"errors":true,"items":[{"create":{}}]}`), allOK}, n: 1,
			wantReqs: [][]string{{"m0"}, {"m0"}}, wantWaits: []time.Duration{time.Second}},
		{name: "Quickwit keys items index", script: []answer{raw(`{"errors":true,"items":[{"index":{"status":200}},{"index":{"status":400,"error":{"type":"x","reason":"bad"}}}]}`)}, n: 2,
			wantReqs: [][]string{{"m0", "m1"}}, wantRej: []int{1}, wantDead: []float64{400}},
		{name: "connection dropped is resent",
			script: []answer{func(w http.ResponseWriter, _ *http.Request, _ []string) {
				c, _, _ := w.(http.Hijacker).Hijack()
				c.Close()
			}, allOK}, n: 1,
			wantReqs: [][]string{{"m0"}, {"m0"}}, wantWaits: []time.Duration{time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEngine(t, tt.script...)
			ts := newTestSink(t, e, tt.mod)
			o := ts.deliver(t, msgs(tt.n)...)
			var got [][]string
			for _, r := range e.requests() {
				got = append(got, r.msgs)
				if ct := r.hdr.Get("Content-Type"); ct != "application/x-ndjson" {
					t.Errorf("Content-Type = %q, want application/x-ndjson", ct)
				}
				if r.hdr.Get(wire.HeaderSeq) != "7" || r.hdr.Get(wire.HeaderCount) != strconv.Itoa(len(r.msgs)) {
					t.Errorf("batch headers seq %q count %q for %d documents", r.hdr.Get(wire.HeaderSeq), r.hdr.Get(wire.HeaderCount), len(r.msgs))
				}
			}
			if !slices.EqualFunc(got, tt.wantReqs, slices.Equal) {
				t.Errorf("requests got %v\nwant %v", got, tt.wantReqs)
			}
			if w := ts.clock.waits(); !slices.Equal(w, tt.wantWaits) {
				t.Errorf("waits got %v, want %v", w, tt.wantWaits)
			}
			if o.Duplicate != tt.wantDup || !slices.Equal(o.Rejected, tt.wantRej) {
				t.Errorf("outcome got dup %d rejected %v, want dup %d rejected %v", o.Duplicate, o.Rejected, tt.wantDup, tt.wantRej)
			}
			var dead []float64
			for _, d := range ts.deadLetters(t) {
				dead = append(dead, d["status"].(float64))
				if d["reason"] == "" || !strings.HasPrefix(d["line"].(string), "m") {
					t.Errorf("dead letter %v: want the reason and the line", d)
				}
			}
			if !slices.Equal(dead, tt.wantDead) {
				t.Errorf("dead letters got statuses %v, want %v", dead, tt.wantDead)
			}
			if ts.hooks.attempts != len(tt.wantReqs) {
				t.Errorf("attempts counted %d, want %d", ts.hooks.attempts, len(tt.wantReqs))
			}
		})
	}
}

// TestDeliverTimeout: an engine that does not answer within the
// per-attempt timeout is a retryable failure.
func TestDeliverTimeout(t *testing.T) {
	t.Parallel()
	e := newEngine(t, func(w http.ResponseWriter, r *http.Request, _ []string) { <-r.Context().Done() }, allOK)
	ts := newTestSink(t, e, nil)
	ts.w.policy.SendTimeout = 50 * time.Millisecond
	o := ts.deliver(t, "a", "b")
	if n := len(e.requests()); n != 2 || o.Duplicate != 0 || len(o.Rejected) != 0 {
		t.Errorf("got %d requests, outcome %+v; want 2 requests, all delivered", n, o)
	}
	if got := ts.s.m.PossibleDups[httpsink.CauseNoAnswer].Load(); got != 2 {
		t.Errorf("possible duplicates (no answer) = %d, want 2", got)
	}
}

// TestDeliverHeaders: gzip, ids, index, extra headers, credentials,
// filter_path and the user's query all reach the engine.
func TestDeliverHeaders(t *testing.T) {
	t.Parallel()
	var query url.Values
	e := newEngine(t, func(w http.ResponseWriter, r *http.Request, m []string) {
		query = r.URL.Query()
		allOK(w, r, m)
	})
	creds, err := httpout.CredentialsFromEnv(func(k string) (string, bool) {
		if k == httpout.EnvAPIKey {
			return "a2V5", true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestSink(t, e, func(c *Config) {
		c.Gzip, c.IDs, c.Credentials = true, IDBatch, creds
		c.Headers = http.Header{}
		if err := ParseHeader(c.Headers, "X-Scope: team-a"); err != nil {
			t.Fatal(err)
		}
	})
	ts.deliver(t, "a", "b")
	r := e.requests()[0]
	if r.hdr.Get("Content-Encoding") != "gzip" || r.hdr.Get("Authorization") != "ApiKey a2V5" || r.hdr.Get("X-Scope") != "team-a" {
		t.Errorf("headers %v", r.hdr)
	}
	wantID := fmt.Sprintf("%x-7-1", ts.s.run)
	if len(r.ids) != 2 || r.ids[1] != wantID {
		t.Errorf("ids %v, want the second %q", r.ids, wantID)
	}
	if query.Get("_msg_field") != "message" || query.Get("filter_path") != "errors,items.*.status,items.*.error" {
		t.Errorf("query %v", query)
	}
	if b, s := ts.s.m.BodyBytes.Load(), ts.s.m.SentBytes.Load(); b == 0 || s == 0 || s == b {
		t.Errorf("body bytes %d, sent bytes %d: want both counted, and different with gzip", b, s)
	}
}

// TestHealth: consecutive failures make Health report the destination
// failing, with the engine's reason; one delivery clears it.
func TestHealth(t *testing.T) {
	t.Parallel()
	e := newEngine(t, status(401, "bad credentials"), status(401, "bad credentials"), status(401, "bad credentials"), allOK)
	ts := newTestSink(t, e, nil)
	if err := ts.s.Health(); err != nil {
		t.Fatalf("fresh sink: Health() = %v", err)
	}
	ts.w.h = &healthProbe{testHooks: ts.hooks, s: ts.s, t: t}
	ts.deliver(t, "a")
	if err := ts.s.Health(); err != nil {
		t.Errorf("after a delivery: Health() = %v", err)
	}
	if p := ts.w.h.(*healthProbe); !p.sawFailing {
		t.Errorf("Health() never reported the failing destination during 3 refusals")
	}
	if !strings.Contains(ts.logs.String(), "level=ERROR") {
		t.Errorf("the refusals were not logged at error:\n%s", ts.logs)
	}
}

// healthProbe checks Health before each attempt.
type healthProbe struct {
	*testHooks
	s          *Sink
	t          *testing.T
	sawFailing bool
}

func (p *healthProbe) attempt() {
	p.testHooks.attempt()
	if err := p.s.Health(); err != nil {
		p.sawFailing = true
		if !strings.Contains(err.Error(), "bad credentials") {
			p.t.Errorf("Health() = %v: want the engine's reason", err)
		}
	}
}

// TestDeliverNoAllocsPerMessage: delivering a batch costs a bounded number
// of allocations whatever its size (the HTTP round trip's), none per
// message.
func TestDeliverNoAllocsPerMessage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, `{"errors":false}`)
	}))
	defer srv.Close()
	e := &engine{t: t, srv: srv}
	ts := newTestSink(t, e, nil)
	per := func(n int) float64 {
		ts.w.msgs, ts.w.recvs = ts.w.msgs[:0], ts.w.recvs[:0]
		for _, m := range msgs(n) {
			ts.w.msgs = append(ts.w.msgs, []byte(m))
			ts.w.recvs = append(ts.w.recvs, 1)
		}
		h := wire.Header{Seq: 1, Count: uint32(n)}
		run := func() {
			if _, err := ts.w.deliver(context.Background(), h); err != nil {
				t.Fatal(err)
			}
		}
		run() // warm the buffers
		return testing.AllocsPerRun(20, run)
	}
	small, large := per(10), per(1000)
	t.Logf("allocations per batch: %v for 10 messages, %v for 1000", small, large)
	if large > small+20 {
		t.Errorf("allocations per batch: %v for 10 messages, %v for 1000: want no growth per message", small, large)
	}
}

// TestSplit400Duplicates: VictoriaLogs stores the documents before the bad
// one and answers 400 "cannot decode log message #K"; the halves resent
// store them again. The sink counts exactly those copies, from K.
func TestSplit400Duplicates(t *testing.T) {
	t.Parallel()
	stored := map[string]int{}
	var mu sync.Mutex
	e := newEngine(t, func(w http.ResponseWriter, r *http.Request, m []string) {
		mu.Lock()
		defer mu.Unlock()
		for k, msg := range m {
			if msg == "m3" {
				status(400, fmt.Sprintf("cannot decode log message #%d in /_bulk request: missing log message", k))(w, r, m)
				return
			}
			stored[msg]++
		}
		allOK(w, r, m)
	})
	ts := newTestSink(t, e, nil)
	o := ts.deliver(t, msgs(10)...)
	copies := 0
	for _, n := range stored {
		copies += n - 1
	}
	if !slices.Equal(o.Rejected, []int{3}) || len(stored) != 9 {
		t.Errorf("rejected %v, stored %d distinct; want [3] and 9", o.Rejected, len(stored))
	}
	if got := ts.s.m.PossibleDups[httpsink.CauseSplit400].Load(); got != uint64(copies) || copies == 0 {
		t.Errorf("counted %d possible duplicates, the engine holds %d extra copies", got, copies)
	}
}

// TestDeliverReusesConnection: one worker's requests share one keep-alive
// connection and carry Content-Length (no chunked body), also after a
// failed request, and each request's body is its own batch.
func TestDeliverReusesConnection(t *testing.T) {
	var conns atomic.Int64
	var mu sync.Mutex
	var bodies []string
	fail := atomic.Bool{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.ContentLength != int64(len(b)) || len(r.TransferEncoding) != 0 {
			t.Errorf("Content-Length %d, transfer encoding %v, body %d bytes", r.ContentLength, r.TransferEncoding, len(b))
		}
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		if fail.Swap(false) {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, `{"errors":false}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	ts := newTestSink(t, &engine{t: t, srv: srv}, nil)
	for k := range 20 {
		fail.Store(k == 5)
		ts.w.msgs, ts.w.recvs = ts.w.msgs[:0], ts.w.recvs[:0]
		ts.w.msgs = append(ts.w.msgs, []byte(fmt.Sprintf("batch %d", k)))
		ts.w.recvs = append(ts.w.recvs, 1)
		if _, err := ts.w.deliver(context.Background(), wire.Header{Seq: uint64(k + 1), Count: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for one worker's 21 requests, want 1", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 21 {
		t.Fatalf("%d requests, want 21", len(bodies))
	}
	for i, b := range bodies {
		k := i
		if i > 5 {
			k = i - 1 // batch 5 was sent twice
		}
		if !strings.Contains(b, fmt.Sprintf(`"message":"batch %d"`, k)) {
			t.Errorf("request %d: body %q, want batch %d", i, b, k)
		}
	}
}

// TestDeliverEarlyAnswer: a server that answers before reading a large
// body (the transport may still be writing it when the answer arrives);
// the resend carries the same documents intact, and nothing races (-race).
func TestDeliverEarlyAnswer(t *testing.T) {
	var calls atomic.Int64
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // before reading anything
			return
		}
		b, _ := io.ReadAll(r.Body)
		got.Store(string(b))
		io.WriteString(w, `{"errors":false}`)
	}))
	defer srv.Close()
	ts := newTestSink(t, &engine{t: t, srv: srv}, nil)
	ts.w.msgs, ts.w.recvs = ts.w.msgs[:0], ts.w.recvs[:0]
	for k := range 40 {
		ts.w.msgs = append(ts.w.msgs, []byte(fmt.Sprintf("%d %s", k, strings.Repeat("x", 60<<10))))
		ts.w.recvs = append(ts.w.recvs, 1)
	}
	if _, err := ts.w.deliver(context.Background(), wire.Header{Seq: 1, Count: 40}); err != nil {
		t.Fatal(err)
	}
	body, _ := got.Load().(string)
	for k := range 40 {
		if !strings.Contains(body, fmt.Sprintf(`"message":"%d %s"`, k, strings.Repeat("x", 60<<10))) {
			t.Fatalf("resent body (%d bytes) lacks document %d intact", len(body), k)
		}
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}
