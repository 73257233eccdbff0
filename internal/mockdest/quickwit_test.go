package mockdest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

func startQuickwit(t testing.TB, cfg Config) *bulkClient {
	t.Helper()
	cfg.Bulk.Flavour = FlavourQuickwit
	return startBulk(t, cfg)
}

// docLines joins documents into an ingest body.
func docLines(docs ...[]byte) []byte {
	var b []byte
	for _, d := range docs {
		b = append(append(b, d...), '\n')
	}
	return b
}

// unsized hides a body's length, so the client sends it chunked.
type unsized struct{ io.Reader }

func gzipped(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func qwOK(docs, ingested, rejected int) string {
	return "{\n  \"num_docs_for_processing\": " + itoa(docs) + ",\n  \"num_ingested_docs\": " + itoa(ingested) +
		",\n  \"num_rejected_docs\": " + itoa(rejected) + "\n}"
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func qwErr(msg string) string { return "{\n  \"message\": \"" + msg + "\"\n}" }

// TestIngestAnswers pins every answer of the ingest API byte for byte, its
// status, and what it stored.
func TestIngestAnswers(t *testing.T) {
	t.Parallel()
	three := docLines(stampDocs(1, 1, 3)...)
	bad := `nope "q"` + "\t é<>\x01"
	mixed := docLines(lineDoc(stampLine(1, 1)), []byte(bad), []byte(`[1,2]`), []byte("   "), lineDoc(stampLine(1, 2)))
	failures := ",\n  \"parse_failures\": [\n    {\n      \"message\": \"failed to parse JSON document\",\n      \"document\": \"nope \\\"q\\\"\\t é<>\\u0001\",\n      \"reason\": \"invalid_json\"\n    }," +
		"\n    {\n      \"message\": \"JSON document is not an object\",\n      \"document\": \"[1,2]\",\n      \"reason\": \"invalid_json\"\n    }\n  ]"
	for _, tc := range []struct {
		name, method, path string
		hdr                http.Header
		body               []byte
		chunked            bool
		cfg                BulkConfig
		status             int
		want               string
		stored             uint64
	}{
		{name: "three", path: "/api/v1/logs/ingest", body: three, status: 200, want: qwOK(3, 3, 0), stored: 3},
		{name: "detailed none", path: "/api/v1/logs/ingest?detailed_response=true", body: three, status: 200,
			want: strings.TrimSuffix(qwOK(3, 3, 0), "\n}") + ",\n  \"parse_failures\": []\n}", stored: 3},
		{name: "mixed", path: "/api/v1/logs/ingest?commit=auto", body: mixed, status: 200, want: qwOK(4, 2, 2), stored: 2},
		{name: "mixed detailed", path: "/api/v1/logs/ingest?detailed_response=true&commit=wait_for", body: mixed, status: 200,
			want: strings.TrimSuffix(qwOK(4, 2, 2), "\n}") + failures + "\n}", stored: 2},
		{name: "commit_type force", path: "/api/v1/logs/ingest?commit_type=force&detailed_response=false", body: three, status: 200, want: qwOK(3, 3, 0), stored: 3},
		{name: "gzip", path: "/api/v1/logs/ingest", hdr: http.Header{"Content-Encoding": {"gzip"}}, body: gzipped(t, three), status: 200, want: qwOK(3, 3, 0), stored: 3},
		{name: "any index", path: "/api/v1/other-logs/ingest", cfg: BulkConfig{Indexes: []string{"*"}}, body: three, status: 200, want: qwOK(3, 3, 0), stored: 3},
		{name: "listed index", path: "/api/v1/b-logs/ingest", cfg: BulkConfig{Indexes: []string{"a-logs", "b-logs"}}, body: three, status: 200, want: qwOK(3, 3, 0), stored: 3},
		{name: "empty", path: "/api/v1/logs/ingest", body: nil, status: 200, want: "{\n  \"num_docs_for_processing\": 0\n}"},
		{name: "blank lines to an unknown index", path: "/api/v1/nope/ingest?detailed_response=true", body: []byte("\n \t\r\n\n"), status: 200, want: "{\n  \"num_docs_for_processing\": 0\n}"},
		{name: "unknown index", path: "/api/v1/nope/ingest", body: three, status: 404, want: qwErr("index `nope` not found")},
		{name: "invalid index id", path: "/api/v1/ab/ingest", body: three, status: 400, want: qwErr("bad request (invalid index ID)")},
		{name: "bad commit", path: "/api/v1/logs/ingest?commit=now", body: three, status: 400, want: qwErr("Invalid query string")},
		{name: "two commits", path: "/api/v1/logs/ingest?commit=auto&commit_type=force", body: three, status: 400, want: qwErr("Invalid query string")},
		{name: "bad detailed", path: "/api/v1/logs/ingest?detailed_response=yes", body: three, status: 400, want: qwErr("Invalid query string")},
		{name: "get", method: http.MethodGet, path: "/api/v1/logs/ingest", status: 405, want: qwErr("HTTP method not allowed")},
		{name: "too large", path: "/api/v1/logs/ingest", cfg: BulkConfig{MaxBodyBytes: int64(len(three) - 1)}, body: three, status: 413, want: qwErr("The request payload is too large")},
		{name: "fits", path: "/api/v1/logs/ingest", cfg: BulkConfig{MaxBodyBytes: int64(len(three))}, body: three, status: 200, want: qwOK(3, 3, 0), stored: 3},
		{name: "too large decoded", path: "/api/v1/logs/ingest", hdr: http.Header{"Content-Encoding": {"gzip"}}, cfg: BulkConfig{MaxBodyBytes: int64(len(three) - 1)},
			body: gzipped(t, three), status: 413, want: qwErr("The request payload is too large")},
		{name: "chunked", path: "/api/v1/logs/ingest", body: three, chunked: true, status: 411, want: qwErr("A content-length header is required")},
		{name: "broken gzip", path: "/api/v1/logs/ingest", hdr: http.Header{"Content-Encoding": {"gzip"}}, body: gzipped(t, three)[:40], status: 400,
			want: qwErr("Error while decompressing the data")},
		{name: "not gzip", path: "/api/v1/logs/ingest", hdr: http.Header{"Content-Encoding": {"gzip"}}, body: three, status: 400,
			want: qwErr("Error while decompressing the data")},
		{name: "zstd", path: "/api/v1/logs/ingest", hdr: http.Header{"Content-Encoding": {"zstd"}}, body: three, status: 415,
			want: qwErr("Unsupported Content-Encoding zstd. mockdest decodes gzip only")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := startQuickwit(t, Config{Bulk: tc.cfg})
			var rd io.Reader = bytes.NewReader(tc.body)
			if tc.chunked {
				rd = unsized{rd}
			}
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			req, err := http.NewRequest(method, "http://"+c.s.Addr().String()+tc.path, rd)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.hdr {
				req.Header[k] = v
			}
			resp, err := c.hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status || string(b) != tc.want || resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("got %d %q\n%s\nwant %d application/json\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), b, tc.status, tc.want)
			}
			if tc.status == 200 {
				var r wire.QuickwitIngestResponse
				if err := json.Unmarshal(b, &r); err != nil {
					t.Errorf("the answer does not decode into wire.QuickwitIngestResponse: %v", err)
				}
			} else if m := wire.ParseQuickwitError(b); !strings.Contains(tc.want, m) {
				t.Errorf("message %q", m)
			}
			snap := c.s.Snapshot()
			qw := snap.Bulk.QuickwitIngest
			if snap.Streams.Distinct != tc.stored || snap.Bulk.DocsStored != tc.stored || qw.DocsIngested != tc.stored ||
				qw.Requests != 1 || qw.RequestsByStatus[itoa(tc.status)] != 1 {
				t.Errorf("streams %+v bulk %+v ingest %+v: want %d stored, one answer %d", snap.Streams, snap.Bulk, qw, tc.stored, tc.status)
			}
		})
	}
}

// TestIngestCounters checks the report's ingest counters after a mix of
// requests on one server.
func TestIngestCounters(t *testing.T) {
	t.Parallel()
	c := startQuickwit(t, Config{})
	mixed := docLines(lineDoc(stampLine(1, 1)), []byte("x"), []byte(`"s"`), lineDoc(stampLine(1, 2)), []byte(`{"message":"no time"}`))
	for _, p := range []string{"?commit=wait_for&detailed_response=true", "?commit=force", "", "?commit=bad"} {
		c.mustPost("/api/v1/logs/ingest"+p, nil, mixed)
	}
	c.mustPost("/api/v1/missing/ingest", nil, mixed)
	c.mustPost("/api/v1/logs/ingest", nil, nil)
	if n := c.s.Snapshot().Bulk.DocsNoTimestamp; n != 3 {
		t.Errorf("%d stored documents without @timestamp, want 3 (those of the requests answered 400 and 404 were not stored)", n)
	}
	qw := c.s.Snapshot().Bulk.QuickwitIngest
	want := QuickwitIngestStats{Requests: 6, RequestsByStatus: map[string]uint64{"200": 4, "400": 1, "404": 1}, DocsForProcessing: 15, DocsIngested: 9,
		RejectedJSON: 3, RejectedNotObject: 3, DetailedResponses: 1, Commits: map[string]uint64{"auto": 1, "wait_for": 1, "force": 1},
		Empty: 1, IndexNotFound: 1, BadQuery: 1}
	got, _ := json.Marshal(qw)
	exp, _ := json.Marshal(want)
	if !bytes.Equal(got, exp) {
		t.Errorf("got  %s\nwant %s", got, exp)
	}
	var text bytes.Buffer
	snap := c.s.Snapshot()
	_ = snap.WriteText(&text)
	if !strings.Contains(text.String(), "ingest api   6 requests, 15 documents for processing, 9 ingested, commits auto 1 wait_for 1 force 1, 1 detailed responses") ||
		!strings.Contains(text.String(), "rejected  3 invalid JSON, 3 not an object, 0 injected") {
		t.Errorf("text report:\n%s", text.String())
	}
}

// TestIngestInjected: the whole-request failures in the ingest API's
// shapes, nothing stored; parse failures on purpose in a 200.
func TestIngestInjected(t *testing.T) {
	t.Parallel()
	body := docLines(stampDocs(1, 1, 4)...)
	for _, tc := range []struct {
		name       string
		cfg        Config
		status     int
		want       string // the message, "" for a 200
		retryAfter string
	}{
		{"reject", Config{Bulk: BulkConfig{RejectRate: 1, RetryAfter: 1500 * time.Millisecond}}, 429, "rate limited ", "2"},
		{"reject window", Config{Bulk: BulkConfig{RejectFor: time.Hour}}, 429, "rate limited ", ""},
		{"server error", Config{Bulk: BulkConfig{ServerErrorRate: 1}}, 500, "an internal error occurred: internal error", ""},
		{"unavailable", Config{Bulk: BulkConfig{UnavailableRate: 1}}, 503, "ingest service is unavailable (no shards available)", ""},
		{"unauthorized", Config{Bulk: BulkConfig{Authorization: "Bearer s3cret"}}, 401, "missing or wrong authentication credentials for REST request [/api/v1/logs/ingest]", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := startQuickwit(t, tc.cfg)
			resp, b := c.mustPost("/api/v1/logs/ingest", nil, body)
			msg := wire.ParseQuickwitError(b)
			if resp.StatusCode != tc.status || !strings.HasPrefix(msg, tc.want) || resp.Header.Get("Retry-After") != tc.retryAfter {
				t.Fatalf("got %d %s Retry-After %q, want %d %q %q", resp.StatusCode, b, resp.Header.Get("Retry-After"), tc.status, tc.want, tc.retryAfter)
			}
			if tc.status == 429 && !strings.Contains("rate limited shard rate limiting|rate limited wal full (memory or disk)|rate limited load shedding", msg) {
				t.Errorf("429 message %q is none of Quickwit's", msg)
			}
			if snap := c.s.Snapshot(); snap.Streams.Distinct != 0 || snap.Bulk.DocsStored != 0 {
				t.Errorf("%d stored, want none", snap.Streams.Distinct)
			}
		})
	}
	t.Run("parse failures", func(t *testing.T) {
		t.Parallel()
		c := startQuickwit(t, Config{Seed: 5, Bulk: BulkConfig{ParseFailureRate: 0.3}})
		_, b := c.mustPost("/api/v1/logs/ingest?detailed_response=true", batchHeaders(1, 100, wire.ReasonSize, time.Now().UnixNano()),
			docLines(stampDocs(2, 1, 100)...))
		var r wire.QuickwitIngestResponse
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		rejected := int(*r.NumRejectedDocs)
		if rejected < 15 || rejected > 45 || int(*r.NumIngestedDocs)+rejected != 100 || len(r.ParseFailures) != rejected {
			t.Fatalf("answer %+v: want ≈ 30 of 100 rejected, listed", r)
		}
		for _, f := range r.ParseFailures {
			if f.Reason != wire.QuickwitInvalidSchema || f.Message != qwMsgInjected || !strings.Contains(f.Document, wire.StampPrefix) {
				t.Errorf("parse failure %+v", f)
			}
		}
		snap := c.s.Snapshot()
		if snap.Bulk.QuickwitIngest.RejectedInjected != uint64(rejected) || snap.Streams.Distinct != uint64(100-rejected) ||
			snap.Batches != 1 || snap.BatchSizes["size"][100-rejected] != 1 || snap.Bulk.CountMismatch != 0 {
			t.Errorf("snapshot streams %+v ingest %+v batches %d sizes %s", snap.Streams, snap.Bulk.QuickwitIngest, snap.Batches, sizes(snap.BatchSizes, "size"))
		}
	})
}

