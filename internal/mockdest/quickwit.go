package mockdest

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/logrelay/logrelay/internal/wire"
)

// Quickwit's ingest API, served by bulk mode in the quickwit flavour next
// to /api/v1/_elastic/_bulk, as Quickwit (ingest v2, its default) answers
// it: POST /api/v1/<index>/ingest?commit=…&detailed_response=…, an NDJSON
// body of documents, pretty-printed JSON answers (wire.QuickwitIngestResponse,
// wire.QuickwitError). The checks run in Quickwit's order: method (405),
// Content-Length (411 without, 413 above MaxBodyBytes), Content-Encoding
// (415), the body (400 for broken gzip), the query (400), an empty body
// (200, zero documents), the index id (400), the index (404), the commit.

// Parse failure messages, as Quickwit's doc mapper words them.
const (
	qwMsgInvalidJSON = "failed to parse JSON document"
	qwMsgNotObject   = "JSON document is not an object"
	qwMsgInjected    = "mockdest: injected: the document does not fit the doc mapping"
)

// parseFail is one document the ingest API rejected: its line is
// failText[start:end].
type parseFail struct {
	start, end int
	msg        string
	reason     string
}

// ingestCounters are the ingest API's counters (bulkCounters.qw).
type ingestCounters struct {
	byStatus                                             [600]atomic.Uint64
	requests, docs, ingested, invalidJSON, notObject     atomic.Uint64
	injectedFails, indexNotFound, invalidIndex, badQuery atomic.Uint64
	lengthRequired, methodNotAllowed, badEncoding, empty atomic.Uint64
	detailed                                             atomic.Uint64
	commits                                              [3]atomic.Uint64 // auto, wait_for, force
}

var qwCommits = [...]string{wire.QuickwitCommitAuto, wire.QuickwitCommitWaitFor, wire.QuickwitCommitForce}

// serveIngest answers a request to /api/v1/<index>/ingest.
func (s *Server) serveIngest(w http.ResponseWriter, r *http.Request, q *bulkReq) {
	b, cfg := s.bulk, s.bulk.cfg
	c := &b.c.qw
	c.requests.Add(1)
	index, _ := wire.QuickwitIngestIndex(r.URL.Path)
	if r.Method != http.MethodPost {
		c.methodNotAllowed.Add(1)
		s.bulkError(w, r, q, http.StatusMethodNotAllowed, "", "HTTP method not allowed")
		return
	}
	start := time.Now()
	batch, wantCount := s.requestBatch(r, start)
	if r.ContentLength < 0 {
		c.lengthRequired.Add(1)
		w.Header().Set("Connection", "close")
		s.bulkError(w, r, q, http.StatusLengthRequired, "", "A content-length header is required")
		return
	}
	if r.ContentLength > cfg.MaxBodyBytes {
		s.rec.markBulkFault(&batch)
		s.bulkTooLarge(w, r, q, r.ContentLength)
		return
	}
	switch enc := strings.ToLower(r.Header.Get("Content-Encoding")); enc {
	case "", "identity", "gzip", "x-gzip":
	default:
		c.badEncoding.Add(1)
		drainBody(r, cfg.MaxBodyBytes)
		s.bulkError(w, r, q, http.StatusUnsupportedMediaType, "",
			"Unsupported Content-Encoding "+enc+". mockdest decodes gzip only")
		return
	}
	if s.injectRequestFault(w, r, q, &batch, start) {
		return
	}
	var ndocs int
	if !s.readBody(w, r, q, &batch, func() error { return s.ingestDocs(q, &ndocs) }) {
		return
	}
	commit, detailed, ok := ingestOptions(r)
	if !ok {
		c.badQuery.Add(1)
		s.bulkBadRequest(w, r, q, "", "Invalid query string")
		return
	}
	if ndocs == 0 {
		c.empty.Add(1)
		q.out = append(q.out[:0], "{\n  \"num_docs_for_processing\": 0\n}"...)
		s.writeAnswer(w, r, q, false)
		return
	}
	if !wire.QuickwitValidIndexID(index) {
		c.invalidIndex.Add(1)
		s.bulkBadRequest(w, r, q, "", "bad request (invalid index ID)")
		return
	}
	if !cfg.knownIndex(index) {
		c.indexNotFound.Add(1)
		s.bulkError(w, r, q, http.StatusNotFound, "", "index `"+index+"` not found")
		return
	}
	if wantCount >= 0 && wantCount != ndocs {
		b.c.countDiffs.Add(1)
	}
	c.commits[commit].Add(1)
	if detailed {
		c.detailed.Add(1)
	}
	s.answerStored(w, r, q, &batch, func(broken bool) {
		c.ingested.Add(uint64(len(q.p.stamps)))
		c.docs.Add(uint64(ndocs))
		for _, f := range q.fails {
			switch f.msg {
			case qwMsgInvalidJSON:
				c.invalidJSON.Add(1)
			case qwMsgNotObject:
				c.notObject.Add(1)
			default:
				c.injectedFails.Add(1)
			}
		}
		s.recordStored(q, &batch, broken, q.injected)
		q.out = appendIngestResponse(q.out[:0], q, ndocs, detailed)
		if commit != 0 && cfg.CommitDelay > 0 {
			s.bulkWait(r, cfg.CommitDelay) // Quickwit's commit
		}
	})
}

