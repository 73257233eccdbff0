package mockdest

import (
	"fmt"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

// Flavours of BulkConfig.Flavour: the engine whose _bulk answers ModeBulk
// copies.
const (
	// FlavourElasticsearch answers like Elasticsearch: items keyed by their
	// action ("create"), status 201 with _index, _id, _version, result,
	// _shards, _seq_no, _primary_term; 409 version_conflict_engine_exception
	// for a create whose _id is stored; filter_path honoured; an index is
	// required (in the action or the path); JSON whole-request errors.
	FlavourElasticsearch = "elasticsearch"
	// FlavourVictoriaLogs answers like VictoriaLogs'
	// /insert/elasticsearch/_bulk: every item {"create":{"status":201}};
	// without Content-Type application/x-ndjson, 200 and nothing stored; a
	// malformed document is a plain-text 400 after the documents before it
	// were stored; ids ignored; filter_path ignored.
	FlavourVictoriaLogs = "victorialogs"
	// FlavourQuickwit answers like Quickwit's /api/v1/_elastic/_bulk:
	// every item keyed "index", status 201; ids ignored; filter_path
	// ignored; an index is required. It also serves Quickwit's ingest API,
	// /api/v1/<index>/ingest (quickwit.go), as Quickwit serves both.
	FlavourQuickwit = "quickwit"
	// FlavourZincSearch answers like ZincSearch: every item keyed "index",
	// status 200; a malformed document is a 500 with an empty body after
	// the documents before it were stored; ids ignored; filter_path
	// ignored; an index is required.
	FlavourZincSearch = "zincsearch"
)

// Defaults of BulkConfig's zero fields.
const (
	// DefaultBulkMaxBody is Elasticsearch's default http.max_content_length;
	// the quickwit flavour's default is wire.DefaultQuickwitMaxBody.
	DefaultBulkMaxBody = 100 << 20
	// DefaultQuickwitIndex is the index the quickwit flavour knows when
	// BulkConfig.Indexes is empty.
	DefaultQuickwitIndex = "logs"
	// DefaultBulkMaxIDs is how many document _ids the elasticsearch flavour
	// remembers for its 409s.
	DefaultBulkMaxIDs = 1 << 20
	// DefaultBulkMessageField is the document field holding the line.
	DefaultBulkMessageField = "message"
)

// BulkConfig configures ModeBulk, an HTTP receiver of the Elasticsearch
// _bulk API. Config's AckDelay and AckJitter delay its answers, CloseRate
// closes connections on a request's arrival (nothing stored), DownFor and
// DownEvery take it down, ReadBytesPerSec caps its reads and MaxLineBytes
// bounds an NDJSON line. Every fraction is drawn per request (or item) from
// a generator seeded by Config.Seed and the request's number.
type BulkConfig struct {
	// Flavour is one of the Flavour constants; "" = FlavourElasticsearch.
	Flavour string
	// MessageField is the document field whose string value is the
	// original line, fed to the stream checker; "" =
	// DefaultBulkMessageField. In the victorialogs flavour a request's
	// _msg_field query argument or VL-Msg-Field header takes precedence.
	// A document without it is checked whole.
	MessageField string
	// MaxBodyBytes is the largest body accepted, as sent (Content-Length)
	// and decoded (gunzipped); larger ones get 413 and nothing is stored.
	// 0 = DefaultBulkMaxBody, or wire.DefaultQuickwitMaxBody (Quickwit's
	// ingest_api.content_length_limit) in the quickwit flavour.
	MaxBodyBytes int64
	// MaxIDs bounds the _ids remembered for 409s (oldest forgotten first).
	// 0 = DefaultBulkMaxIDs.
	MaxIDs int
	// Authorization, when not empty, is the exact Authorization header
	// value every request must carry ("Basic …", "Bearer …", "ApiKey …");
	// others get 401. It is a secret: take it from the environment, never
	// from a flag, and never log it.
	Authorization string
	// ItemRejectRate is the fraction of documents answered 429
	// es_rejected_execution_exception (not stored).
	ItemRejectRate float64
	// ItemInvalidRate is the fraction of documents answered 400
	// mapper_parsing_exception (not stored).
	ItemInvalidRate float64
	// RejectRate is the fraction of requests answered 429 as a whole
	// (nothing stored).
	RejectRate float64
	// RejectFrom and RejectFor answer every request 429 during
	// [RejectFrom, RejectFrom+RejectFor) after Serve starts; RejectFor 0 =
	// no window.
	RejectFrom, RejectFor time.Duration
	// RetryAfter is sent as Retry-After (whole seconds, rounded up) with
	// every whole-request 429; 0 = no header.
	RetryAfter time.Duration
	// ServerErrorRate is the fraction of requests answered 500 (nothing
	// stored).
	ServerErrorRate float64
	// BreakRate is the fraction of requests whose documents are stored and
	// whose answer is cut off: the connection closes after half the body
	// (the client sees an unexpected EOF).
	BreakRate float64
	// TruncateRate is the fraction of requests whose documents are stored
	// and whose answer is a complete HTTP response with half the JSON body
	// (the client cannot parse it).
	TruncateRate float64
	// UnavailableRate is the fraction of requests answered 503 (nothing
	// stored): Quickwit's "no shards available".
	UnavailableRate float64

	// Indexes are the index ids the quickwit flavour knows: its ingest
	// API answers others 404 "index `X` not found", its _bulk an item 404
	// index_not_found_exception "no such index [X]" (in a 200, as Quickwit
	// does). "*" = any valid id. Empty = DefaultQuickwitIndex.
	Indexes []string
	// ParseFailureRate is the fraction of valid documents the ingest API
	// rejects as invalid_schema parse failures (in a 200 answer, not
	// stored).
	ParseFailureRate float64
	// CommitDelay delays the ingest API's answers to commit=wait_for and
	// commit=force, as Quickwit answers them after its next commit (its
	// commit_timeout_secs, 60 s by default); 0 = at once.
	CommitDelay time.Duration
}

// knownIndex reports whether the ingest API knows index.
func (c *BulkConfig) knownIndex(index string) bool {
	for _, i := range c.Indexes {
		if i == index || i == "*" {
			return true
		}
	}
	return false
}

func (c *BulkConfig) validate() error {
	switch c.Flavour {
	case "":
		c.Flavour = FlavourElasticsearch
	case FlavourElasticsearch, FlavourVictoriaLogs, FlavourQuickwit, FlavourZincSearch:
	default:
		return fmt.Errorf("%w: bulk flavour %q: want %s, %s, %s or %s", ErrConfig, c.Flavour,
			FlavourElasticsearch, FlavourVictoriaLogs, FlavourQuickwit, FlavourZincSearch)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"item reject rate", c.ItemRejectRate}, {"item invalid rate", c.ItemInvalidRate},
		{"reject rate", c.RejectRate}, {"server error rate", c.ServerErrorRate},
		{"break rate", c.BreakRate}, {"truncate rate", c.TruncateRate},
		{"unavailable rate", c.UnavailableRate}, {"parse failure rate", c.ParseFailureRate}} {
		if !(f.v >= 0 && f.v <= 1) {
			return fmt.Errorf("%w: bulk %s %v: want a fraction in [0, 1]", ErrConfig, f.name, f.v)
		}
	}
	if c.ItemRejectRate+c.ItemInvalidRate > 1 {
		return fmt.Errorf("%w: bulk item reject rate + item invalid rate > 1", ErrConfig)
	}
	if c.Flavour == FlavourVictoriaLogs && (c.ItemRejectRate > 0 || c.ItemInvalidRate > 0) {
		return fmt.Errorf("%w: the victorialogs flavour answers every item 201: no item failures to inject", ErrConfig)
	}
	if c.Flavour != FlavourQuickwit && (c.ParseFailureRate > 0 || c.CommitDelay > 0 || len(c.Indexes) > 0) {
		return fmt.Errorf("%w: parse failure rate, commit delay and indexes are the quickwit flavour's ingest API's", ErrConfig)
	}
	for _, i := range c.Indexes {
		if i != "*" && !wire.QuickwitValidIndexID(i) {
			return fmt.Errorf("%w: quickwit index %q: want an id matching ^[a-zA-Z][a-zA-Z0-9-_.]{2,254}$ or *", ErrConfig, i)
		}
	}
	if len(c.Indexes) == 0 && c.Flavour == FlavourQuickwit {
		c.Indexes = []string{DefaultQuickwitIndex}
	}
	if c.RejectFrom < 0 || c.RejectFor < 0 || c.RetryAfter < 0 || c.CommitDelay < 0 {
		return fmt.Errorf("%w: bulk reject window and retry-after must not be negative", ErrConfig)
	}
	if c.MaxBodyBytes < 0 || c.MaxIDs < 0 {
		return fmt.Errorf("%w: bulk max body bytes and max ids must not be negative", ErrConfig)
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultBulkMaxBody
		if c.Flavour == FlavourQuickwit {
			c.MaxBodyBytes = wire.DefaultQuickwitMaxBody
		}
	}
	if c.MaxIDs == 0 {
		c.MaxIDs = DefaultBulkMaxIDs
	}
	if c.MessageField == "" {
		c.MessageField = DefaultBulkMessageField
	}
	return nil
}
