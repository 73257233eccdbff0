// Package quickwit provides the relay's sink for Quickwit's ingest API:
// each request is POST /api/v1/<index>/ingest?commit=…&detailed_response=true
// with one NDJSON document a line, shaped as the _bulk sink's documents
// (wire.BulkEncoder.AppendDocument). The delivery (workers, retries,
// splits, dead letters, metrics, health) is package httpsink's.
//
// Quickwit's answers:
//
//   - 200 with num_ingested_docs and num_rejected_docs: the rejected
//     documents (parse_failures, each quoting the document as sent) are
//     rejected for good: counted, logged, dead-lettered with the original
//     line; the others are delivered. A failure is matched to the
//     request's documents by its document text (the first document not yet
//     matched with that exact text); a rejection the answer counts but
//     whose document matches none is counted
//     (logrelay_quickwit_unattributed_rejections_total) and not
//     dead-lettered.
//   - 429 (rate limited, WAL full, load shedding), 500, 503 and 408: resent
//     whole after the backoff, at least Retry-After (capped by --retry-max).
//   - 413: split in halves; a single document is rejected. No body larger
//     than Config.MaxBody (Quickwit's 10 MiB default) is ever built.
//   - 400: split like 413 (Quickwit stores nothing of a failed request; the
//     sink builds the query and index itself, so a 400 is a document's).
//   - 404 (no such index), 401, 403 and others: the destination's refusal,
//     logged at error and retried for as long as it lasts; nothing dropped.
//   - no answer, a truncated or malformed 200: resent whole. Quickwit has
//     no document ids, so a resend after a lost answer stores the
//     documents again (counted in logrelay_quickwit_possible_duplicates_total).
package quickwit

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/logrelay/logrelay/internal/sink/httpsink"
	"github.com/logrelay/logrelay/internal/wire"
)

// ErrConfig means a sink option is invalid.
var ErrConfig = errors.New("invalid Quickwit sink configuration")

// Config configures a Sink. The delivery policy comes from the relay's
// Feed.
type Config struct {
	// Client holds the headers, gzip, TLS, credentials, dead-letter
	// file, connections and logger.
	httpsink.Client
	// URL is Quickwit's base URL, http or https, without the /api/v1 part
	// (a path before it is kept, for a proxy).
	URL *url.URL
	// Index is the index id the documents go to.
	Index string
	// Commit is wire.QuickwitCommitAuto ("" too), QuickwitCommitWaitFor or
	// QuickwitCommitForce.
	Commit string
	// Format names the documents' time and message fields (its Index is
	// not used).
	Format wire.BulkFormat
	// MaxBody is the largest uncompressed body sent; 0 means
	// wire.DefaultQuickwitMaxBody.
	MaxBody int
}

// Sink delivers relay batches to Quickwit's ingest API. It is a
// relay.Sink, a prometheus.Collector and a relay.HealthReporter.
type Sink struct {
	*httpsink.Core
	cfg Config
}

