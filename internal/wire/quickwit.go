package wire

import (
	"encoding/json"
	"regexp"
	"strings"
)

// Quickwit's ingest API: POST /api/v1/<index>/ingest with an NDJSON body
// (one document a line, blank lines skipped), query arguments commit
// (QuickwitCommitAuto, QuickwitCommitWaitFor, QuickwitCommitForce) and
// detailed_response=true. Quickwit answers pretty-printed JSON: 200 with
// QuickwitIngestResponse, whose rejected documents are permanent parse
// failures while the rest are stored; any other status with
// QuickwitError, and nothing stored. Quickwit has no document ids: a
// request resent after a lost answer stores its documents again.

// Values of the commit query argument.
const (
	QuickwitCommitAuto    = "auto"     // the default: answer once the documents are in the WAL
	QuickwitCommitWaitFor = "wait_for" // answer once they are searchable (after the next commit)
	QuickwitCommitForce   = "force"    // commit at once and answer once searchable
)

// Reasons of a QuickwitParseFailure.
const (
	QuickwitInvalidJSON   = "invalid_json"   // the line is not JSON, or not a JSON object
	QuickwitInvalidSchema = "invalid_schema" // the object does not fit the index's doc mapping
)

// DefaultQuickwitMaxBody is Quickwit's default
// ingest_api.content_length_limit (10 MiB): a larger body is answered 413.
const DefaultQuickwitMaxBody = 10 << 20

// QuickwitIngestResponse is the body of a 200 answer. The counts are
// pointers because Quickwit leaves them out when the body held no document
// (and its legacy ingest leaves them out always).
type QuickwitIngestResponse struct {
	NumDocsForProcessing uint64  `json:"num_docs_for_processing"` // non-blank lines of the body
	NumIngestedDocs      *uint64 `json:"num_ingested_docs,omitempty"`
	NumRejectedDocs      *uint64 `json:"num_rejected_docs,omitempty"`
	// ParseFailures lists the rejected documents, only with
	// detailed_response=true (then present, maybe empty).
	ParseFailures []QuickwitParseFailure `json:"parse_failures,omitempty"`
}

// QuickwitParseFailure is one rejected document, permanently: resending it
// fails again.
type QuickwitParseFailure struct {
	Message  string `json:"message"`
	Document string `json:"document"` // the line as sent
	Reason   string `json:"reason"`   // QuickwitInvalidJSON or QuickwitInvalidSchema
}

// QuickwitError is the body of every non-200 answer of Quickwit's REST
// API.
type QuickwitError struct {
	Message string `json:"message"`
}

// QuickwitIngestPath returns the ingest path of index, and
// QuickwitIngestIndex the index of an ingest path ("", false for another
// path).
func QuickwitIngestPath(index string) string { return "/api/v1/" + index + "/ingest" }

// QuickwitIngestIndex returns the index named by /api/v1/<index>/ingest.
func QuickwitIngestIndex(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, "/api/v1/")
	if !ok {
		return "", false
	}
	index, ok := strings.CutSuffix(rest, "/ingest")
	if !ok || index == "" || strings.Contains(index, "/") {
		return "", false
	}
	return index, true
}

var quickwitID = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-_\.]{2,254}$`)

// QuickwitValidIndexID reports whether id is a valid Quickwit identifier
// (^[a-zA-Z][a-zA-Z0-9-_.]{2,254}$); Quickwit answers 400 to others.
func QuickwitValidIndexID(id string) bool { return quickwitID.MatchString(id) }

// ParseQuickwitError returns the message of a non-200 answer's body, or
// the body itself (trimmed) when it is not a QuickwitError.
func ParseQuickwitError(body []byte) string {
	var e QuickwitError
	if json.Unmarshal(body, &e) == nil && e.Message != "" {
		return e.Message
	}
	return strings.TrimSpace(string(body))
}