// TestIngestBrokenAnswers: documents of a request whose answer mockdest
// cuts off or truncates are stored; resending them (Quickwit has no ids)
// stores them again, counted as duplicates after a break.
func TestIngestBrokenAnswers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  BulkConfig
	}{{"break", BulkConfig{BreakRate: 1}}, {"truncate", BulkConfig{TruncateRate: 1}}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := startQuickwit(t, Config{Bulk: tc.cfg})
			hdr := batchHeaders(3, 10, wire.ReasonAge, time.Now().UnixNano())
			body := docLines(stampDocs(4, 1, 10)...)
			for range 2 {
				resp, b, err := c.post("/api/v1/logs/ingest", hdr, body)
				var r wire.QuickwitIngestResponse
				if err == nil && json.Unmarshal(b, &r) == nil {
					t.Fatalf("answer %d %s parsed: want it broken", resp.StatusCode, b)
				}
			}
			snap := c.s.Snapshot()
			if snap.Streams.Distinct != 10 || snap.Streams.Duplicates != 10 || snap.Bulk.DuplicatesAfterBreak != 10 || snap.Batches != 1 || snap.DuplicateBatches != 1 {
				t.Errorf("streams %+v dups after break %d batches %d dup batches %d: want 10 distinct, 10 duplicates after a break, one batch resent",
					snap.Streams, snap.Bulk.DuplicatesAfterBreak, snap.Batches, snap.DuplicateBatches)
			}
		})
	}
}