// ingestOptions parses the query arguments as Quickwit does: commit (or
// its other name commit_type) one of auto, wait_for, force (an index into
// qwCommits), detailed_response true or false; others are ignored.
func ingestOptions(r *http.Request) (commit int, detailed, ok bool) {
	args := r.URL.Query()
	vals := append(args["commit"], args["commit_type"]...)
	switch len(vals) {
	case 0:
	case 1:
		commit = -1
		for i, c := range qwCommits {
			if vals[0] == c {
				commit = i
			}
		}
		if commit < 0 {
			return 0, false, false
		}
	default:
		return 0, false, false
	}
	switch d := args["detailed_response"]; {
	case len(d) == 0:
	case len(d) == 1 && (d[0] == "true" || d[0] == "false"):
		detailed = d[0] == "true"
	default:
		return 0, false, false
	}
	return commit, detailed, true
}

// ingestDocs reads the body's documents, one a non-blank line, counting
// them in *n: the stamps of the valid ones into q.p, the others into
// q.fails.
func (s *Server) ingestDocs(q *bulkReq, n *int) error {
	cfg := s.bulk.cfg
	q.p.stamps, q.p.ok, q.nbytes, q.noTime, q.noMsg, q.injected = q.p.stamps[:0], q.p.ok[:0], 0, 0, 0, false
	q.fails, q.failText, q.ids = q.fails[:0], q.failText[:0], q.ids[:0]
	fail := func(line []byte, msg, reason string) {
		start := len(q.failText)
		q.failText = append(q.failText, line...)
		q.fails = append(q.fails, parseFail{start: start, end: len(q.failText), msg: msg, reason: reason})
	}
	for {
		line, err := q.readLine(s.cfg.MaxLineBytes)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if blankLine(line) {
			continue
		}
		*n++
		f, valid := scanDoc(line, cfg.MessageField)
		switch {
		case !valid:
			fail(line, qwMsgInvalidJSON, wire.QuickwitInvalidJSON)
		case !f.object:
			fail(line, qwMsgNotObject, wire.QuickwitInvalidJSON)
		case cfg.ParseFailureRate > 0 && q.rng.Float64() < cfg.ParseFailureRate:
			q.injected = true
			fail(line, qwMsgInjected, wire.QuickwitInvalidSchema)
		default:
			s.storeDoc(q, line, &f)
		}
	}
}

// blankLine reports whether line is empty or all ASCII white space, which
// Quickwit skips.
func blankLine(line []byte) bool {
	for _, c := range line {
		switch c {
		case ' ', '\t', '\n', '\f', '\r':
		default:
			return false
		}
	}
	return true
}

// appendIngestResponse appends the 200 answer as Quickwit pretty-prints
// it (serde_json's to_vec_pretty).
func appendIngestResponse(dst []byte, q *bulkReq, ndocs int, detailed bool) []byte {
	dst = append(dst, "{\n  \"num_docs_for_processing\": "...)
	dst = strconv.AppendInt(dst, int64(ndocs), 10)
	dst = append(dst, ",\n  \"num_ingested_docs\": "...)
	dst = strconv.AppendInt(dst, int64(len(q.p.stamps)), 10)
	dst = append(dst, ",\n  \"num_rejected_docs\": "...)
	dst = strconv.AppendInt(dst, int64(len(q.fails)), 10)
	if detailed {
		dst = append(dst, ",\n  \"parse_failures\": ["...)
		for i, f := range q.fails {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, "\n    {\n      \"message\": "...)
			dst = appendSerdeString(dst, f.msg)
			dst = append(dst, ",\n      \"document\": "...)
			dst = appendSerdeString(dst, string(q.failText[f.start:f.end]))
			dst = append(dst, ",\n      \"reason\": "...)
			dst = appendSerdeString(dst, f.reason)
			dst = append(dst, "\n    }"...)
		}
		if len(q.fails) > 0 {
			dst = append(dst, "\n  "...)
		}
		dst = append(dst, ']')
	}
	return append(dst, "\n}"...)
}

// appendQuickwitError appends Quickwit's pretty-printed error body.
func appendQuickwitError(dst []byte, msg string) []byte {
	dst = append(dst, "{\n  \"message\": "...)
	dst = appendSerdeString(dst, msg)
	return append(dst, "\n}"...)
}

// appendSerdeString appends s as a JSON string escaped as serde_json
// escapes it: only '"', '\\' and control characters (\b \t \n \f \r, else
// \u00xx), nothing else; invalid UTF-8 becomes U+FFFD.
func appendSerdeString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				dst = append(dst, "\uFFFD"...)
			} else {
				dst = append(dst, s[i:i+n]...)
			}
			i += n
			continue
		}
		i++
		switch {
		case c == '"':
			dst = append(dst, '\\', '"')
		case c == '\\':
			dst = append(dst, '\\', '\\')
		case c >= 0x20:
			dst = append(dst, c)
		case c == '\b':
			dst = append(dst, '\\', 'b')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\f':
			dst = append(dst, '\\', 'f')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		}
	}
	return append(dst, '"')
}
