package elasticsearch

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/relay"
	"github.com/logrelay/logrelay/internal/sink/sinktest"
)

// startRelay runs a relay delivering to s on 127.0.0.1:0 and returns it
// and a function that stops it and returns Serve's error.
func startRelay(t *testing.T, s *Sink, mod func(*relay.Config)) (*relay.Relay, func() error) {
	t.Helper()
	return sinktest.StartRelay(t, s, mod)
}

func sendLines(t *testing.T, addr net.Addr, lines []string) {
	t.Helper()
	sinktest.SendLines(t, addr, lines)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	sinktest.WaitFor(t, what, cond)
}

func get(h http.Handler, path string) (int, string) { return sinktest.Get(h, path) }

// TestRelayThroughBulk: lines read by a relay reach the engine through
// the sink; items the engine rejects are settled as rejected; the counters,
// /metrics and /healthz say so.
func TestRelayThroughBulk(t *testing.T) {
	t.Parallel()
	e := newEngine(t, items(func(_ int, m string) int {
		if strings.HasPrefix(m, "bad") {
			return 400
		}
		return 201
	}))
	u, _ := url.Parse(e.srv.URL + "/_bulk")
	s, err := New(Config{URL: u, FilterPath: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, stop := startRelay(t, s, nil)
	var lines []string
	for i := range 1000 {
		lines = append(lines, fmt.Sprintf("line %d", i))
		if i%400 == 0 {
			lines = append(lines, fmt.Sprintf("bad %d", i))
		}
	}
	sendLines(t, r.Addr(), lines)
	waitFor(t, "every line settled", func() bool { st := r.Stats(); return st.Delivered+st.SinkRejected == 1003 })
	seen := map[string]int{}
	for _, req := range e.requests() {
		for _, m := range req.msgs {
			seen[m]++
		}
	}
	for i := range 1000 {
		if n := seen[fmt.Sprintf("line %d", i)]; n != 1 {
			t.Fatalf("line %d stored %d times, want 1", i, n)
		}
	}
	st := r.Stats()
	if st.Delivered != 1000 || st.SinkRejected != 3 {
		t.Errorf("delivered %d, rejected %d; want 1000, 3", st.Delivered, st.SinkRejected)
	}
	h := r.AdminHandler()
	_, metrics := get(h, "/metrics")
	for _, want := range []string{
		`logrelay_bulk_items_total{class="2xx",outcome="delivered"} 1000`,
		`logrelay_bulk_items_total{class="4xx",outcome="rejected"} 3`,
		`logrelay_bulk_rejected_total{status="400"} 3`,
		`logrelay_bulk_destination_up 1`,
		`logrelay_bulk_request_seconds_count`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if code, body := get(h, "/healthz"); code != 200 {
		t.Errorf("/healthz = %d %q, want 200", code, body)
	}
	if err := stop(); err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// TestRelayDestinationRefuses: a destination answering 401 to everything
// holds the messages (never drops them), and /healthz and /metrics show
// it; shutdown then reports them undelivered.
func TestRelayDestinationRefuses(t *testing.T) {
	t.Parallel()
	e := newEngine(t, status(401, `{"error":{"type":"security_exception","reason":"missing authentication credentials"},"status":401}`))
	u, _ := url.Parse(e.srv.URL)
	s, err := New(Config{URL: u})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, stop := startRelay(t, s, func(c *relay.Config) { c.ShutdownTimeout = 50 * time.Millisecond })
	sendLines(t, r.Addr(), []string{"a", "b", "c"})
	h := r.AdminHandler()
	waitFor(t, "/healthz to fail", func() bool { code, _ := get(h, "/healthz"); return code == 503 })
	if _, body := get(h, "/healthz"); !strings.Contains(body, "missing authentication credentials") {
		t.Errorf("/healthz body %q: want the engine's reason", body)
	}
	_, metrics := get(h, "/metrics")
	for _, want := range []string{`logrelay_bulk_destination_up 0`, `logrelay_bulk_requests_total{class="4xx"}`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if st := r.Stats(); st.Delivered != 0 || st.SinkRejected != 0 || st.Pending != 3 {
		t.Errorf("delivered %d, rejected %d, pending %d: want 0, 0, 3", st.Delivered, st.SinkRejected, st.Pending)
	}
	if err := stop(); !errors.Is(err, relay.ErrUndelivered) {
		t.Errorf("Serve: %v, want ErrUndelivered", err)
	}
}

// TestRelayBulkOrder: at --sink-concurrency 1 the engine receives one
// client connection's messages in order, across batches, even when some
// requests fail and are resent.
func TestRelayBulkOrder(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	e := newEngine(t, func(w http.ResponseWriter, r *http.Request, m []string) {
		if calls.Add(1)%7 == 0 {
			status(503, "busy")(w, r, m)
			return
		}
		allOK(w, r, m)
	})
	u, _ := url.Parse(e.srv.URL)
	s, err := New(Config{URL: u})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, stop := startRelay(t, s, func(c *relay.Config) { c.SinkConcurrency, c.BatchSize = 1, 20 })
	var lines []string
	for i := range 2000 {
		lines = append(lines, fmt.Sprintf("line %d", i))
	}
	sendLines(t, r.Addr(), lines)
	waitFor(t, "every line delivered", func() bool { return r.Stats().Delivered == 2000 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	next := 0
	var prev []string
	for _, req := range e.requests() {
		if req.hdr.Get("X-Logrelay-Count") == "" {
			t.Fatalf("request without batch headers")
		}
		if next < len(lines) && req.msgs[0] != lines[next] {
			if !slices.Equal(req.msgs, prev) {
				t.Fatalf("request %v is neither the next documents nor a resend of the previous request", req.msgs)
			}
			continue
		}
		prev = req.msgs
		for _, m := range req.msgs {
			if m != lines[next] {
				t.Fatalf("got %q, want %q next", m, lines[next])
			}
			next++
		}
	}
	if next != 2000 {
		t.Errorf("in-order documents: %d, want 2000", next)
	}
}
