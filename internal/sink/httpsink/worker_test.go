package httpsink

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/relay"
	"github.com/logrelay/logrelay/internal/sink/sinktest"
	"github.com/logrelay/logrelay/internal/wire"
)

// lineEngine sends messages as lines and reads a scripted answer: the
// server's status decides the whole request; a 200 body of one letter per
// message (d delivered, r retry, x rejected) decides each.
type lineEngine struct {
	batches int
}

func (e *lineEngine) Batch(wire.Header, [][]byte, []int64) { e.batches++ }

func (e *lineEngine) Encode(dst []byte, _ wire.Header, msgs [][]byte, _ []int64, idx []int32) []byte {
	for _, i := range idx {
		dst = append(append(dst, msgs[i]...), '\n')
	}
	return dst
}

func (e *lineEngine) Classify(a Answer, idx []int32) Verdict {
	if a.TransportErr != nil {
		return Unanswered(0, a.TransportErr.Error())
	}
	if a.Status != 200 {
		return ClassifyStatus(a, string(a.Body))
	}
	v := Verdict{Act: ActItems, Status: 200, StoredBefore: -1}
	if len(a.Body) == 0 {
		v.AllOK = true
		return v
	}
	for _, c := range a.Body[:len(idx)] {
		it := Item{Status: 200}
		switch c {
		case 'r':
			it.Outcome, it.Status = Retry, 503
		case 'x':
			it.Outcome, it.Status, it.Reason = Rejected, 400, "bad"
		}
		v.Items = append(v.Items, it)
	}
	return v
}

type hooks struct{ attempts, failures int }

func (h *hooks) Attempt()                  { h.attempts++ }
func (h *hooks) Failed()                   { h.failures++ }
func (h *hooks) Backoff(int) time.Duration { return time.Millisecond }

// server answers each request with script(lines of the body).
type server struct {
	mu     sync.Mutex
	bodies [][]string
	srv    *httptest.Server
}

