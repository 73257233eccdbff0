package loki

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/relay"
	"github.com/logrelay/logrelay/internal/sink/httpsink"
	"github.com/logrelay/logrelay/internal/sink/sinktest"
	"github.com/logrelay/logrelay/internal/wire"
)

// pushRequest is Loki's JSON push body.
type pushRequest struct {
	Streams []struct {
		Stream map[string]string `json:"stream"`
		Values [][]string        `json:"values"`
	} `json:"streams"`
}

// fakeLoki answers pushes as Loki does: 400 naming the entries it refused
// (lines starting "bad") in its ingester's words while storing the
// others, 413 for more than maxEntries entries, a 429 with Retry-After
// every rateEvery-th request (nothing stored), else 204.
type fakeLoki struct {
	t          *testing.T
	srv        *httptest.Server
	maxEntries int
	rateEvery  int

	mu       sync.Mutex
	requests int
	stored   map[string]int
	labels   map[string]string
	statuses map[int]int
	gzipped  int
}

func newFakeLoki(t *testing.T, maxEntries, rateEvery int) *fakeLoki {
	f := &fakeLoki{t: t, maxEntries: maxEntries, rateEvery: rateEvery, stored: map[string]int{}, statuses: map[int]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeLoki) serve(w http.ResponseWriter, r *http.Request) {
	code, body := f.answer(r)
	f.mu.Lock()
	f.statuses[code]++
	f.mu.Unlock()
	if code == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(code)
	io.WriteString(w, body)
}

func (f *fakeLoki) answer(r *http.Request) (int, string) {
	if r.URL.Path != wire.LokiPushPath || r.Method != http.MethodPost {
		return 404, "404 page not found"
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		return 415, "unsupported Content-Type " + ct
	}
	var rd io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return 400, err.Error()
		}
		rd = zr
		f.mu.Lock()
		f.gzipped++
		f.mu.Unlock()
	}
	var req pushRequest
	if err := json.NewDecoder(rd).Decode(&req); err != nil {
		return 400, "loghttp.ParseJSON: " + err.Error()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	if len(req.Streams) != 1 {
		return 400, "want one stream"
	}
	st := req.Streams[0]
	if f.labels == nil {
		f.labels = st.Stream
	}
	if len(st.Values) > f.maxEntries {
		return 413, "request body too large"
	}
	if f.rateEvery > 0 && f.requests%f.rateEvery == 0 {
		return 429, "Ingestion rate limit exceeded for user fake (limit: 1 bytes/sec)"
	}
	var prev int64
	var refused []string
	for i, v := range st.Values {
		ns, err := strconv.ParseInt(v[0], 10, 64)
		if err != nil || len(v) != 2 {
			return 400, fmt.Sprintf("bad entry %q", v)
		}
		if i > 0 && ns < prev {
			f.t.Errorf("entries out of time order in one request: %d after %d", ns, prev)
		}
		prev = ns
		if strings.HasPrefix(v[1], "bad") {
			refused = append(refused, fmt.Sprintf("entry with timestamp %s ignored, reason: 'entry too far behind, entry timestamp is: %s, oldest acceptable timestamp is: 2026-12-01T00:00:00Z'",
				time.Unix(0, ns).UTC(), time.Unix(0, ns).UTC().Format(time.RFC3339)))
			continue
		}
		f.stored[v[1]]++
	}
	if len(refused) > 0 {
		return 400, strings.Join(refused, ",\n") + fmt.Sprintf("\ntotal ignored: %d out of %d", len(refused), len(st.Values))
	}
	return 204, ""
}

