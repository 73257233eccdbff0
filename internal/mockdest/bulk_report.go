package mockdest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/logrelay/logrelay/internal/wire"
)

// BulkStats is what bulk mode answered and stored. Items answered with an
// error are not stored and not recorded; items answered 200/201 are,
// including those of a request whose answer mockdest then broke or
// truncated on purpose (as a real engine has stored them).
type BulkStats struct {
	Flavour          string            `json:"flavour"`
	Requests         uint64            `json:"requests"`           // HTTP requests received
	RequestsByStatus map[string]uint64 `json:"requests_by_status"` // answers by HTTP status (broken and truncated answers count as 200)
	ItemsByStatus    map[string]uint64 `json:"items_by_status"`    // documents by item status, in the 200 answers
	DocsStored       uint64            `json:"docs_stored"`        // documents stored (answered 200/201) and recorded
	BodyBytes        uint64            `json:"body_bytes"`         // request body bytes read, as sent (gzipped or not)
	DecodedBytes     uint64            `json:"decoded_bytes"`      // request body bytes after gunzip
	GzipRequests     uint64            `json:"gzip_requests"`      // requests with Content-Encoding: gzip
	PartRequests     uint64            `json:"part_requests"`      // requests that stored more documents of a batch already recorded (same X-Logrelay-Seq and flush time)

	MissingContentType uint64 `json:"missing_content_type"`   // requests without Content-Type: application/x-ndjson (victorialogs: nothing stored)
	NoBatchHeaders     uint64 `json:"no_batch_headers"`       // requests without X-Logrelay-Seq: each is its own batch, reason "request"
	BadBatchHeaders    uint64 `json:"bad_batch_headers"`      // requests whose X-Logrelay-* headers did not parse (treated as none)
	CountMismatch      uint64 `json:"count_mismatch"`         // requests whose X-Logrelay-Count differs from their documents
	Unauthorized       uint64 `json:"unauthorized"`           // requests answered 401 (BulkConfig.Authorization)
	NotFound           uint64 `json:"not_found"`              // requests to paths other than */_bulk, / and /health (404)
	BadRequests        uint64 `json:"bad_requests"`           // whole-request 400s (and zincsearch's 500s) caused by the body: malformed action line, missing index, bad gzip, over-long line, victorialogs/zincsearch malformed document
	MalformedDocs      uint64 `json:"malformed_docs"`         // documents that are not JSON objects
	TooLarge           uint64 `json:"too_large"`              // requests answered 413 (body above BulkConfig.MaxBodyBytes)
	Conflicts          uint64 `json:"conflicts"`              // creates answered 409: their _id was stored before (not stored again)
	DocsNoTimestamp    uint64 `json:"docs_without_timestamp"` // stored documents without a top-level "@timestamp"
	DocsNoMessage      uint64 `json:"docs_without_message"`   // stored documents without the message field (checked whole)
	ClosedDown         uint64 `json:"closed_down"`            // requests whose connection was closed, unanswered and unstored, because mockdest was down

	// DuplicatesAfterBreak counts the duplicates (also in
	// Streams.Duplicates) that arrived under a batch one of whose answers
	// mockdest broke or truncated on purpose: a shipper cannot know those
	// documents were stored, so resending them is expected.
	DuplicatesAfterBreak uint64 `json:"duplicates_after_break"`
	// ReorderedAfterFault counts the late arrivals (also in
	// Streams.Reordered) of documents under a batch one of whose requests
	// met an injected failure (an item or the whole request failed on
	// purpose, the body was over the limit, the connection was closed, the
	// answer broken): resending what failed while later batches go
	// through reorders them.
	ReorderedAfterFault uint64       `json:"reordered_after_fault"`
	Injected            BulkInjected `json:"injected"`
	// QuickwitIngest is the quickwit flavour's ingest API's part (its
	// requests count in the totals above too); nil in the other flavours.
	QuickwitIngest *QuickwitIngestStats `json:"quickwit_ingest,omitempty"`
}

