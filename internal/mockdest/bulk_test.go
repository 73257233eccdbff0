package mockdest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

// bulkClient posts to a bulk-mode Server.
type bulkClient struct {
	t  testing.TB
	s  *Server
	hc *http.Client
}

func startBulk(t testing.TB, cfg Config) *bulkClient {
	t.Helper()
	cfg.Mode = ModeBulk
	s := startServer(t, cfg)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &bulkClient{t: t, s: s, hc: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// post sends body to path with hdr (Content-Type defaults to
// application/x-ndjson; "-" removes it) and returns the answer.
func (c *bulkClient) post(path string, hdr http.Header, body []byte) (*http.Response, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, "http://"+c.s.Addr().String()+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	switch req.Header.Get("Content-Type") {
	case "":
		req.Header.Set("Content-Type", "application/x-ndjson")
	case "-":
		req.Header.Del("Content-Type")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// mustPost is post failing the test on a transport error.
func (c *bulkClient) mustPost(path string, hdr http.Header, body []byte) (*http.Response, []byte) {
	c.t.Helper()
	resp, b, err := c.post(path, hdr, body)
	if err != nil {
		c.t.Fatalf("POST %s: %v", path, err)
	}
	return resp, b
}

// lineDoc is the document the relay makes of a plain line.
func lineDoc(line string) []byte {
	m, _ := json.Marshal(line)
	return []byte(`{"@timestamp":"2026-12-01T19:30:00.123456789Z","message":` + string(m) + `}`)
}

// stampLine is a plain log line with a stamp.
func stampLine(stream uint32, seq uint64) string {
	return "INFO user \"x\" did a thing\tstamp=" + string(wire.AppendStamp(nil, wire.Stamp{Stream: stream, Seq: seq, SentNs: time.Now().UnixNano()}))
}

// ndjson builds a _bulk body of create actions for docs.
func ndjson(action string, docs ...[]byte) []byte {
	var b []byte
	for _, d := range docs {
		b = append(b, action...)
		b = append(b, '\n')
		b = append(b, d...)
		b = append(b, '\n')
	}
	return b
}

// stampDocs returns documents of stream for seqs from..to.
func stampDocs(stream uint32, from, to uint64) [][]byte {
	var out [][]byte
	for q := from; q <= to; q++ {
		out = append(out, lineDoc(stampLine(stream, q)))
	}
	return out
}

func batchHeaders(seq uint64, count int, reason wire.Reason, flushNs int64) http.Header {
	h := http.Header{}
	wire.SetBatchHeaders(h, wire.Header{Seq: seq, Reason: reason, OldestNs: flushNs - 2e9, FlushNs: flushNs}, count)
	return h
}

func parseBulk(t testing.TB, b []byte) wire.BulkResponse {
	t.Helper()
	var r wire.BulkResponse
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("answer %q: %v", b, err)
	}
	return r
}

func TestBulkResponseShapes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		flavour, path, action string
		status                int
		full                  bool // _index, _id, result present
	}{
		{FlavourElasticsearch, "/logs/_bulk", wire.BulkCreate, 201, true},
		{FlavourVictoriaLogs, "/insert/elasticsearch/_bulk", wire.BulkCreate, 201, false},
		{FlavourQuickwit, "/api/v1/_elastic/logs/_bulk", wire.BulkIndex, 201, false},
		{FlavourZincSearch, "/es/logs/_bulk", wire.BulkIndex, 200, true},
	} {
		t.Run(tc.flavour, func(t *testing.T) {
			t.Parallel()
			c := startBulk(t, Config{Bulk: BulkConfig{Flavour: tc.flavour}})
			resp, body := c.mustPost(tc.path, nil, ndjson(`{"create":{}}`, stampDocs(1, 1, 3)...))
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("got %d %q, want 200 application/json", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			r := parseBulk(t, body)
			if r.Errors || len(r.Items) != 3 {
				t.Fatalf("got %s, want 3 items without errors", body)
			}
			ids := map[string]bool{}
			for _, it := range r.Items {
				res := it.Result
				if it.Action != tc.action || res.Status != tc.status || res.Error != nil {
					t.Errorf("item %+v: want %s status %d", it, tc.action, tc.status)
				}
				if tc.full && (res.Index != "logs" || len(res.ID) != 20 || res.Result != "created" || res.Version != 1) {
					t.Errorf("item %+v: want _index logs, a 20-char _id, result created, _version 1", res)
				}
				ids[res.ID] = true
			}
			if tc.full && len(ids) != 3 {
				t.Errorf("ids %v: want 3 distinct", ids)
			}
			switch tc.flavour {
			case FlavourVictoriaLogs:
				want := `"errors":false,"items":[{"create":{"status":201}},{"create":{"status":201}},{"create":{"status":201}}]}`
				if !bytes.HasPrefix(body, []byte(`{"took":`)) || !bytes.HasSuffix(body, []byte(want)) {
					t.Errorf("got %s, want {\"took\":N,%s", body, want)
				}
			case FlavourElasticsearch:
				res := r.Items[0].Result
				if res.Shards == nil || *res.Shards != (wire.BulkShards{Total: 2, Successful: 1}) || res.SeqNo == nil || res.PrimaryTerm != 1 {
					t.Errorf("item %+v: want _shards, _seq_no, _primary_term", res)
				}
				if *r.Items[2].Result.SeqNo != *res.SeqNo+2 {
					t.Errorf("_seq_no %d then %d, want consecutive", *res.SeqNo, *r.Items[2].Result.SeqNo)
				}
			case FlavourQuickwit:
				if r.Items[0].Result.ID != "" || r.Items[0].Result.Index != "logs" {
					t.Errorf("item %+v: want _index and no _id", r.Items[0].Result)
				}
			}
			snap := c.s.Snapshot()
			if snap.Streams.Distinct != 3 || snap.Batches != 1 || snap.Bulk.DocsStored != 3 || snap.Bulk.ItemsByStatus[strconv.Itoa(tc.status)] != 3 ||
				snap.Bulk.RequestsByStatus["200"] != 1 || snap.Bulk.NoBatchHeaders != 1 || snap.BatchSizes[ReasonRequest][3] != 1 {
				t.Errorf("snapshot %+v bulk %+v: want 3 docs in one batch of reason request", snap.Streams, snap.Bulk)
			}
		})
	}
}

func TestBulkFilterPath(t *testing.T) {
	t.Parallel()
	ok := startBulk(t, Config{})
	bad := startBulk(t, Config{Bulk: BulkConfig{ItemRejectRate: 1}})
	rej := `{"type":"es_rejected_execution_exception","reason":"rejected execution of coordinating operation: mockdest: injected"}`
	for _, tc := range []struct {
		name   string
		c      *bulkClient
		filter string
		want   string // "" = the full response
	}{
		{"beats", ok, "errors,items.*.status,items.*.error", `{"errors":false,"items":[{"create":{"status":201}},{"create":{"status":201}}]}`},
		{"beats failing", bad, "errors,items.*.error,items.*.status", `{"errors":true,"items":[{"create":{"status":429,"error":` + rej + `}},{"create":{"status":429,"error":` + rej + `}}]}`},
		{"errors only", ok, "errors", `{"errors":false}`},
		{"error of none", ok, "items.*.error", `{}`},
		{"error of all", bad, "items.*.error", `{"items":[{"create":{"error":` + rej + `}},{"create":{"error":` + rej + `}}]}`},
		{"ids", ok, "items.*._id", ""},
		{"unsupported", ok, "items.*.error.type", ""},
		{"took", ok, "took", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, body := tc.c.mustPost("/logs/_bulk?filter_path="+tc.filter, nil, ndjson(`{"create":{}}`, stampDocs(uint32(len(tc.name)), 1, 2)...))
			switch {
			case tc.want != "":
				if string(body) != tc.want {
					t.Errorf("got %s\nwant %s", body, tc.want)
				}
			case tc.name == "ids":
				if !bytes.HasPrefix(body, []byte(`{"items":[{"create":{"_id":"`)) || bytes.Contains(body, []byte("status")) {
					t.Errorf("got %s, want only the _ids", body)
				}
			case tc.name == "took":
				if !bytes.HasPrefix(body, []byte(`{"took":`)) || bytes.Contains(body, []byte("items")) {
					t.Errorf("got %s, want only took", body)
				}
			default:
				if r := parseBulk(t, body); len(r.Items) != 2 || r.Items[0].Result.Index != "logs" {
					t.Errorf("got %s, want the full response", body)
				}
			}
		})
	}
}

// TestBulkItemFailures injects item 429s and 400s, resends the failed
// items alone under the batch's seq, as the bulk sink does, and checks
// that only answered-201 items were recorded and the batch is whole.
func TestBulkItemFailures(t *testing.T) {
	t.Parallel()
	c := startBulk(t, Config{Seed: 3, Bulk: BulkConfig{ItemRejectRate: 0.3, ItemInvalidRate: 0.1}})
	const n = 100
	docs := stampDocs(5, 1, n)
	flush := time.Now().UnixNano()
	pending := docs
	var rejected, invalid, stored, attempts int
	for len(pending) > 0 && attempts < 50 {
		attempts++
		resp, body := c.mustPost("/logs/_bulk", batchHeaders(9, len(pending), wire.ReasonSize, flush), ndjson(`{"create":{}}`, pending...))
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		r := parseBulk(t, body)
		if len(r.Items) != len(pending) {
			t.Fatalf("%d items for %d docs", len(r.Items), len(pending))
		}
		var again [][]byte
		for i, it := range r.Items {
			switch it.Result.Status {
			case 201:
				stored++
			case 429:
				rejected++
				if it.Result.Error.Type != wire.BulkErrRejected || !r.Errors {
					t.Errorf("429 item %+v, errors %v", it.Result.Error, r.Errors)
				}
				again = append(again, pending[i])
			case 400:
				invalid++
				if it.Result.Error.Type != wire.BulkErrMapping {
					t.Errorf("400 item %+v", it.Result.Error)
				}
				again = append(again, pending[i]) // resent too, so the batch completes
			default:
				t.Fatalf("item status %d", it.Result.Status)
			}
		}
		pending = again
	}
	snap := c.s.Snapshot()
	if len(pending) > 0 || stored != n {
		t.Fatalf("%d stored after %d attempts", stored, attempts)
	}
	frac := float64(rejected) / float64(rejected+invalid+stored)
	if frac < 0.2 || frac > 0.4 || invalid == 0 {
		t.Errorf("%d rejected, %d invalid, %d stored: want ≈ 30%% rejected and some invalid", rejected, invalid, stored)
	}
	b := snap.Bulk
	if b.Injected.ItemsRejected != uint64(rejected) || b.Injected.ItemsInvalid != uint64(invalid) || b.DocsStored != n ||
		b.ItemsByStatus["429"] != uint64(rejected) || b.ItemsByStatus["400"] != uint64(invalid) || b.PartRequests != uint64(attempts-1) {
		t.Errorf("bulk stats %+v: want %d rejected %d invalid %d stored %d parts", b, rejected, invalid, n, attempts-1)
	}
	if snap.Batches != 1 || snap.MaxBatchSize != n || snap.BatchSizes["size"][n] != 1 || snap.BatchAge["size"].TotalCount() != 1 {
		t.Errorf("batches %d max %d sizes %s ages %d: want one batch of %d, one age", snap.Batches, snap.MaxBatchSize,
			sizes(snap.BatchSizes, "size"), snap.BatchAge["size"].TotalCount(), n)
	}
	if st := snap.Streams; st.Distinct != n || st.Duplicates != 0 || st.Missing != 0 || st.Reordered == 0 || b.ReorderedAfterFault != st.Reordered {
		t.Errorf("streams %+v, reordered after a fault %d: want %d distinct, no duplicates or gaps, the resent items late and all of them counted as after a fault",
			st, b.ReorderedAfterFault, n)
	}
}

// TestBulkReorderAfterFault: documents of a batch answered 413 and
// resent in halves after a later batch are late, counted as after a
// fault; a late batch without a fault is not.
func TestBulkReorderAfterFault(t *testing.T) {
	t.Parallel()
	docs := stampDocs(1, 1, 30)
	limit := len(ndjson(`{"create":{}}`, docs[:6]...))
	c := startBulk(t, Config{Bulk: BulkConfig{MaxBodyBytes: int64(limit)}})
	flush := time.Now().UnixNano()
	post := func(seq uint64, d [][]byte, want int) {
		t.Helper()
		if resp, b := c.mustPost("/logs/_bulk", batchHeaders(seq, len(d), wire.ReasonSize, flush), ndjson(`{"create":{}}`, d...)); resp.StatusCode != want {
			t.Fatalf("seq %d: %d %s, want %d", seq, resp.StatusCode, b, want)
		}
	}
	post(1, docs[0:10], 413)
	post(2, docs[10:12], 200)
	post(1, docs[0:5], 200)
	post(1, docs[5:10], 200)
	post(4, docs[14:16], 200) // no fault: seq 3 comes late
	post(3, docs[12:14], 200)
	snap := c.s.Snapshot()
	if snap.Streams.Reordered != 12 || snap.Bulk.ReorderedAfterFault != 10 || snap.Streams.Distinct != 16 || snap.Bulk.TooLarge != 1 {
		t.Errorf("reordered %d after a fault %d distinct %d too large %d: want 12, 10, 16, 1",
			snap.Streams.Reordered, snap.Bulk.ReorderedAfterFault, snap.Streams.Distinct, snap.Bulk.TooLarge)
	}
	if snap.Batches != 4 || snap.BatchSizes["size"][10] != 1 || snap.BatchSizes["size"][2] != 3 {
		t.Errorf("batches %d sizes %s: want 10×1 2×3", snap.Batches, sizes(snap.BatchSizes, "size"))
	}
}

// TestBulkPartialBatch: the parts of one batch (a 413 split) make one
// batch of their union; a resent part is a duplicate batch; the same seq
// with a later flush time is a sender restart.
func TestBulkPartialBatch(t *testing.T) {
	t.Parallel()
	c := startBulk(t, Config{MaxBatch: 99})
	flush := time.Now().UnixNano()
	docs := stampDocs(2, 1, 100)
	first := ndjson(`{"create":{}}`, docs[:60]...)
	second := ndjson(`{"create":{}}`, docs[60:]...)
	c.mustPost("/logs/_bulk", batchHeaders(7, 60, wire.ReasonSize, flush), first)
	c.mustPost("/logs/_bulk", batchHeaders(7, 40, wire.ReasonSize, flush), second)
	snap := c.s.Snapshot()
	if snap.Batches != 1 || snap.BatchSizes["size"][100] != 1 || snap.BatchSizes["size"][60] != 0 || snap.MaxBatchSize != 100 ||
		snap.Bulk.PartRequests != 1 || snap.BatchAge["size"].TotalCount() != 1 {
		t.Fatalf("batches %d sizes %s max %d parts %d: want one batch of 100", snap.Batches, sizes(snap.BatchSizes, "size"),
			snap.MaxBatchSize, snap.Bulk.PartRequests)
	}
	if err := c.s.Check(); !errors.Is(err, ErrMaxBatch) {
		t.Errorf("Check: %v, want ErrMaxBatch (the union of the parts is 100)", err)
	}
	c.mustPost("/logs/_bulk", batchHeaders(7, 40, wire.ReasonSize, flush), second) // resent
	snap = c.s.Snapshot()
	if snap.Batches != 1 || snap.DuplicateBatches != 1 || snap.ResentMessages != 40 || snap.MaxBatchSize != 100 || snap.Streams.Duplicates != 40 {
		t.Errorf("after a resend: batches %d dup batches %d resent %d max %d dups %d; want 1 1 40 100 40",
			snap.Batches, snap.DuplicateBatches, snap.ResentMessages, snap.MaxBatchSize, snap.Streams.Duplicates)
	}
	c.mustPost("/logs/_bulk", batchHeaders(7, 5, wire.ReasonAge, flush+1e9), ndjson(`{"create":{}}`, stampDocs(3, 1, 5)...))
	snap = c.s.Snapshot()
	if snap.Batches != 2 || snap.SenderRestarts != 1 || snap.BatchSizes["age"][5] != 1 || snap.Bulk.CountMismatch != 0 {
		t.Errorf("after a restart: batches %d restarts %d age sizes %s mismatches %d; want 2 1 5×1 0",
			snap.Batches, snap.SenderRestarts, sizes(snap.BatchSizes, "age"), snap.Bulk.CountMismatch)
	}
	c.mustPost("/logs/_bulk", batchHeaders(8, 3, wire.ReasonAge, flush), ndjson(`{"create":{}}`, stampDocs(4, 1, 2)...))
	if m := c.s.Snapshot().Bulk.CountMismatch; m != 1 {
		t.Errorf("count mismatches %d, want 1", m)
	}
}

func TestBulkWholeRequestFailures(t *testing.T) {
	t.Parallel()
	body := ndjson(`{"create":{}}`, stampDocs(1, 1, 4)...)
	for _, tc := range []struct {
		name       string
		cfg        Config
		status     int
		errType    string
		retryAfter string
	}{
		{"reject", Config{Bulk: BulkConfig{RejectRate: 1, RetryAfter: 1500 * time.Millisecond}}, 429, wire.BulkErrRejected, "2"},
		{"reject window", Config{Bulk: BulkConfig{RejectFor: time.Hour}}, 429, wire.BulkErrRejected, ""},
		{"window not yet", Config{Bulk: BulkConfig{RejectFrom: time.Hour, RejectFor: time.Hour}}, 200, "", ""},
		{"server error", Config{Bulk: BulkConfig{ServerErrorRate: 1}}, 500, "internal_server_error", ""},
		{"too large", Config{Bulk: BulkConfig{MaxBodyBytes: int64(len(body) - 1)}}, 413, "content_too_long_exception", ""},
		{"fits", Config{Bulk: BulkConfig{MaxBodyBytes: int64(len(body))}}, 200, "", ""},
		{"unauthorized", Config{Bulk: BulkConfig{Authorization: "Bearer s3cret"}}, 401, "security_exception", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := startBulk(t, tc.cfg)
			resp, b := c.mustPost("/logs/_bulk", nil, body)
			if resp.StatusCode != tc.status || resp.Header.Get("Retry-After") != tc.retryAfter {
				t.Fatalf("got %d Retry-After %q (%s), want %d %q", resp.StatusCode, resp.Header.Get("Retry-After"), b, tc.status, tc.retryAfter)
			}
			snap := c.s.Snapshot()
			if tc.status == 200 {
				if snap.Streams.Distinct != 4 {
					t.Errorf("%d stored, want 4", snap.Streams.Distinct)
				}
				return
			}
			var e wire.BulkErrorResponse
			if err := json.Unmarshal(b, &e); err != nil || e.Status != tc.status || e.Error.Type != tc.errType || e.Error.Reason == "" {
				t.Errorf("body %s (%v): want status %d type %s", b, err, tc.status, tc.errType)
			}
			if snap.Streams.Distinct != 0 || snap.Messages != 0 || snap.Bulk.DocsStored != 0 || snap.Bulk.RequestsByStatus[strconv.Itoa(tc.status)] != 1 {
				t.Errorf("stored %d docs, by status %v: want none stored, one %d", snap.Bulk.DocsStored, snap.Bulk.RequestsByStatus, tc.status)
			}
		})
	}
}