// TestIngestPartialBatch: the halves of a batch split after a 413 make
// one batch of their union, late arrivals counted as after a fault.
func TestIngestPartialBatch(t *testing.T) {
	t.Parallel()
	docs := stampDocs(6, 1, 20)
	c := startQuickwit(t, Config{Bulk: BulkConfig{MaxBodyBytes: int64(len(docLines(docs[:12]...)))}})
	flush := time.Now().UnixNano()
	post := func(seq uint64, d [][]byte, want int) {
		t.Helper()
		if resp, b := c.mustPost("/api/v1/logs/ingest", batchHeaders(seq, len(d), wire.ReasonSize, flush), docLines(d...)); resp.StatusCode != want {
			t.Fatalf("seq %d: %d %s, want %d", seq, resp.StatusCode, b, want)
		}
	}
	post(1, docs[:16], 413)
	post(2, docs[16:20], 200)
	post(1, docs[:8], 200)
	post(1, docs[8:16], 200)
	snap := c.s.Snapshot()
	if snap.Batches != 2 || snap.BatchSizes["size"][16] != 1 || snap.BatchSizes["size"][4] != 1 || snap.Bulk.PartRequests != 1 ||
		snap.Streams.Distinct != 20 || snap.Streams.Reordered != 16 || snap.Bulk.ReorderedAfterFault != 16 || snap.Bulk.TooLarge != 1 {
		t.Errorf("batches %d sizes %s parts %d streams %+v after fault %d too large %d", snap.Batches, sizes(snap.BatchSizes, "size"),
			snap.Bulk.PartRequests, snap.Streams, snap.Bulk.ReorderedAfterFault, snap.Bulk.TooLarge)
	}
}