// QuickwitIngestStats is what the ingest API (/api/v1/<index>/ingest)
// answered and stored.
type QuickwitIngestStats struct {
	Requests          uint64            `json:"requests"`              // requests to /api/v1/<index>/ingest
	RequestsByStatus  map[string]uint64 `json:"requests_by_status"`    // answers by HTTP status (broken and truncated answers count as 200)
	DocsForProcessing uint64            `json:"docs_for_processing"`   // non-blank lines of the answered-200 requests' bodies, as num_docs_for_processing
	DocsIngested      uint64            `json:"docs_ingested"`         // documents stored and recorded (num_ingested_docs)
	RejectedJSON      uint64            `json:"rejected_invalid_json"` // documents rejected as not JSON (invalid_json)
	RejectedNotObject uint64            `json:"rejected_not_object"`   // documents rejected as JSON but not an object (invalid_json)
	RejectedInjected  uint64            `json:"rejected_injected"`     // valid documents rejected on purpose (invalid_schema, BulkConfig.ParseFailureRate)
	DetailedResponses uint64            `json:"detailed_responses"`    // 200 answers with parse_failures (detailed_response=true)
	Commits           map[string]uint64 `json:"commits"`               // accepted requests by commit argument: auto, wait_for, force
	Empty             uint64            `json:"empty_requests"`        // requests without a document (200, num_docs_for_processing 0)
	IndexNotFound     uint64            `json:"index_not_found"`       // requests to an index not in BulkConfig.Indexes (404)
	InvalidIndexID    uint64            `json:"invalid_index_id"`      // requests to an id Quickwit rejects (400)
	BadQuery          uint64            `json:"bad_query"`             // requests with a bad commit or detailed_response argument (400)
	LengthRequired    uint64            `json:"length_required"`       // requests without Content-Length (chunked; 411)
	MethodNotAllowed  uint64            `json:"method_not_allowed"`    // requests other than POST (405)
	BadEncoding       uint64            `json:"unsupported_encoding"`  // requests with a Content-Encoding other than gzip (415)
}

// BulkInjected counts the failures bulk mode injected on purpose.
type BulkInjected struct {
	ItemsRejected    uint64 `json:"items_rejected"`    // items answered 429 (BulkConfig.ItemRejectRate)
	ItemsInvalid     uint64 `json:"items_invalid"`     // items answered 400 mapper_parsing_exception (ItemInvalidRate)
	RequestsRejected uint64 `json:"requests_rejected"` // requests answered 429 (RejectRate)
	WindowRejected   uint64 `json:"window_rejected"`   // requests answered 429 inside the RejectFrom/RejectFor window
	ServerErrors     uint64 `json:"server_errors"`     // requests answered 500 (ServerErrorRate)
	Unavailable      uint64 `json:"unavailable"`       // requests answered 503 (UnavailableRate)
	Broken           uint64 `json:"broken_answers"`    // answers cut off mid-body, documents stored (BreakRate)
	Truncated        uint64 `json:"truncated_answers"` // answers with half a JSON body, documents stored (TruncateRate)
	Delayed          uint64 `json:"delayed_answers"`   // answers delayed (Config.AckDelay, AckJitter)
	ClosedOnArrival  uint64 `json:"closed_on_arrival"` // requests whose connection was closed unanswered, nothing stored (Config.CloseRate; also in misbehaviour.conns_closed)
}

// byStatus returns the non-zero counts of a by status code.
func byStatus(a *[600]atomic.Uint64) map[string]uint64 {
	m := make(map[string]uint64)
	for i := range a {
		if v := a[i].Load(); v > 0 {
			m[strconv.Itoa(i)] = v
		}
	}
	return m
}

func (b *bulkServer) ingestStats() *QuickwitIngestStats {
	c := &b.c.qw
	commits := make(map[string]uint64, len(qwCommits))
	for i, name := range qwCommits {
		commits[name] = c.commits[i].Load()
	}
	return &QuickwitIngestStats{
		Requests:          c.requests.Load(),
		RequestsByStatus:  byStatus(&c.byStatus),
		DocsForProcessing: c.docs.Load(),
		DocsIngested:      c.ingested.Load(),
		RejectedJSON:      c.invalidJSON.Load(),
		RejectedNotObject: c.notObject.Load(),
		RejectedInjected:  c.injectedFails.Load(),
		DetailedResponses: c.detailed.Load(),
		Commits:           commits,
		Empty:             c.empty.Load(),
		IndexNotFound:     c.indexNotFound.Load(),
		InvalidIndexID:    c.invalidIndex.Load(),
		BadQuery:          c.badQuery.Load(),
		LengthRequired:    c.lengthRequired.Load(),
		MethodNotAllowed:  c.methodNotAllowed.Load(),
		BadEncoding:       c.badEncoding.Load(),
	}
}