func TestBulkAuth(t *testing.T) {
	t.Parallel()
	for _, secret := range []string{"Basic dXNlcjpwYXNz", "Bearer s3cret", "ApiKey a2V5"} {
		c := startBulk(t, Config{Bulk: BulkConfig{Authorization: secret}})
		body := ndjson(`{"create":{}}`, stampDocs(1, 1, 2)...)
		for _, tc := range []struct {
			auth   string
			status int
		}{{"", 401}, {"Bearer wrong", 401}, {secret + "x", 401}, {secret, 200}} {
			h := http.Header{}
			if tc.auth != "" {
				h.Set("Authorization", tc.auth)
			}
			resp, b := c.mustPost("/logs/_bulk", h, body)
			if resp.StatusCode != tc.status {
				t.Errorf("%s with %q: %d (%s), want %d", secret[:5], tc.auth, resp.StatusCode, b, tc.status)
			}
			if tc.status == 401 && (resp.Header.Get("WWW-Authenticate") == "" || bytes.Contains(b, []byte(secret))) {
				t.Errorf("401 without WWW-Authenticate or naming the secret: %s", b)
			}
		}
		if snap := c.s.Snapshot(); snap.Bulk.Unauthorized != 3 || snap.Streams.Distinct != 2 {
			t.Errorf("unauthorized %d distinct %d, want 3 2", snap.Bulk.Unauthorized, snap.Streams.Distinct)
		}
	}
}