// TestIngestCommitDelay: wait_for and force are answered after the
// commit delay, their documents stored before.
func TestIngestCommitDelay(t *testing.T) {
	t.Parallel()
	const d = 80 * time.Millisecond
	c := startQuickwit(t, Config{Bulk: BulkConfig{CommitDelay: d}})
	for i, commit := range []string{"wait_for", "force"} {
		start := time.Now()
		resp, b := c.mustPost("/api/v1/logs/ingest?commit="+commit, nil, docLines(stampDocs(uint32(i+1), 1, 2)...))
		if took := time.Since(start); resp.StatusCode != 200 || took < d {
			t.Errorf("commit=%s: %d %s after %v, want 200 after ≥ %v", commit, resp.StatusCode, b, took, d)
		}
	}
	if st := c.s.Snapshot().Streams; st.Distinct != 4 {
		t.Errorf("streams %+v: want 4 stored", st)
	}
}

// TestQuickwitBothAPIs: one quickwit-flavour listener serves the ingest
// API and /api/v1/_elastic/_bulk, as Quickwit does; both record into one
// stream checker.
func TestQuickwitBothAPIs(t *testing.T) {
	t.Parallel()
	c := startQuickwit(t, Config{})
	docs := stampDocs(7, 1, 6)
	if resp, b := c.mustPost("/api/v1/logs/ingest", nil, docLines(docs[:3]...)); resp.StatusCode != 200 {
		t.Fatalf("ingest: %d %s", resp.StatusCode, b)
	}
	resp, b := c.mustPost("/api/v1/_elastic/_bulk", nil, ndjson(`{"create":{"_index":"logs"}}`, docs[3:]...))
	if r := parseBulk(t, b); resp.StatusCode != 200 || r.Errors || len(r.Items) != 3 || r.Items[0].Action != wire.BulkIndex || r.Items[0].Result.Status != 201 {
		t.Fatalf("_bulk: %d %s", resp.StatusCode, b)
	}
	snap := c.s.Snapshot()
	if snap.Streams.Distinct != 6 || snap.Streams.Missing != 0 || snap.Bulk.Requests != 2 || snap.Bulk.QuickwitIngest.Requests != 1 || snap.Bulk.DocsStored != 6 {
		t.Errorf("streams %+v bulk requests %d ingest requests %d stored %d", snap.Streams, snap.Bulk.Requests, snap.Bulk.QuickwitIngest.Requests, snap.Bulk.DocsStored)
	}
	resp, b = c.mustPost("/api/v1/_elastic/_bulk", nil, ndjson(`{"create":{"_index":"other"}}`, docs[:1]...))
	want := `"errors":true,"items":[{"index":{"_index":"other","status":404,"error":{"type":"index_not_found_exception","reason":"no such index [other]"}}}]}`
	if resp.StatusCode != 200 || !bytes.HasSuffix(b, []byte(want)) {
		t.Errorf("_bulk to an unknown index: %d %s, want 200 …%s", resp.StatusCode, b, want)
	}
	if st := c.s.Snapshot().Streams; st.Distinct != 6 || st.Duplicates != 0 {
		t.Errorf("streams %+v after the 404 item: want nothing more stored", st)
	}
	for _, tc := range []struct{ path, want string }{
		{"/health/livez", "true"}, {"/health/readyz", "true"},
		{"/api/v1/nope", "{\n  \"message\": \"Route not found\"\n}"},
	} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+c.s.Addr().String()+tc.path, nil)
		resp, err := c.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != tc.want || (resp.StatusCode == 200) != (tc.want == "true") {
			t.Errorf("GET %s: %d %s, want %s", tc.path, resp.StatusCode, b, tc.want)
		}
	}
	e := startBulk(t, Config{})
	if resp, _ := e.mustPost("/api/v1/logs/ingest", nil, docLines(docs[:1]...)); resp.StatusCode != 404 {
		t.Errorf("elasticsearch flavour: ingest path answered %d, want 404", resp.StatusCode)
	}
}

