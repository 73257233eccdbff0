package quickwit

import (
	"bufio"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/mockdest"
	"github.com/logrelay/logrelay/internal/relay"
	"github.com/logrelay/logrelay/internal/sink/httpsink"
	"github.com/logrelay/logrelay/internal/sink/sinktest"
	"github.com/logrelay/logrelay/internal/wire"
)

func newSink(t testing.TB, addr string, mod func(*Config)) *Sink {
	t.Helper()
	u, _ := url.Parse("http://" + addr)
	c := Config{URL: u, Index: "logs", Client: httpsink.Client{Concurrency: 4}}
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

// deadLetters returns the "line" of every dead-letter record in path.
func deadLetters(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec struct {
			Status int    `json:"status"`
			Reason string `json:"reason"`
			Line   string `json:"line"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("dead letter %q: %v", sc.Text(), err)
		}
		lines = append(lines, rec.Line)
	}
	return lines
}

// TestQuickwitThroughMockdest: 3,000 stamped lines through the relay's
// Quickwit sink into mockdest's emulation of the ingest API, which
// rejects 5% of the documents as parse failures and answers 10% of the
// requests 429 (Retry-After 1 s, capped by --retry-max), 5% 500 and 5%
// 503: every line is stored once or dead-lettered, the rejected ones are
// exactly the parse failures, with their original lines.
func TestQuickwitThroughMockdest(t *testing.T) {
	t.Parallel()
	md := sinktest.StartMockdest(t, mockdest.BulkConfig{Flavour: mockdest.FlavourQuickwit, ParseFailureRate: 0.05,
		RejectRate: 0.1, RetryAfter: time.Second, ServerErrorRate: 0.05, UnavailableRate: 0.05})
	dead := filepath.Join(t.TempDir(), "dead.ndjson")
	s := newSink(t, md.Addr().String(), func(c *Config) { c.DeadLetter = dead; c.Gzip = true })
	r, stop := sinktest.StartRelay(t, s, nil)
	lines := sinktest.StampedLines("quickwit", 3000)
	sinktest.SendLines(t, r.Addr(), lines)
	sinktest.WaitFor(t, "every line settled", func() bool { st := r.Stats(); return st.Delivered+st.SinkRejected == 3000 })
	_, metrics := sinktest.Get(r.AdminHandler(), "/metrics")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	st, snap := r.Stats(), md.Snapshot()
	qw := snap.Bulk.QuickwitIngest
	if st.SinkRejected == 0 || st.SinkRejected != qw.RejectedInjected {
		t.Errorf("relay rejected %d, mockdest rejected %d parse failures; want them equal and > 0", st.SinkRejected, qw.RejectedInjected)
	}
	if snap.Streams.Distinct != st.Delivered || snap.Streams.Duplicates != 0 || qw.DocsIngested != st.Delivered {
		t.Errorf("mockdest: %d distinct, %d duplicates, %d ingested; relay delivered %d", snap.Streams.Distinct, snap.Streams.Duplicates, qw.DocsIngested, st.Delivered)
	}
	for _, code := range []string{"429", "500", "503"} {
		if qw.RequestsByStatus[code] == 0 {
			t.Errorf("mockdest answered no %s: %v", code, qw.RequestsByStatus)
		}
	}
	if qw.Commits[wire.QuickwitCommitAuto] == 0 || qw.DetailedResponses == 0 {
		t.Errorf("commits %v, detailed responses %d: want commit=auto and detailed_response=true", qw.Commits, qw.DetailedResponses)
	}
	sent := map[string]bool{}
	for _, l := range lines {
		sent[l] = true
	}
	dl := deadLetters(t, dead)
	if uint64(len(dl)) != st.SinkRejected {
		t.Errorf("%d dead letters, %d rejected", len(dl), st.SinkRejected)
	}
	for _, l := range dl {
		if !sent[l] {
			t.Errorf("dead letter %q is not a line sent", l)
		}
		delete(sent, l) // each at most once
	}
	for _, want := range []string{
		`logrelay_quickwit_rejected_total{status="200"}`,
		`logrelay_quickwit_items_total{class="4xx",outcome="retried"}`,
		`logrelay_quickwit_items_total{class="5xx",outcome="retried"}`,
		`logrelay_quickwit_unattributed_rejections_total 0`,
		`logrelay_quickwit_destination_up`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestQuickwitIndexMissing: 404 (no such index) holds the documents,
// retrying with an error log; /healthz says why; nothing is dropped.
func TestQuickwitIndexMissing(t *testing.T) {
	t.Parallel()
	md := sinktest.StartMockdest(t, mockdest.BulkConfig{Flavour: mockdest.FlavourQuickwit, Indexes: []string{"other"}})
	s := newSink(t, md.Addr().String(), nil)
	r, stop := sinktest.StartRelay(t, s, func(c *relay.Config) { c.ShutdownTimeout = 50 * time.Millisecond })
	sinktest.SendLines(t, r.Addr(), sinktest.StampedLines("x", 3))
	h := r.AdminHandler()
	sinktest.WaitFor(t, "/healthz to fail", func() bool { code, _ := sinktest.Get(h, "/healthz"); return code == 503 })
	if _, body := sinktest.Get(h, "/healthz"); !strings.Contains(body, "index `logs` not found") {
		t.Errorf("/healthz body %q: want Quickwit's reason", body)
	}
	if _, m := sinktest.Get(h, "/metrics"); !strings.Contains(m, "logrelay_quickwit_destination_up 0") {
		t.Errorf("/metrics: destination_up is not 0")
	}
	if st := r.Stats(); st.Delivered != 0 || st.SinkRejected != 0 || st.Pending != 3 {
		t.Errorf("delivered %d, rejected %d, pending %d: want 0, 0, 3", st.Delivered, st.SinkRejected, st.Pending)
	}
	if err := stop(); !errors.Is(err, relay.ErrUndelivered) {
		t.Errorf("Serve: %v, want ErrUndelivered", err)
	}
}

// TestQuickwitBodyLimit: no body over MaxBody is built (mockdest, with
// the same limit, never answers 413): batches are halved before sending,
// and a document that alone is over the limit is rejected (413) and
// dead-lettered. A 413 from a destination with a lower limit splits too.
func TestQuickwitBodyLimit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		sinkMax, dest int
	}{{"sink limit", 3000, 3000}, {"destination limit", 0, 3000}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			md := sinktest.StartMockdest(t, mockdest.BulkConfig{Flavour: mockdest.FlavourQuickwit, MaxBodyBytes: int64(tc.dest)})
			dead := filepath.Join(t.TempDir(), "dead.ndjson")
			s := newSink(t, md.Addr().String(), func(c *Config) { c.MaxBody, c.DeadLetter = tc.sinkMax, dead })
			r, stop := sinktest.StartRelay(t, s, func(c *relay.Config) { c.BatchSize = 100 })
			lines := sinktest.StampedLines("limit", 400)
			big := lines[123] + " " + strings.Repeat("x", 4000)
			lines[123] = big
			sinktest.SendLines(t, r.Addr(), lines)
			sinktest.WaitFor(t, "every line settled", func() bool { st := r.Stats(); return st.Delivered+st.SinkRejected == 400 })
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			st, snap := r.Stats(), md.Snapshot()
			qw := snap.Bulk.QuickwitIngest
			if st.SinkRejected != 1 || snap.Streams.Distinct != 399 || snap.Streams.Duplicates != 0 {
				t.Errorf("rejected %d, distinct %d, duplicates %d; want 1, 399, 0", st.SinkRejected, snap.Streams.Distinct, snap.Streams.Duplicates)
			}
			if n := qw.RequestsByStatus["413"]; (tc.sinkMax > 0) != (n == 0) {
				t.Errorf("mockdest answered %d 413s", n)
			}
			if dl := deadLetters(t, dead); len(dl) != 1 || dl[0] != big {
				t.Errorf("dead letters %d, want the big line", len(dl))
			}
		})
	}
}

// TestQuickwitMatchFailures: parse failures are matched to the documents
// sent by their text, identical documents in order; a rejection counted
// but not matching any document is counted as unattributed.
func TestQuickwitMatchFailures(t *testing.T) {
	s := newSink(t, "127.0.0.1:1", nil)
	e := s.newEngine()
	msgs := [][]byte{[]byte(`{"a":1}`), []byte("same"), []byte(`{"a":2}`), []byte("same"), []byte("other")}
	recvs := []int64{5, 5, 5, 5, 5}
	idx := []int32{0, 1, 2, 3, 4}
	body := e.Encode(nil, wire.Header{}, msgs, recvs, idx)
	docs := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	if len(docs) != 5 || docs[0] != `{"@timestamp":"1970-01-01T00:00:00.000000005Z","a":1}` {
		t.Fatalf("documents %q", docs)
	}
	fail := func(doc string) wire.QuickwitParseFailure {
		return wire.QuickwitParseFailure{Message: "failed", Document: doc, Reason: wire.QuickwitInvalidSchema}
	}
	three := uint64(3)
	two := uint64(2)
	answer, _ := json.MarshalIndent(wire.QuickwitIngestResponse{NumDocsForProcessing: 5, NumIngestedDocs: &two, NumRejectedDocs: &three,
		ParseFailures: []wire.QuickwitParseFailure{fail(docs[3]), fail(docs[2]), fail("not sent")}}, "", "  ")
	v := e.Classify(httpsink.Answer{Status: 200, Body: answer}, idx)
	if v.Act != httpsink.ActItems || v.AllOK || len(v.Items) != 5 {
		t.Fatalf("verdict %+v", v)
	}
	want := []httpsink.Outcome{httpsink.Delivered, httpsink.Rejected, httpsink.Rejected, httpsink.Delivered, httpsink.Delivered}
	for j, it := range v.Items {
		if it.Outcome != want[j] {
			t.Errorf("document %d: outcome %d, want %d", j, it.Outcome, want[j])
		}
	}
	if !strings.Contains(v.Items[1].Reason, "invalid_schema") {
		t.Errorf("reason %q", v.Items[1].Reason)
	}
	if n := s.M.Unattributed.Load(); n != 1 {
		t.Errorf("unattributed %d, want 1", n)
	}
}

// TestQuickwitClassify: every answer of SINKS.md to its action.
func TestQuickwitClassify(t *testing.T) {
	s := newSink(t, "127.0.0.1:1", nil)
	e := s.newEngine()
	e.Encode(nil, wire.Header{}, [][]byte{[]byte("a"), []byte("b")}, []int64{1, 2}, []int32{0, 1})
	ra := http.Header{"Retry-After": {"7"}}
	for _, tc := range []struct {
		status int
		hdr    http.Header
		body   string
		act    httpsink.Action
		allOK  bool
		maybe  bool
		retry  time.Duration
		reason string
	}{
		{200, nil, `{"num_docs_for_processing": 2, "num_ingested_docs": 2, "num_rejected_docs": 0, "parse_failures": []}`, httpsink.ActItems, true, false, 0, ""},
		{200, nil, `{"num_docs_for_processing": 1, "num_ingested_docs": 1, "num_rejected_docs": 0}`, httpsink.ActRetry, false, true, 0, "1 documents for processing"},
		{200, nil, `{"num_docs_for_processing": 2,`, httpsink.ActRetry, false, true, 0, "malformed"},
		{429, ra, `{"message": "rate limited shard rate limiting"}`, httpsink.ActRetry, false, false, 7 * time.Second, "shard rate limiting"},
		{500, nil, `{"message": "an internal error occurred: internal error"}`, httpsink.ActRetry, false, false, 0, "internal error"},
		{503, nil, `{"message": "ingest service is unavailable (no shards available)"}`, httpsink.ActRetry, false, false, 0, "no shards"},
		{408, nil, `{"message": "timeout"}`, httpsink.ActRetry, false, false, 0, "timeout"},
		{413, nil, `{"message": "The request payload is too large"}`, httpsink.ActSplit, false, false, 0, "too large"},
		{400, nil, `{"message": "line longer than 10 bytes"}`, httpsink.ActSplit, false, false, 0, "line longer"},
		{404, nil, "{\"message\": \"index `logs` not found\"}", httpsink.ActBlocked, false, false, 0, "not found"},
		{401, nil, ``, httpsink.ActBlocked, false, false, 0, "HTTP 401 Unauthorized"},
		{403, nil, `forbidden`, httpsink.ActBlocked, false, false, 0, "forbidden"},
	} {
		v := e.Classify(httpsink.Answer{Status: tc.status, Header: tc.hdr, Body: []byte(tc.body), Now: time.Unix(0, 0)}, []int32{0, 1})
		if v.Act != tc.act || v.AllOK != tc.allOK || v.MaybeStored != tc.maybe || v.RetryAfter != tc.retry || !strings.Contains(v.Reason, tc.reason) {
			t.Errorf("%d %s: %+v", tc.status, tc.body, v)
		}
	}
	if v := e.Classify(httpsink.Answer{TransportErr: errors.New("EOF")}, []int32{0, 1}); v.Act != httpsink.ActRetry || !v.MaybeStored {
		t.Errorf("no answer: %+v", v)
	}
}

// TestQuickwitConfig: the index id and commit are checked, the endpoint
// carries commit and detailed_response.
func TestQuickwitConfig(t *testing.T) {
	u, _ := url.Parse("https://qw.example:7280/proxy")
	s, err := New(Config{URL: u, Index: "app-logs", Commit: wire.QuickwitCommitWaitFor})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, want := s.Endpoint(), "https://qw.example:7280/proxy/api/v1/app-logs/ingest?commit=wait_for&detailed_response=true"; got != want {
		t.Errorf("endpoint %q, want %q", got, want)
	}
	if got := s.String(); got != "quickwit+https://qw.example:7280/proxy/api/v1/app-logs/ingest" {
		t.Errorf("name %q", got)
	}
	for _, c := range []Config{{URL: u, Index: "1bad"}, {URL: u, Index: "ok-index", Commit: "now"}, {Index: "logs"},
		{URL: u, Index: "logs", Client: httpsink.Client{Headers: http.Header{"Content-Type": {"x"}}}}} {
		if _, err := New(c); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: error %v, want ErrConfig", c, err)
		}
	}
}

// TestQuickwitLostAnswers: answers cut off or truncated after Quickwit
// stored the documents make the sink resend them, and Quickwit, which
// has no document ids, stores them again: every line arrives at least
// once or is dead-lettered, the duplicates are at most what the sink
// counts as possible duplicates, and a dead-lettered line may have been
// stored by an earlier, broken attempt.
func TestQuickwitLostAnswers(t *testing.T) {
	t.Parallel()
	md := sinktest.StartMockdest(t, mockdest.BulkConfig{Flavour: mockdest.FlavourQuickwit, ParseFailureRate: 0.02,
		BreakRate: 0.1, TruncateRate: 0.05})
	dead := filepath.Join(t.TempDir(), "dead.ndjson")
	s := newSink(t, md.Addr().String(), func(c *Config) { c.DeadLetter = dead })
	r, stop := sinktest.StartRelay(t, s, nil)
	sinktest.SendLines(t, r.Addr(), sinktest.StampedLines("lost", 3000))
	sinktest.WaitFor(t, "every line settled", func() bool { st := r.Stats(); return st.Delivered+st.SinkRejected == 3000 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	st, snap := r.Stats(), md.Snapshot()
	possible := s.M.PossibleDups[httpsink.CauseNoAnswer].Load() + s.M.PossibleDups[httpsink.CauseMalformed].Load()
	if snap.Streams.Missing > st.SinkRejected || snap.Streams.Distinct+st.SinkRejected < 3000 {
		t.Errorf("missing %d, distinct %d, rejected %d: a line neither stored nor dead-lettered", snap.Streams.Missing, snap.Streams.Distinct, st.SinkRejected)
	}
	if snap.Bulk.DuplicatesAfterBreak == 0 || possible == 0 || snap.Bulk.DuplicatesAfterBreak > possible {
		t.Errorf("mockdest saw %d duplicates after breaks, the sink counted %d possible; want 0 < dups <= possible", snap.Bulk.DuplicatesAfterBreak, possible)
	}
	if n := uint64(len(deadLetters(t, dead))); n != st.SinkRejected {
		t.Errorf("%d dead letters, %d rejected", n, st.SinkRejected)
	}
}

// TestEncodeAllocs: encoding a document allocates nothing.
func TestEncodeAllocs(t *testing.T) {
	s := newSink(t, "127.0.0.1:1", nil)
	e := s.newEngine()
	msgs := [][]byte{[]byte(`{"msg":"a"}`), []byte("plain text")}
	recvs := []int64{1, 2}
	idx := []int32{0, 1}
	buf := e.Encode(nil, wire.Header{}, msgs, recvs, idx)
	if n := testing.AllocsPerRun(100, func() { buf = e.Encode(buf[:0], wire.Header{}, msgs, recvs, idx) }); n != 0 {
		t.Errorf("%v allocations per request of 2", n)
	}
}