// TestBulkBrokenAnswers: a request whose answer is cut off or truncated
// has its documents stored; resending it makes duplicates, counted also
// as caused by the break.
func TestBulkBrokenAnswers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  BulkConfig
	}{{"break", BulkConfig{BreakRate: 1}}, {"truncate", BulkConfig{TruncateRate: 1}}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := startBulk(t, Config{Bulk: tc.cfg})
			flush := time.Now().UnixNano()
			body := ndjson(`{"create":{}}`, stampDocs(1, 1, 10)...)
			for range 2 {
				resp, b, err := c.post("/logs/_bulk", batchHeaders(1, 10, wire.ReasonSize, flush), body)
				if tc.name == "break" {
					if !errors.Is(err, io.ErrUnexpectedEOF) {
						t.Fatalf("got %v, want an unexpected EOF", err)
					}
					continue
				}
				if err != nil || resp.StatusCode != 200 || json.Valid(b) || len(b) == 0 {
					t.Fatalf("got %v %v %q, want 200 with a truncated JSON body", err, resp, b)
				}
			}
			snap := c.s.Snapshot()
			b := snap.Bulk
			if snap.Streams.Distinct != 10 || snap.Streams.Duplicates != 10 || b.DuplicatesAfterBreak != 10 || b.DocsStored != 20 ||
				snap.Batches != 1 || snap.DuplicateBatches != 1 || snap.MaxBatchSize != 10 ||
				b.Injected.Broken+b.Injected.Truncated != 2 {
				t.Errorf("streams %+v batches %d dup batches %d bulk %+v: want 10 distinct, 10 duplicates after a break, one batch of 10",
					snap.Streams, snap.Batches, snap.DuplicateBatches, b)
			}
		})
	}
}