// New checks c and returns a sink. It opens the dead-letter file.
func New(c Config) (*Sink, error) {
	if err := httpsink.CheckURL(c.URL); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if !wire.QuickwitValidIndexID(c.Index) {
		return nil, fmt.Errorf("%w: index id %q: want ^[a-zA-Z][a-zA-Z0-9-_.]{2,254}$", ErrConfig, c.Index)
	}
	switch c.Commit {
	case "":
		c.Commit = wire.QuickwitCommitAuto
	case wire.QuickwitCommitAuto, wire.QuickwitCommitWaitFor, wire.QuickwitCommitForce:
	default:
		return nil, fmt.Errorf("%w: commit %q: want %s, %s or %s", ErrConfig, c.Commit,
			wire.QuickwitCommitAuto, wire.QuickwitCommitWaitFor, wire.QuickwitCommitForce)
	}
	if c.MaxBody <= 0 {
		c.MaxBody = wire.DefaultQuickwitMaxBody
	}
	u := *c.URL
	u.Path = strings.TrimSuffix(u.Path, "/") + wire.QuickwitIngestPath(c.Index)
	u.RawPath, u.User = "", nil
	u.RawQuery = url.Values{"commit": {c.Commit}, "detailed_response": {"true"}}.Encode()
	s := &Sink{cfg: c}
	var err error
	s.Core, err = httpsink.NewCore(httpsink.Config{
		NewEngine: func(*httpsink.Core) httpsink.Engine { return s.newEngine() },
		Client:    c.Client, Scheme: "quickwit", Endpoint: &u, API: "Quickwit ingest",
		ContentType: wire.BulkContentType, MaxBody: c.MaxBody,
		// parse failures quote the documents, JSON-escaped and indented
		ResponseLimit: func(n, bodyLen int) int64 { return int64(4096 + 1024*n + 2*bodyLen) },
		Metrics:       httpsink.MetricsConfig{Prefix: "logrelay_quickwit", API: "Quickwit ingest", Unattributed: true},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return s, nil
}

// engine is one worker's encoder and answer reader.
type engine struct {
	s     *Sink
	enc   *wire.BulkEncoder
	body  []byte // the last body encoded (the driver's buffer)
	ends  []int  // ends[j]: end of document j's line in body, '\n' excluded
	items []httpsink.Item
}

func (s *Sink) newEngine() *engine { return &engine{s: s, enc: wire.NewBulkEncoder(s.cfg.Format)} }

// Encode appends the documents of idx, one a line.
func (e *engine) Encode(dst []byte, _ wire.Header, msgs [][]byte, recvs []int64, idx []int32) []byte {
	before := e.enc.Replaced()
	start := len(dst)
	e.ends = e.ends[:0]
	for _, i := range idx {
		dst = e.enc.AppendDocument(dst, msgs[i], recvs[i])
		e.ends = append(e.ends, len(dst)-1-start)
	}
	e.s.M.Replaced.Add(e.enc.Replaced() - before)
	e.body = dst[start:]
	return dst
}

// doc returns the line of document j of the last body.
func (e *engine) doc(j int) []byte {
	lo := 0
	if j > 0 {
		lo = e.ends[j-1] + 1
	}
	return e.body[lo:e.ends[j]]
}

// Classify reads an ingest answer.
func (e *engine) Classify(a httpsink.Answer, idx []int32) httpsink.Verdict {
	n := len(idx)
	switch {
	case a.TransportErr != nil:
		return httpsink.Unanswered(0, a.TransportErr.Error())
	case a.Status == http.StatusOK:
		if a.ReadErr != nil {
			return httpsink.Unanswered(a.Status, a.ReadErr.Error())
		}
		var r wire.QuickwitIngestResponse
		if err := json.Unmarshal(a.Body, &r); err != nil {
			return httpsink.Unanswered(a.Status, fmt.Sprintf("malformed Quickwit ingest answer: %v (%s)", err, httpsink.Excerpt(a.Body)))
		}
		if r.NumDocsForProcessing != uint64(n) {
			return httpsink.Unanswered(a.Status, fmt.Sprintf("malformed Quickwit ingest answer: %d documents for processing, %d sent", r.NumDocsForProcessing, n))
		}
		v := httpsink.Verdict{Act: httpsink.ActItems, Status: a.Status, StoredBefore: -1}
		if r.NumRejectedDocs == nil || *r.NumRejectedDocs == 0 {
			v.AllOK = true
			return v
		}
		v.Items = e.match(r, n)
		return v
	case a.Status >= 200 && a.Status < 300:
		return httpsink.Unanswered(a.Status, fmt.Sprintf("unexpected HTTP %d from the Quickwit ingest API", a.Status))
	case a.Status == http.StatusBadRequest:
		return httpsink.Verdict{Act: httpsink.ActSplit, Status: a.Status, Reason: reason(a), StoredBefore: -1}
	}
	return httpsink.ClassifyStatus(a, reason(a))
}

// match files the parse failures of r against the n documents sent.
func (e *engine) match(r wire.QuickwitIngestResponse, n int) []httpsink.Item {
	e.items = e.items[:0]
	for range n {
		e.items = append(e.items, httpsink.Item{Outcome: httpsink.Delivered, Status: http.StatusOK})
	}
	byDoc := make(map[string][]int, len(r.ParseFailures))
	for _, f := range r.ParseFailures {
		byDoc[f.Document] = nil
	}
	for j := range n {
		if d := e.doc(j); len(d) > 0 {
			if l, ok := byDoc[string(d)]; ok {
				byDoc[string(d)] = append(l, j)
			}
		}
	}
	matched := 0
	for _, f := range r.ParseFailures {
		l := byDoc[f.Document]
		if len(l) == 0 {
			continue
		}
		j := l[0]
		byDoc[f.Document] = l[1:]
		e.items[j] = httpsink.Item{Outcome: httpsink.Rejected, Status: http.StatusOK,
			Reason: "Quickwit parse failure: " + f.Reason + ": " + f.Message}
		matched++
	}
	if rej := int(*r.NumRejectedDocs); rej > matched {
		e.s.M.Unattributed.Add(uint64(rej - matched))
	}
	return e.items
}

func reason(a httpsink.Answer) string {
	if m := wire.ParseQuickwitError(a.Body); m != "" {
		return fmt.Sprintf("HTTP %d: %s", a.Status, httpsink.ExcerptString(m))
	}
	return fmt.Sprintf("HTTP %d %s", a.Status, http.StatusText(a.Status))
}