func newServer(t *testing.T, script func(n int, lines []string) (int, http.Header, string)) *server {
	s := &server{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		s.mu.Lock()
		s.bodies = append(s.bodies, lines)
		n := len(s.bodies)
		s.mu.Unlock()
		code, hdr, body := script(n, lines)
		for k, v := range hdr {
			w.Header()[k] = v
		}
		w.WriteHeader(code)
		io.WriteString(w, body)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func newTestWorker(t *testing.T, srvURL string, mod func(*Config)) (*Core, *Worker, *hooks, *lineEngine, *bytes.Buffer) {
	t.Helper()
	u, _ := url.Parse(srvURL)
	c := Config{Scheme: "test", Endpoint: u, API: "test", ContentType: "text/plain",
		Metrics: MetricsConfig{Prefix: "logrelay_test", API: "test"}}
	if mod != nil {
		mod(&c)
	}
	k, err := NewCore(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	h, e := &hooks{}, &lineEngine{}
	logs := &bytes.Buffer{}
	p := relay.Policy{Concurrency: 1, SendTimeout: 5 * time.Second, RetryBase: time.Millisecond, RetryMax: 20 * time.Millisecond}
	return k, k.NewWorker(e, h, sinktest.Clock{}, slogTo(logs), &p), h, e, logs
}

func msgs(ss ...string) ([][]byte, []int64) {
	var m [][]byte
	var r []int64
	for _, s := range ss {
		m = append(m, []byte(s))
		r = append(r, 1)
	}
	return m, r
}

// TestBodyLimit: no body over MaxBody is sent: parts are halved before
// sending, and a message alone over it is rejected with 413.
func TestBodyLimit(t *testing.T) {
	s := newServer(t, func(int, []string) (int, http.Header, string) { return 200, nil, "" })
	k, w, _, e, _ := newTestWorker(t, s.srv.URL, func(c *Config) { c.MaxBody = 10 })
	m, r := msgs("aaaa", "bbbb", "cccc", "this one is too long", "dddd")
	o, err := w.Deliver(context.Background(), wire.Header{Seq: 1}, m, r)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.Rejected, []int{3}) || e.batches != 1 {
		t.Errorf("rejected %v, batches %d; want [3], 1", o.Rejected, e.batches)
	}
	var sent []string
	for _, b := range s.bodies {
		if n := len(strings.Join(b, "\n")) + 1; n > 10 {
			t.Errorf("a body of %d bytes was sent: %q", n, b)
		}
		sent = append(sent, b...)
	}
	if !slices.Equal(sent, []string{"aaaa", "bbbb", "cccc", "dddd"}) {
		t.Errorf("sent %q", sent)
	}
	if k.M.Items[4][Rejected].Load() != 1 {
		t.Errorf("413 rejection not counted")
	}
}

// TestItemsResendSubset: only the messages the answer refused for now are
// resent, alone; the rejected ones are not; Retry-After is honoured up to
// RetryMax; the outcome lists the rejected in ascending order.
func TestItemsResendSubset(t *testing.T) {
	s := newServer(t, func(n int, lines []string) (int, http.Header, string) {
		switch n {
		case 1:
			return 429, http.Header{"Retry-After": {"3600"}}, "slow down"
		case 2:
			return 200, nil, "drxrd"
		}
		return 200, nil, ""
	})
	_, w, h, _, _ := newTestWorker(t, s.srv.URL, nil)
	m, r := msgs("m0", "m1", "m2", "m3", "m4")
	start := time.Now()
	o, err := w.Deliver(context.Background(), wire.Header{Seq: 1}, m, r)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v: Retry-After not capped by RetryMax", d)
	}
	if !slices.Equal(o.Rejected, []int{2}) {
		t.Errorf("rejected %v, want [2]", o.Rejected)
	}
	want := [][]string{{"m0", "m1", "m2", "m3", "m4"}, {"m0", "m1", "m2", "m3", "m4"}, {"m1", "m3"}}
	if len(s.bodies) != len(want) {
		t.Fatalf("requests %q, want %q", s.bodies, want)
	}
	for i := range want {
		if !slices.Equal(s.bodies[i], want[i]) {
			t.Errorf("request %d: %q, want %q", i, s.bodies[i], want[i])
		}
	}
	if h.attempts != 3 || h.failures != 2 {
		t.Errorf("attempts %d, failures %d; want 3, 2", h.attempts, h.failures)
	}
}

// TestBlockedHealth: a destination refusing every request is retried
// with an error log until it takes the messages; Health fails after
// unhealthyAfter refusals and recovers with the delivery.
func TestBlockedHealth(t *testing.T) {
	var k *Core
	var sawFailing bool
	s := newServer(t, func(n int, _ []string) (int, http.Header, string) {
		if n <= 4 {
			return 401, nil, "who are you"
		}
		sawFailing = k.Health() != nil && strings.Contains(k.Health().Error(), "who are you")
		return 200, nil, ""
	})
	k, w, _, _, logs := newTestWorker(t, s.srv.URL, nil)
	m, r := msgs("a", "b")
	o, err := w.Deliver(context.Background(), wire.Header{Seq: 1}, m, r)
	if err != nil || len(o.Rejected) != 0 {
		t.Fatalf("%v %v", o, err)
	}
	if !sawFailing || k.Health() != nil {
		t.Errorf("health while refused: failing %v; after: %v", sawFailing, k.Health())
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "refuses every request") {
		t.Errorf("no error log: %s", logs)
	}
	if len(s.bodies) != 5 {
		t.Errorf("%d requests, want 5", len(s.bodies))
	}
}

// TestHardStop: a done context ends Deliver during a backoff.
func TestHardStop(t *testing.T) {
	s := newServer(t, func(int, []string) (int, http.Header, string) { return 503, nil, "down" })
	_, w, _, _, _ := newTestWorker(t, s.srv.URL, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	m, r := msgs("a")
	if _, err := w.Deliver(ctx, wire.Header{Seq: 1}, m, r); err == nil {
		t.Fatal("Deliver returned without error after the hard stop")
	}
}

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// TestRequestTemplate: a worker's requests, with and without gzip, share
// one keep-alive connection, carry Content-Length (no chunked body), the
// fixed headers and each its own batch headers and body, also after a
// failed request and after a server answered before reading a large body
// (the transport may still be writing it then: the next request must not
// reuse its buffers or header map; -race).
func TestRequestTemplate(t *testing.T) {
	for _, gz := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "gzip"}[gz], func(t *testing.T) {
			type got struct {
				seq, count, custom, ctype, cenc string
				lines                           []string
			}
			var (
				mu    sync.Mutex
				reqs  []got
				conns atomic.Int64
				early atomic.Int64 // the request number answered before reading
			)
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				n := len(reqs) + 1
				reqs = append(reqs, got{})
				mu.Unlock()
				if int64(n) == early.Load() {
					w.WriteHeader(http.StatusServiceUnavailable) // before reading anything
					return
				}
				b, _ := io.ReadAll(r.Body)
				if r.ContentLength != int64(len(b)) || len(r.TransferEncoding) != 0 {
					t.Errorf("request %d: Content-Length %d, transfer encoding %v, body %d bytes", n, r.ContentLength, r.TransferEncoding, len(b))
				}
				if r.Header.Get("Content-Encoding") == "gzip" {
					zr, err := gzip.NewReader(bytes.NewReader(b))
					if err != nil {
						t.Errorf("request %d: %v", n, err)
						return
					}
					if b, err = io.ReadAll(zr); err != nil {
						t.Errorf("request %d: %v", n, err)
					}
				}
				g := got{seq: r.Header.Get(wire.HeaderSeq), count: r.Header.Get(wire.HeaderCount), custom: r.Header.Get("X-Custom"),
					ctype: r.Header.Get("Content-Type"), cenc: r.Header.Get("Content-Encoding"),
					lines: strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")}
				mu.Lock()
				reqs[n-1] = g
				mu.Unlock()
				if n == 4 {
					w.WriteHeader(http.StatusServiceUnavailable) // read, then refused: resent on the same connection
				}
			}))
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
			}
			srv.Start()
			t.Cleanup(srv.Close)
			_, w, _, _, _ := newTestWorker(t, srv.URL, func(c *Config) {
				c.Gzip = gz
				c.Headers = http.Header{"X-Custom": {"yes"}}
			})
			deliver := func(seq uint64, ms ...string) {
				t.Helper()
				m, r := msgs(ms...)
				if _, err := w.Deliver(context.Background(), wire.Header{Seq: seq, Count: uint32(len(m))}, m, r); err != nil {
					t.Fatal(err)
				}
			}
			// Requests 1-6: batches 1-5, batch 4 sent twice (request 4
			// refused after reading), all on one connection.
			var want []got
			for seq := uint64(1); seq <= 5; seq++ {
				line := fmt.Sprintf("batch %d", seq)
				deliver(seq, line, line+" again")
				want = append(want, got{seq: fmt.Sprint(seq), count: "2", lines: []string{line, line + " again"}})
				if seq == 4 {
					want = append(want, want[len(want)-1])
				}
			}
			if n := conns.Load(); n != 1 {
				t.Errorf("%d connections for one worker's 6 requests, want 1", n)
			}
			// Request 7 (batch 6, 4 MiB) is answered before the server
			// reads it; request 8 resends it; request 9 is batch 7.
			early.Store(7)
			var big []string
			for k := range 64 {
				big = append(big, fmt.Sprintf("%d %s", k, strings.Repeat(string(rune('a'+k%26)), 64<<10)))
			}
			deliver(6, big...)
			deliver(7, "batch 7")
			want = append(want, got{}, got{seq: "6", count: "64", lines: big}, got{seq: "7", count: "1", lines: []string{"batch 7"}})

			mu.Lock()
			defer mu.Unlock()
			if len(reqs) != len(want) {
				t.Fatalf("%d requests, want %d", len(reqs), len(want))
			}
			cenc := map[bool]string{false: "", true: "gzip"}[gz]
			for i, g := range reqs {
				if i == 6 {
					continue // answered unread
				}
				wg := want[i]
				if g.seq != wg.seq || g.count != wg.count || !slices.Equal(g.lines, wg.lines) {
					t.Errorf("request %d: batch %s count %s, %d lines; want batch %s count %s, %d lines (or their content differs)",
						i+1, g.seq, g.count, len(g.lines), wg.seq, wg.count, len(wg.lines))
				}
				if g.custom != "yes" || g.ctype != "text/plain" || g.cenc != cenc {
					t.Errorf("request %d: X-Custom %q, Content-Type %q, Content-Encoding %q", i+1, g.custom, g.ctype, g.cenc)
				}
			}
		})
	}
}