func TestBulkCloseAndDown(t *testing.T) {
	t.Parallel()
	body := ndjson(`{"create":{}}`, stampDocs(1, 1, 3)...)
	c := startBulk(t, Config{CloseRate: 1})
	if _, _, err := c.post("/logs/_bulk", nil, body); err == nil {
		t.Errorf("close rate 1: got an answer")
	}
	if snap := c.s.Snapshot(); snap.Misbehaviour.ConnsClosed == 0 || snap.Streams.Distinct != 0 || snap.Bulk.Injected.ClosedOnArrival == 0 {
		t.Errorf("closed %d distinct %d: want closed, nothing stored", snap.Misbehaviour.ConnsClosed, snap.Streams.Distinct)
	}

	d := startBulk(t, Config{})
	d.mustPost("/logs/_bulk", nil, body) // a kept-alive connection
	d.s.closeAll(false)                  // go down as downLoop does
	waitFor(t, "the kept-alive connection closed", func() bool { return d.s.Snapshot().ConnsOpen == 0 })
	d.hc.Transport.(*http.Transport).CloseIdleConnections()
	if _, _, err := d.post("/logs/_bulk", nil, ndjson(`{"create":{}}`, stampDocs(1, 4, 6)...)); err == nil {
		t.Errorf("down: got an answer")
	}
	d.s.down.Store(false)
	d.mustPost("/logs/_bulk", nil, ndjson(`{"create":{}}`, stampDocs(1, 7, 9)...))
	snap := d.s.Snapshot()
	if snap.Streams.Distinct != 6 || snap.Misbehaviour.ConnsRefused == 0 {
		t.Errorf("distinct %d refused %d closed down %d: want 6 stored and the down request refused",
			snap.Streams.Distinct, snap.Misbehaviour.ConnsRefused, snap.Bulk.ClosedDown)
	}
}