func newSink(t testing.TB, rawURL string, mod func(*Config)) *Sink {
	t.Helper()
	u, _ := url.Parse(rawURL)
	labels, err := wire.ParseLokiLabels("job=relay,host=test")
	if err != nil {
		t.Fatal(err)
	}
	c := Config{URL: u, Labels: labels, Client: httpsink.Client{Concurrency: 4}}
	if mod != nil {
		mod(&c)
	}
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func deadLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec struct {
			Status int    `json:"status"`
			Line   string `json:"line"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil || rec.Status != 400 {
			t.Fatalf("dead letter %q: %v", sc.Text(), err)
		}
		out = append(out, rec.Line)
	}
	return out
}

// TestLokiThroughRelay: 2,000 lines from two connections through the
// relay's Loki sink into a Loki-like server that refuses the "bad" ones
// by name in a 400 (keeping the rest), splits batches over 30 entries
// with 413 and rate-limits every 5th request: every good line is stored
// exactly once (a 400 is never resent whole), every bad one is
// dead-lettered, entries come in time order, the labels are the
// configured ones.
func TestLokiThroughRelay(t *testing.T) {
	t.Parallel()
	fl := newFakeLoki(t, 30, 5)
	dead := filepath.Join(t.TempDir(), "dead.ndjson")
	s := newSink(t, fl.srv.URL+wire.LokiPushPath, func(c *Config) { c.DeadLetter, c.Gzip = dead, true })
	r, stop := sinktest.StartRelay(t, s, func(c *relay.Config) { c.BatchSize = 100 })
	var a, b []string
	bad := map[string]bool{}
	for i := range 1000 {
		a = append(a, fmt.Sprintf("line a %d", i))
		b = append(b, fmt.Sprintf("line b %d", i))
		if i%97 == 0 {
			l := fmt.Sprintf("bad %d", i)
			a = append(a, l)
			bad[l] = true
		}
	}
	var wg sync.WaitGroup
	for _, ls := range [][]string{a, b} {
		wg.Go(func() { sinktest.SendLines(t, r.Addr(), ls) })
	}
	wg.Wait()
	total := uint64(len(a) + len(b))
	sinktest.WaitFor(t, "every line settled", func() bool { st := r.Stats(); return st.Delivered+st.SinkRejected == total })
	_, metrics := sinktest.Get(r.AdminHandler(), "/metrics")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	st := r.Stats()
	if st.SinkRejected != uint64(len(bad)) || st.Delivered != 2000 {
		t.Errorf("delivered %d, rejected %d; want 2000, %d", st.Delivered, st.SinkRejected, len(bad))
	}
	fl.mu.Lock()
	for _, l := range append(slices.Clone(a), b...) {
		if n := fl.stored[l]; !bad[l] && n != 1 {
			t.Errorf("%q stored %d times, want 1", l, n)
		}
	}
	if fl.labels["job"] != "relay" || fl.labels["host"] != "test" || len(fl.labels) != 2 {
		t.Errorf("labels %v", fl.labels)
	}
	if fl.statuses[400] == 0 || fl.statuses[413] == 0 || fl.statuses[429] == 0 || fl.gzipped == 0 {
		t.Errorf("answers %v, %d gzipped: want 400s, 413s, 429s and gzip", fl.statuses, fl.gzipped)
	}
	fl.mu.Unlock()
	dl := deadLines(t, dead)
	slices.Sort(dl)
	if len(dl) != len(bad) || slices.Compact(dl) == nil || len(slices.Compact(dl)) != len(bad) {
		t.Errorf("dead letters %q, want the %d bad lines once each", dl, len(bad))
	}
	for _, l := range dl {
		if !bad[l] {
			t.Errorf("dead letter %q is not a bad line", l)
		}
	}
	for _, want := range []string{
		fmt.Sprintf(`logrelay_loki_rejected_total{status="400"} %d`, len(bad)),
		`logrelay_loki_items_total{class="4xx",outcome="retried"}`,
		`logrelay_loki_unattributed_rejections_total 0`,
		`logrelay_loki_destination_up 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestLokiClassify: each answer to its action; a 400 naming entries files
// them by timestamp (ns or second) or length and delivers the rest.
func TestLokiClassify(t *testing.T) {
	s := newSink(t, "http://127.0.0.1:1/loki/api/v1/push", nil)
	e := s.newEngine()
	base := time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC).UnixNano()
	msgs := [][]byte{[]byte("a"), []byte("bb"), []byte("ccc"), []byte("dddd"), []byte("e")}
	recvs := []int64{base + 5, base + 1, base + 1e9 + 7, base + 2e9, base + 3e9}
	idx := []int32{0, 1, 2, 3, 4}
	e.Batch(wire.Header{}, msgs, recvs)
	body := e.Encode(nil, wire.Header{}, msgs, recvs, idx)
	var req pushRequest
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, v := range req.Streams[0].Values {
		order = append(order, v[1])
	}
	if !slices.Equal(order, []string{"bb", "a", "ccc", "dddd", "e"}) {
		t.Errorf("entries in order %q, want by receive time", order)
	}
	named := "entry with timestamp " + time.Unix(0, base+5).UTC().String() + " ignored, reason: 'too far behind',\n" +
		"entry for stream '{job=\"relay\"}' has timestamp too old: " + time.Unix(0, base+1e9).UTC().Format(time.RFC3339) + ", oldest acceptable timestamp is: x\n" +
		"Max entry size '3' bytes exceeded for stream '{job=\"relay\"}' while adding an entry with length '4' bytes\n" +
		"total ignored: 4 out of 5"
	v := e.Classify(httpsink.Answer{Status: 400, Body: []byte(named)}, idx)
	if v.Act != httpsink.ActItems || len(v.Items) != 5 {
		t.Fatalf("%+v", v)
	}
	want := []httpsink.Outcome{httpsink.Rejected, httpsink.Delivered, httpsink.Rejected, httpsink.Rejected, httpsink.Delivered}
	for j, it := range v.Items {
		if it.Outcome != want[j] {
			t.Errorf("entry %d: %d, want %d", j, it.Outcome, want[j])
		}
	}
	if n := s.M.Unattributed.Load(); n != 1 {
		t.Errorf("unattributed %d, want 1 (4 ignored, 3 named)", n)
	}
	// a per-stream rate limit naming every refused entry: those alone are resent
	rl := "entry with timestamp " + time.Unix(0, base+1).UTC().String() + " ignored, reason: 'Per stream rate limit exceeded (limit: 3MB/sec) while attempting to ingest for stream' for stream: {job=\"relay\"},\n" +
		"user 'fake', total ignored: 1 out of 5 for stream: {job=\"relay\"}"
	v = e.Classify(httpsink.Answer{Status: 429, Header: http.Header{"Retry-After": {"2"}}, Body: []byte(rl), Now: time.Unix(0, 0)}, idx)
	if v.Act != httpsink.ActItems || len(v.Items) != 5 || v.Items[1].Outcome != httpsink.Retry || v.Items[0].Outcome != httpsink.Delivered || v.RetryAfter != 2*time.Second {
		t.Errorf("429 naming its entry: %+v", v)
	}
	// naming fewer than it counts: resent whole
	rl = strings.Replace(rl, "total ignored: 1", "total ignored: 2", 1)
	if v := e.Classify(httpsink.Answer{Status: 429, Body: []byte(rl)}, idx); v.Act != httpsink.ActRetry || !v.MaybeStored {
		t.Errorf("429 naming too few: %+v", v)
	}
	if n := s.M.Unattributed.Load(); n != 1 {
		t.Errorf("unattributed %d after the 429s, want still 1", n)
	}
	ra := http.Header{"Retry-After": {"3"}}
	for _, tc := range []struct {
		status int
		hdr    http.Header
		body   string
		act    httpsink.Action
		retry  time.Duration
	}{
		{204, nil, "", httpsink.ActItems, 0},
		{200, nil, "", httpsink.ActItems, 0},
		{400, nil, "error at least one label pair is required per stream", httpsink.ActSplit, 0},
		{413, nil, "", httpsink.ActSplit, 0},
		{429, ra, "Ingestion rate limit exceeded", httpsink.ActRetry, 3 * time.Second},
		{500, nil, "", httpsink.ActRetry, 0},
		{503, ra, "", httpsink.ActRetry, 3 * time.Second},
		{401, nil, "no org id", httpsink.ActBlocked, 0},
		{404, nil, "404 page not found", httpsink.ActBlocked, 0},
	} {
		v := e.Classify(httpsink.Answer{Status: tc.status, Header: tc.hdr, Body: []byte(tc.body), Now: time.Unix(0, 0)}, idx)
		if v.Act != tc.act || v.RetryAfter != tc.retry || (v.Act == httpsink.ActItems && !v.AllOK) {
			t.Errorf("%d %q: %+v", tc.status, tc.body, v)
		}
	}
	if v := e.Classify(httpsink.Answer{TransportErr: errors.New("reset")}, idx); v.Act != httpsink.ActRetry || !v.MaybeStored {
		t.Errorf("no answer: %+v", v)
	}
}

// TestLokiConfig: labels are required, reserved headers refused.
func TestLokiConfig(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:3100/loki/api/v1/push")
	for _, c := range []Config{{URL: u}, {Labels: []wire.LokiLabel{{Name: "job", Value: "x"}}},
		{URL: u, Labels: []wire.LokiLabel{{Name: "job", Value: "x"}}, Client: httpsink.Client{Headers: http.Header{"Content-Encoding": {"br"}}}}} {
		if _, err := New(c); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v, want ErrConfig", c, err)
		}
	}
}