func (s *Server) bulkStats() *BulkStats {
	c := &s.bulk.c
	st := &BulkStats{
		Flavour:            s.bulk.cfg.Flavour,
		Requests:           c.requests.Load(),
		RequestsByStatus:   byStatus(&c.byStatus),
		ItemsByStatus:      byStatus(&c.itemsByStatus),
		DocsStored:         c.stored.Load(),
		BodyBytes:          c.bodyBytes.Load(),
		DecodedBytes:       c.decodedBytes.Load(),
		GzipRequests:       c.gzipRequests.Load(),
		MissingContentType: c.noContentType.Load(),
		NoBatchHeaders:     c.noBatchHeaders.Load(),
		BadBatchHeaders:    c.badBatchHeaders.Load(),
		CountMismatch:      c.countDiffs.Load(),
		Unauthorized:       c.unauthorized.Load(),
		NotFound:           c.notFound.Load(),
		BadRequests:        c.badRequests.Load(),
		MalformedDocs:      c.malformed.Load(),
		TooLarge:           c.tooLarge.Load(),
		Conflicts:          c.conflicts.Load(),
		DocsNoTimestamp:    c.noTimestamp.Load(),
		DocsNoMessage:      c.noMessage.Load(),
		ClosedDown:         c.closedDown.Load(),
		Injected: BulkInjected{
			ItemsRejected:    c.itemsRejected.Load(),
			ItemsInvalid:     c.itemsInvalid.Load(),
			RequestsRejected: c.rejected.Load(),
			WindowRejected:   c.windowRejected.Load(),
			ServerErrors:     c.serverErrors.Load(),
			Unavailable:      c.unavailable.Load(),
			Broken:           c.broken.Load(),
			Truncated:        c.truncated.Load(),
			Delayed:          c.delayed.Load(),
			ClosedOnArrival:  s.mis.connsClosed.Load(),
		},
	}
	if s.bulk.cfg.Flavour == FlavourQuickwit {
		st.QuickwitIngest = s.bulk.ingestStats()
	}
	s.rec.mu.Lock()
	st.PartRequests, st.DuplicatesAfterBreak, st.ReorderedAfterFault = s.rec.bulk.parts, s.rec.bulk.dupsAfterBreak, s.rec.bulk.reorderedAfterFault
	s.rec.mu.Unlock()
	return st
}

// startBulk runs the HTTP server of ModeBulk in g until ctx ends, then
// closes it and waits for its handlers.
func (s *Server) startBulk(ctx context.Context, g *errgroup.Group) {
	s.bulk.startNs.Store(time.Now().UnixNano())
	srv := s.bulkHTTPServer()
	g.Go(func() error {
		if err := srv.Serve(s.bulk.ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("bulk: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		s.bulk.stopHandlers()
		err := srv.Close()
		s.bulk.wg.Wait()
		return err
	})
}

// writeText writes bulk mode's part of the text report.
func (b *BulkStats) writeText(w io.Writer) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	statuses := func(m map[string]uint64) string {
		keys := sortedKeys(m)
		out := ""
		for _, k := range keys {
			out += fmt.Sprintf(" %s×%d", k, m[k])
		}
		if out == "" {
			return " none"
		}
		return out
	}
	p("  bulk         %s flavour: %d requests, %d documents stored, %d body bytes (%d decoded, %d gzip requests), %d part requests\n",
		b.Flavour, b.Requests, b.DocsStored, b.BodyBytes, b.DecodedBytes, b.GzipRequests, b.PartRequests)
	p("    answers   by status:%s\n", statuses(b.RequestsByStatus))
	p("    items     by status:%s\n", statuses(b.ItemsByStatus))
	p("    requests  %d without x-ndjson content type, %d without batch headers, %d bad batch headers, %d count mismatches, "+
		"%d unauthorized, %d not found, %d bad requests, %d too large, %d closed while down\n",
		b.MissingContentType, b.NoBatchHeaders, b.BadBatchHeaders, b.CountMismatch, b.Unauthorized, b.NotFound,
		b.BadRequests, b.TooLarge, b.ClosedDown)
	p("    documents %d malformed, %d conflicts (409), %d without @timestamp, %d without the message field, %d duplicates after a broken answer, %d reordered after an injected failure\n",
		b.MalformedDocs, b.Conflicts, b.DocsNoTimestamp, b.DocsNoMessage, b.DuplicatesAfterBreak, b.ReorderedAfterFault)
	i := b.Injected
	p("    injected  %d items 429, %d items 400, %d requests 429 (+%d in the window), %d 500s, %d 503s, %d broken and %d truncated answers, %d delayed, %d closed on arrival\n",
		i.ItemsRejected, i.ItemsInvalid, i.RequestsRejected, i.WindowRejected, i.ServerErrors, i.Unavailable, i.Broken, i.Truncated, i.Delayed, i.ClosedOnArrival)
	if g := b.QuickwitIngest; g != nil {
		p("  ingest api   %d requests, %d documents for processing, %d ingested, commits auto %d wait_for %d force %d, %d detailed responses\n",
			g.Requests, g.DocsForProcessing, g.DocsIngested, g.Commits[wire.QuickwitCommitAuto], g.Commits[wire.QuickwitCommitWaitFor],
			g.Commits[wire.QuickwitCommitForce], g.DetailedResponses)
		p("    answers   by status:%s\n", statuses(g.RequestsByStatus))
		p("    rejected  %d invalid JSON, %d not an object, %d injected (invalid_schema)\n", g.RejectedJSON, g.RejectedNotObject, g.RejectedInjected)
		p("    requests  %d empty, %d index not found, %d invalid index id, %d bad query, %d without content-length, %d not POST, %d unsupported encoding\n",
			g.Empty, g.IndexNotFound, g.InvalidIndexID, g.BadQuery, g.LengthRequired, g.MethodNotAllowed, g.BadEncoding)
	}
}