func TestBulkDelay(t *testing.T) {
	t.Parallel()
	c := startBulk(t, Config{AckDelay: 80 * time.Millisecond})
	start := time.Now()
	resp, _ := c.mustPost("/logs/_bulk", nil, ndjson(`{"create":{}}`, stampDocs(1, 1, 2)...))
	if el := time.Since(start); resp.StatusCode != 200 || el < 80*time.Millisecond {
		t.Errorf("answered %d after %v, want 200 after ≥ 80ms", resp.StatusCode, el)
	}
	if n := c.s.Snapshot().Bulk.Injected.Delayed; n != 1 {
		t.Errorf("delayed %d, want 1", n)
	}
}

// TestBulkDelayedAtShutdown: a long answer delay does not hold up Serve.
func TestBulkDelayedAtShutdown(t *testing.T) {
	t.Parallel()
	s, stop := serve(t, Config{Mode: ModeBulk, AckDelay: time.Hour})
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &bulkClient{t: t, s: s, hc: &http.Client{Transport: tr}}
	done := make(chan error, 1)
	go func() {
		_, _, err := c.post("/logs/_bulk", nil, ndjson(`{"create":{}}`, stampDocs(1, 1, 2)...))
		done <- err
	}()
	waitFor(t, "the request stored", func() bool { return s.Progress().Distinct == 2 })
	start := time.Now()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("Serve took %v to end", el)
	}
	<-done
}