// TestLokiTimestamps: messages of one read share a receive time; their
// entries get strictly increasing timestamps in batch order (so identical
// lines are not taken for duplicates), across connections the entries are
// in receive-time order, and a subset resent carries the same timestamps.
func TestLokiTimestamps(t *testing.T) {
	s := newSink(t, "http://127.0.0.1:1/loki/api/v1/push", nil)
	e := s.newEngine()
	msgs := [][]byte{[]byte("ok"), []byte("ok"), []byte("ok"), []byte("other conn"), []byte("ok")}
	recvs := []int64{100, 100, 100, 50, 101}
	e.Batch(wire.Header{}, msgs, recvs)
	entries := func(idx ...int32) [][]string {
		var req pushRequest
		if err := json.Unmarshal(e.Encode(nil, wire.Header{}, msgs, recvs, idx), &req); err != nil {
			t.Fatal(err)
		}
		return req.Streams[0].Values
	}
	all := entries(0, 1, 2, 3, 4)
	want := [][]string{{"50", "other conn"}, {"100", "ok"}, {"101", "ok"}, {"102", "ok"}, {"103", "ok"}}
	if fmt.Sprint(all) != fmt.Sprint(want) {
		t.Errorf("entries %q, want %q", all, want)
	}
	if sub := entries(4, 2); fmt.Sprint(sub) != fmt.Sprint([][]string{{"102", "ok"}, {"103", "ok"}}) {
		t.Errorf("subset %q: want the same timestamps, in order", sub)
	}
}

// TestEncodeAllocs: a batch's timestamps and a request's body allocate
// nothing once the buffers have grown.
func TestEncodeAllocs(t *testing.T) {
	s := newSink(t, "http://127.0.0.1:1/loki/api/v1/push", nil)
	e := s.newEngine()
	msgs := [][]byte{[]byte("a"), []byte("b"), []byte("c")}
	recvs := []int64{3, 1, 1}
	idx := []int32{0, 1, 2}
	e.Batch(wire.Header{}, msgs, recvs)
	buf := e.Encode(nil, wire.Header{}, msgs, recvs, idx)
	if n := testing.AllocsPerRun(100, func() {
		e.Batch(wire.Header{}, msgs, recvs)
		buf = e.Encode(buf[:0], wire.Header{}, msgs, recvs, idx)
	}); n != 0 {
		t.Errorf("%v allocations per batch of 3", n)
	}
}
