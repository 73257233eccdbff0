package mockdest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

// qwShipper ships batches to the ingest API as the issue asks of the
// Quickwit sink: a 200's parse failures are dead-lettered, the rest are
// delivered; 429, 500 and 503 are retried (Retry-After honoured, capped
// for the test); 413 splits the request; a broken or unparsable answer
// resends the request whole (Quickwit has no ids: duplicates).
type qwShipper struct {
	t          *testing.T
	hc         *http.Client
	url        string
	dead       map[wire.Stamp]bool // dead-lettered, by stream and seq (SentNs zeroed)
	resends    int                 // after a transport error or a broken answer
	retries    int                 // after 429/500/503
	splits     int
	retryAfter int // Retry-After headers seen
}

func (sh *qwShipper) ship(seq uint64, flushNs int64, docs [][]byte) {
	queue := [][][]byte{docs}
	for len(queue) > 0 {
		part := queue[0]
		queue = queue[1:]
		for attempt := 0; ; attempt++ {
			if attempt > 200 {
				sh.t.Fatalf("batch %d: no success after %d attempts", seq, attempt)
			}
			req, _ := http.NewRequest(http.MethodPost, sh.url, bytes.NewReader(docLines(part...)))
			req.Header.Set("Content-Type", "application/x-ndjson")
			wire.SetBatchHeaders(req.Header, wire.Header{Seq: seq, Reason: wire.ReasonSize, OldestNs: flushNs - 1e9, FlushNs: flushNs}, len(part))
			resp, err := sh.hc.Do(req)
			if err != nil {
				sh.resends++
				continue
			}
			var body bytes.Buffer
			_, rerr := body.ReadFrom(resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusOK:
				var r wire.QuickwitIngestResponse
				if rerr != nil || json.Unmarshal(body.Bytes(), &r) != nil || r.NumIngestedDocs == nil {
					sh.resends++
					continue
				}
				for _, f := range r.ParseFailures {
					var doc struct{ Message string }
					_ = json.Unmarshal([]byte(f.Document), &doc)
					st, ok := wire.ParseStamp([]byte(doc.Message))
					if !ok {
						sh.t.Fatalf("dead letter without a stamp: %+v", f)
					}
					st.SentNs = 0
					sh.dead[st] = true
				}
				if int(*r.NumIngestedDocs)+len(r.ParseFailures) != len(part) {
					sh.t.Fatalf("answer %s for %d documents", body.Bytes(), len(part))
				}
			case http.StatusRequestEntityTooLarge:
				if len(part) < 2 {
					sh.t.Fatalf("a single document is too large")
				}
				sh.splits++
				queue = append([][][]byte{part[:len(part)/2], part[len(part)/2:]}, queue...)
			case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusServiceUnavailable:
				sh.retries++
				if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && ra > 0 {
					sh.retryAfter++
					time.Sleep(time.Millisecond) // the test's cap on Retry-After
				}
				continue
			default:
				sh.t.Fatalf("answer %d %s", resp.StatusCode, body.Bytes())
			}
			break
		}
	}
}

// TestIngestEndToEnd ships 2,000 documents in 20 batches through every
// injected failure at once over loopback and checks the final JSON
// report: every document is stored or dead-lettered (the missing ones are
// dead letters), every duplicate follows a broken answer, every late
// arrival an injected failure, and
// each batch is one batch however many requests it took.
func TestIngestEndToEnd(t *testing.T) {
	t.Parallel()
	const streams, perStream, batch = 4, 500, 100
	var docs [][]byte
	for q := uint64(1); q <= perStream; q++ {
		for st := uint32(1); st <= streams; st++ {
			docs = append(docs, lineDoc(stampLine(st, q)))
		}
	}
	report := filepath.Join(t.TempDir(), "report.json")
	cfg := Config{Mode: ModeBulk, Seed: 11, CloseRate: 0.05, Report: report, Expect: streams * perStream, Bulk: BulkConfig{
		Flavour: FlavourQuickwit, RejectRate: 0.1, RetryAfter: time.Second, ServerErrorRate: 0.05, UnavailableRate: 0.05,
		BreakRate: 0.05, TruncateRate: 0.05, ParseFailureRate: 0.02, MaxBodyBytes: int64(len(docLines(docs[:70]...))),
	}}
	s, stop := serve(t, cfg)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	sh := &qwShipper{t: t, hc: &http.Client{Transport: tr, Timeout: 10 * time.Second},
		url: "http://" + s.Addr().String() + wire.QuickwitIngestPath("logs") + "?detailed_response=true", dead: map[wire.Stamp]bool{}}
	flush := time.Now().UnixNano()
	for b := 0; b < len(docs)/batch; b++ {
		sh.ship(uint64(b+1), flush+int64(b), docs[b*batch:(b+1)*batch])
	}
	for st := uint32(1); st <= streams; st++ {
		for _, r := range s.MissingRanges(st, perStream) {
			for q := r.From; q <= r.To; q++ {
				if !sh.dead[wire.Stamp{Stream: st, Seq: q}] {
					t.Errorf("stream %d seq %d missing but not dead-lettered", st, q)
				}
			}
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Batches uint64
		Streams struct{ Distinct, Missing, Duplicates, Reordered uint64 }
		Bulk    BulkStats
	}
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	st, b, qw := rep.Streams, rep.Bulk, rep.Bulk.QuickwitIngest
	dead := uint64(len(sh.dead))
	t.Logf("%d dead letters, %d resends, %d retries (%d with Retry-After), %d splits; streams %+v; injected %+v",
		dead, sh.resends, sh.retries, sh.retryAfter, sh.splits, st, b.Injected)
	// A resend after a broken answer rolls the parse failures again: a
	// document rejected in one attempt may be stored by another, and one
	// may be rejected twice.
	if st.Distinct+st.Missing != streams*perStream || st.Missing == 0 || st.Missing > dead || dead > qw.RejectedInjected {
		t.Errorf("distinct %d missing %d dead letters %d rejected %d: want distinct + missing = %d, 0 < missing ≤ dead ≤ rejected",
			st.Distinct, st.Missing, dead, qw.RejectedInjected, streams*perStream)
	}
	if st.Duplicates != b.DuplicatesAfterBreak || st.Duplicates == 0 || b.DocsStored != st.Distinct+st.Duplicates {
		t.Errorf("duplicates %d after a break %d stored %d: want every duplicate after a break, stored = distinct + duplicates",
			st.Duplicates, b.DuplicatesAfterBreak, b.DocsStored)
	}
	if rep.Batches != len64(docs)/batch || b.PartRequests == 0 || b.TooLarge == 0 || st.Reordered != b.ReorderedAfterFault {
		t.Errorf("batches %d parts %d too large %d reordered %d after a fault %d: want %d batches, split ones joined, late ones only after a fault",
			rep.Batches, b.PartRequests, b.TooLarge, st.Reordered, b.ReorderedAfterFault, len(docs)/batch)
	}
	i := b.Injected
	if i.RequestsRejected == 0 || i.ServerErrors == 0 || i.Unavailable == 0 || i.Broken == 0 || i.Truncated == 0 || i.ClosedOnArrival == 0 || sh.retryAfter == 0 {
		t.Errorf("injected %+v, %d Retry-After: want each kind at least once", i, sh.retryAfter)
	}
}

func len64[T any](s []T) uint64 { return uint64(len(s)) }