func TestBulkConflicts(t *testing.T) {
	t.Parallel()
	docs := stampDocs(1, 1, 3)
	var body []byte
	for i, d := range docs {
		body = append(body, fmt.Sprintf(`{"create":{"_index":"logs","_id":"id-%d"}}`+"\n", i)...)
		body = append(append(body, d...), '\n')
	}
	es := startBulk(t, Config{})
	_, b1 := es.mustPost("/_bulk", nil, body)
	_, b2 := es.mustPost("/_bulk", nil, body)
	r1, r2 := parseBulk(t, b1), parseBulk(t, b2)
	for i := range 3 {
		id := fmt.Sprintf("id-%d", i)
		if r1.Items[i].Result.Status != 201 || r1.Items[i].Result.ID != id {
			t.Errorf("first: %+v, want 201 %s", r1.Items[i], id)
		}
		res := r2.Items[i].Result
		if res.Status != 409 || res.ID != id || res.Error == nil || res.Error.Type != wire.BulkErrVersionConflict || !res.OK() ||
			!strings.HasPrefix(res.Error.Reason, "["+id+"]: version conflict") {
			t.Errorf("second: %+v, want 409 version_conflict_engine_exception for %s", res, id)
		}
	}
	snap := es.s.Snapshot()
	if !r2.Errors || snap.Streams.Distinct != 3 || snap.Streams.Duplicates != 0 || snap.Bulk.Conflicts != 3 || snap.Bulk.DocsStored != 3 {
		t.Errorf("streams %+v conflicts %d stored %d: want 3 stored once, 3 conflicts", snap.Streams, snap.Bulk.Conflicts, snap.Bulk.DocsStored)
	}
	// A request that fails as a whole stores no id: its creates succeed later.
	tooBig := startBulk(t, Config{Bulk: BulkConfig{MaxBodyBytes: int64(len(body) - 1)}})
	tooBig.mustPost("/_bulk", nil, body)
	if n := len(tooBig.s.bulk.ids.seen); n != 0 {
		t.Errorf("%d ids remembered after a 413", n)
	}

	vl := startBulk(t, Config{Bulk: BulkConfig{Flavour: FlavourVictoriaLogs}})
	vl.mustPost("/insert/elasticsearch/_bulk", nil, body)
	_, b := vl.mustPost("/insert/elasticsearch/_bulk", nil, body)
	if r := parseBulk(t, b); r.Items[0].Result.Status != 201 {
		t.Errorf("victorialogs: %s, want ids ignored", b)
	}
	if snap := vl.s.Snapshot(); snap.Streams.Duplicates != 3 {
		t.Errorf("victorialogs duplicates %d, want 3", snap.Streams.Duplicates)
	}
}

func TestBulkIDSetBounded(t *testing.T) {
	t.Parallel()
	s := idSet{limit: 3, seen: map[uint64]struct{}{}}
	for h := uint64(1); h <= 5; h++ {
		s.add(h)
	}
	if len(s.seen) != 3 || s.has(1) || s.has(2) || !s.has(3) || !s.has(5) {
		t.Errorf("seen %v: want the newest 3", s.seen)
	}
}

func TestBulkContentType(t *testing.T) {
	t.Parallel()
	body := ndjson(`{"create":{}}`, stampDocs(1, 1, 3)...)
	for _, tc := range []struct {
		flavour, ct string
		stored      uint64
	}{
		{FlavourVictoriaLogs, "-", 0},
		{FlavourVictoriaLogs, "application/json", 0},
		{FlavourVictoriaLogs, "application/x-ndjson; charset=utf-8", 3},
		{FlavourElasticsearch, "-", 3},
	} {
		c := startBulk(t, Config{Bulk: BulkConfig{Flavour: tc.flavour}})
		resp, b := c.mustPost("/logs/_bulk", http.Header{"Content-Type": {tc.ct}}, body)
		snap := c.s.Snapshot()
		wantMissing := uint64(1)
		if tc.stored == 3 && tc.ct != "-" {
			wantMissing = 0
		}
		if resp.StatusCode != 200 || snap.Streams.Distinct != tc.stored || snap.Bulk.MissingContentType != wantMissing {
			t.Errorf("%s %q: %d %s, stored %d, missing content type %d; want 200, %d, %d", tc.flavour, tc.ct, resp.StatusCode, b,
				snap.Streams.Distinct, snap.Bulk.MissingContentType, tc.stored, wantMissing)
		}
		if tc.stored == 0 && string(b) != `{"took":0,"errors":false,"items":[]}` {
			t.Errorf("victorialogs without x-ndjson: %s", b)
		}
	}
}

func TestBulkGzip(t *testing.T) {
	t.Parallel()
	c := startBulk(t, Config{})
	body := ndjson(`{"create":{}}`, stampDocs(1, 1, 50)...)
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write(body)
	zw.Close()
	gz := http.Header{"Content-Encoding": {"gzip"}}
	resp, b := c.mustPost("/logs/_bulk", gz, zb.Bytes())
	if r := parseBulk(t, b); resp.StatusCode != 200 || len(r.Items) != 50 || r.Errors {
		t.Fatalf("gzip: %d %s", resp.StatusCode, b)
	}
	resp, b = c.mustPost("/logs/_bulk", gz, body) // not gzip
	if resp.StatusCode != 400 {
		t.Errorf("plain body said to be gzip: %d %s, want 400", resp.StatusCode, b)
	}
	resp, b = c.mustPost("/logs/_bulk", gz, zb.Bytes()[:zb.Len()-6]) // cut short
	if resp.StatusCode != 400 {
		t.Errorf("truncated gzip: %d %s, want 400", resp.StatusCode, b)
	}
	corrupt := bytes.Clone(zb.Bytes())
	for i := 20; i < len(corrupt)-20; i += 7 {
		corrupt[i] ^= 0x5a
	}
	resp, b = c.mustPost("/logs/_bulk", gz, corrupt)
	if resp.StatusCode != 400 {
		t.Errorf("corrupt gzip: %d %s, want 400", resp.StatusCode, b)
	}
	snap := c.s.Snapshot()
	if snap.Streams.Distinct != 50 || snap.Bulk.GzipRequests != 4 || snap.Bulk.DecodedBytes < uint64(len(body)) || snap.Bulk.BodyBytes >= snap.Bulk.DecodedBytes {
		t.Errorf("distinct %d bulk %+v: want 50 stored, 4 gzip requests, body < decoded", snap.Streams.Distinct, snap.Bulk)
	}
	// The size limit applies to the decoded body: a small gzip of a large body is 413.
	small := startBulk(t, Config{Bulk: BulkConfig{MaxBodyBytes: int64(len(body) - 1)}})
	if resp, b := small.mustPost("/logs/_bulk", gz, zb.Bytes()); resp.StatusCode != 413 {
		t.Errorf("gzip above the limit: %d %s, want 413", resp.StatusCode, b)
	}
}