func TestQuickwitConfig(t *testing.T) {
	t.Parallel()
	for _, b := range []BulkConfig{
		{ParseFailureRate: 0.1},
		{Indexes: []string{"logs"}},
		{CommitDelay: time.Second},
		{Flavour: FlavourQuickwit, Indexes: []string{"a b"}},
		{Flavour: FlavourQuickwit, ParseFailureRate: 2},
		{Flavour: FlavourQuickwit, UnavailableRate: -1},
		{Flavour: FlavourQuickwit, CommitDelay: -time.Second},
	} {
		if _, err := New(Config{Listen: "127.0.0.1:0", Mode: ModeBulk, Bulk: b}); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v, want ErrConfig", b, err)
		}
	}
	s, err := New(Config{Listen: "127.0.0.1:0", Mode: ModeBulk, Bulk: BulkConfig{Flavour: FlavourQuickwit}})
	if err != nil || s.cfg.Bulk.MaxBodyBytes != wire.DefaultQuickwitMaxBody || len(s.cfg.Bulk.Indexes) != 1 || s.cfg.Bulk.Indexes[0] != DefaultQuickwitIndex {
		t.Errorf("defaults: %v %d %v", err, s.cfg.Bulk.MaxBodyBytes, s.cfg.Bulk.Indexes)
	}
}