func TestBulkMalformed(t *testing.T) {
	t.Parallel()
	good := stampDocs(1, 1, 3)
	mixed := ndjson(`{"create":{}}`, good[0], good[1], []byte(`not json`), good[2])
	for _, tc := range []struct {
		name, flavour, path string
		body                []byte
		status              int
		stored              uint64
		check               func(t *testing.T, b []byte)
	}{
		{"es doc", FlavourElasticsearch, "/logs/_bulk", mixed, 200, 3, func(t *testing.T, b []byte) {
			r := parseBulk(t, b)
			if !r.Errors || r.Items[2].Result.Status != 400 || r.Items[2].Result.Error.Type != wire.BulkErrMapping || r.Items[3].Result.Status != 201 {
				t.Errorf("got %s, want item 3 a 400 mapper_parsing_exception", b)
			}
		}},
		{"quickwit doc", FlavourQuickwit, "/api/v1/_elastic/logs/_bulk", mixed, 200, 3, nil},
		{"victorialogs doc", FlavourVictoriaLogs, "/insert/elasticsearch/_bulk", mixed, 400, 2, func(t *testing.T, b []byte) {
			if !bytes.Contains(b, []byte("cannot decode log message #2")) || json.Valid(b) {
				t.Errorf("got %s, want a plain-text cannot decode log message", b)
			}
		}},
		{"zincsearch doc", FlavourZincSearch, "/es/logs/_bulk", mixed, 500, 2, func(t *testing.T, b []byte) {
			if len(b) != 0 {
				t.Errorf("got %q, want an empty body", b)
			}
		}},
		{"es action", FlavourElasticsearch, "/logs/_bulk", append(ndjson(`{"create":{}}`, good[0]), "{\"delete\":{}}\n{}\n"...), 400, 0, nil},
		{"es no doc", FlavourElasticsearch, "/logs/_bulk", append(ndjson(`{"create":{}}`, good[0]), "{\"create\":{}}\n"...), 400, 0, nil},
		{"es no index", FlavourElasticsearch, "/_bulk", ndjson(`{"create":{}}`, good...), 400, 0, func(t *testing.T, b []byte) {
			if !bytes.Contains(b, []byte("action_request_validation_exception")) {
				t.Errorf("got %s", b)
			}
		}},
		{"es index in action", FlavourElasticsearch, "/_bulk", ndjson(`{"create":{"_index":"x"}}`, good...), 200, 3, nil},
		{"blank lines and no final newline", FlavourElasticsearch, "/logs/_bulk", bytes.TrimSuffix(append([]byte("\n\n"), ndjson(`{"index":{}}`, good...)...), []byte("\n")), 200, 3, nil},
		{"line too long", FlavourElasticsearch, "/logs/_bulk", ndjson(`{"create":{}}`, lineDoc(strings.Repeat("y", 300<<10))), 400, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := startBulk(t, Config{MaxLineBytes: 256 << 10, Bulk: BulkConfig{Flavour: tc.flavour}})
			resp, b := c.mustPost(tc.path, nil, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("got %d %s, want %d", resp.StatusCode, b, tc.status)
			}
			if tc.check != nil {
				tc.check(t, b)
			}
			if snap := c.s.Snapshot(); snap.Streams.Distinct != tc.stored || snap.Bulk.DocsStored != tc.stored {
				t.Errorf("stored %d (recorded %d), want %d", snap.Bulk.DocsStored, snap.Streams.Distinct, tc.stored)
			}
		})
	}
}

func TestBulkOtherRequests(t *testing.T) {
	t.Parallel()
	c := startBulk(t, Config{})
	for _, tc := range []struct {
		method, path string
		status       int
	}{{"GET", "/", 200}, {"GET", "/health", 200}, {"GET", "/logs/_bulk", 405}, {"GET", "/nope", 404}, {"POST", "/logs/_doc", 404}} {
		req, _ := http.NewRequest(tc.method, "http://"+c.s.Addr().String()+tc.path, nil)
		resp, err := c.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.status)
		}
	}
}

// TestBulkMessages: the stamp is found in the message field after
// unescaping, or anywhere in a document without one; the checked bytes are
// the messages'.
func TestBulkMessages(t *testing.T) {
	t.Parallel()
	c := startBulk(t, Config{Bulk: BulkConfig{MessageField: "log"}})
	st := func(q uint64) string {
		return string(wire.AppendStamp(nil, wire.Stamp{Stream: 4, Seq: q, SentNs: time.Now().UnixNano()}))
	}
	docs := [][]byte{
		[]byte(`{"@timestamp":"t","log":"a \"quoted\" \u00e9 \ud83d\ude00 ` + st(1) + `"}`),
		[]byte(`{"nested":{"log":"lr1:1:999:1"},"log":"` + st(2) + `","@timestamp":"t"}`),
		[]byte(`{"level":"info","stamp":"` + st(3) + `"}`),            // no log field: checked whole
		[]byte(`{"log":17,"other":"` + st(4) + `","@timestamp":"t"}`), // not a string: checked whole
		[]byte(`{"@timestamp":"t","log":"no stamp here"}`),            // foreign
	}
	c.mustPost("/logs/_bulk", nil, ndjson(`{"create":{}}`, docs...))
	snap := c.s.Snapshot()
	if snap.Streams.Distinct != 4 || snap.Streams.Foreign != 1 || snap.Bulk.DocsNoMessage != 2 || snap.Bulk.DocsNoTimestamp != 1 {
		t.Errorf("streams %+v bulk %+v: want 4 distinct, 1 foreign, 2 without the message field, 1 without @timestamp", snap.Streams, snap.Bulk)
	}
	if st, ok := c.s.Recorder().Stream(4); !ok || st.Highest != 4 || st.Missing != 0 {
		t.Errorf("stream 4: %+v", st)
	}
	first := len(`a "quoted" é 😀 `) + wire.StampLen + 1
	if snap.Bytes < uint64(first) {
		t.Errorf("bytes %d", snap.Bytes)
	}
}

// TestBulkEndToEnd posts stamped batches from several concurrent
// clients, with item failures resent, and checks the final report.
func TestBulkEndToEnd(t *testing.T) {
	t.Parallel()
	const streams, batches, per = 4, 25, 40
	dir := t.TempDir()
	c := startBulk(t, Config{Expect: streams * batches * per, MaxBatch: per, Report: dir + "/report.json", Seed: 11,
		Bulk: BulkConfig{ItemRejectRate: 0.05}})
	var wg sync.WaitGroup
	errs := make(chan error, streams)
	for sID := range uint32(streams) {
		wg.Go(func() {
			for bn := range uint64(batches) {
				docs := stampDocs(sID, bn*per+1, (bn+1)*per)
				seq := uint64(sID)*1000 + bn + 1
				flush := time.Now().UnixNano()
				for len(docs) > 0 {
					_, b, err := c.post("/logs/_bulk?filter_path=errors,items.*.status,items.*.error", batchHeaders(seq, len(docs), wire.ReasonSize, flush), ndjson(`{"create":{}}`, docs...))
					if err != nil {
						errs <- err
						return
					}
					var r wire.BulkResponse
					if err := json.Unmarshal(b, &r); err != nil {
						errs <- err
						return
					}
					var again [][]byte
					for i, it := range r.Items {
						if it.Result.Retryable() {
							again = append(again, docs[i])
						}
					}
					docs = again
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := c.s.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
	snap := c.s.Snapshot()
	if snap.Batches != streams*batches || snap.BatchSizes["size"][per] != streams*batches || snap.Bulk.PartRequests == 0 {
		t.Errorf("batches %d sizes %s parts %d: want %d batches of %d", snap.Batches, sizes(snap.BatchSizes, "size"), snap.Bulk.PartRequests, streams*batches, per)
	}
	var text bytes.Buffer
	if err := snap.WriteText(&text); err != nil || !strings.Contains(text.String(), "bulk         elasticsearch flavour") {
		t.Errorf("text report (%v):\n%s", err, text.String())
	}
	js, err := json.Marshal(snap)
	if err != nil || !bytes.Contains(js, []byte(`"bulk":{"flavour":"elasticsearch"`)) || !bytes.Contains(js, []byte(`"items_by_status":{"201":4000,"429":`)) {
		t.Errorf("JSON report (%v): %s", err, js)
	}
}

func TestBulkConfigInvalid(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{
		{Mode: ModeBulk, Bulk: BulkConfig{Flavour: "loki"}},
		{Mode: ModeBulk, Bulk: BulkConfig{ItemRejectRate: 1.5}},
		{Mode: ModeBulk, Bulk: BulkConfig{ItemRejectRate: 0.6, ItemInvalidRate: 0.6}},
		{Mode: ModeBulk, Bulk: BulkConfig{Flavour: FlavourVictoriaLogs, ItemRejectRate: 0.1}},
		{Mode: ModeBulk, Bulk: BulkConfig{RetryAfter: -time.Second}},
		{Mode: ModeBulk, Bulk: BulkConfig{MaxBodyBytes: -1}},
		{Mode: ModeBulk, NackRate: 0.1},
	} {
		if _, err := New(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v, want ErrConfig", cfg.Bulk, err)
		}
	}
}

// TestBulkSenderRestarts: a relay restarted twice numbers its batches
// from 1 each time; every batch of the old numbering collides, but each
// restart counts once.
func TestBulkSenderRestarts(t *testing.T) {
	t.Parallel()
	c := startBulk(t, Config{})
	t0 := time.Now().UnixNano()
	stream := uint32(1)
	for epoch, n := range []uint64{4, 3, 2} {
		for seq := uint64(1); seq <= n; seq++ {
			flush := t0 + int64(epoch)*1e9 + int64(seq)
			c.mustPost("/logs/_bulk", batchHeaders(seq, 2, wire.ReasonSize, flush), ndjson(`{"create":{}}`, stampDocs(stream, 1, 2)...))
			stream++
		}
	}
	if snap := c.s.Snapshot(); snap.SenderRestarts != 2 || snap.Batches != 9 {
		t.Errorf("restarts %d batches %d, want 2 restarts, 9 batches", snap.SenderRestarts, snap.Batches)
	}
}
