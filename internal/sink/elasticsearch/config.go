// Package elasticsearch provides the relay's sink for the Elasticsearch
// _bulk API, as Elasticsearch, OpenSearch, VictoriaLogs
// (/insert/elasticsearch/_bulk), Quickwit (/api/v1/_elastic/_bulk) and
// ZincSearch serve it.
//
// Each relay batch becomes one _bulk request of "create" actions (the
// document format is wire.BulkEncoder's). Policy.Concurrency workers each
// take a batch, send it and act on the answer item by item:
//
//   - 2xx items are delivered; a 409 item is a duplicate (delivered) when
//     the documents carry deterministic ids, else a permanent rejection;
//   - 429 and 5xx items are resent alone, in a new request, after the
//     backoff;
//   - an item failing with index_not_found_exception (Quickwit's _bulk
//     answers a missing index so, item by item, in a 200) is resent alone
//     after the backoff, for as long as it lasts, as a whole-request 404 is;
//   - other items are rejected for good: counted by status, logged with the
//     engine's reason (rate-limited), dead-lettered when configured.
//
// A whole request that fails with 429, 5xx, 408, a timeout, a transport
// error, or a truncated or malformed answer is resent after the backoff
// (at least the server's Retry-After, capped by RetryMax); 413 and 400 split
// the request in halves, down to one document, which is then rejected;
// 401, 403, 404 and any other status are the destination's refusal, not the
// documents' fault: logged at error and retried with the backoff for as
// long as it lasts, so backpressure reaches the clients and nothing is
// dropped. A request the engine answered is never resent because another
// failed.
package elasticsearch

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/logrelay/logrelay/internal/sink/httpout"
	"github.com/logrelay/logrelay/internal/sink/httpsink"
	"github.com/logrelay/logrelay/internal/wire"
)

// ID modes: what the "_id" of each action is.
const (
	// IDNone sends no _id: the engine makes one, and a resend stores the
	// document again.
	IDNone = "none"
	// IDBatch sends "RUN-SEQ-POS": a random id of the relay process, the
	// batch's seq and the message's position in it. Unique per process,
	// batch and position, so a resend after a lost answer gets a 409 (a
	// duplicate, not a second copy) from an engine that honours ids.
	IDBatch = "batch"
)

// Config configures a Sink. The delivery policy (requests in flight,
// per-attempt timeout, retry backoff) comes from the relay's Feed.
type Config struct {
	// URL is the _bulk endpoint, http or https, with any query parameters
	// the engine needs (VictoriaLogs: _msg_field, _time_field,
	// _stream_fields).
	URL *url.URL
	// Format names the index and the document fields.
	Format wire.BulkFormat
	// IDs is IDNone ("" too) or IDBatch.
	IDs string
	// Headers are added to every request (Content-Type, Content-Encoding
	// and Authorization cannot be set here).
	Headers http.Header
	// Gzip compresses request bodies (Content-Encoding: gzip).
	Gzip bool
	// FilterPath asks the engine to answer only errors and the items'
	// status and error (filter_path=errors,items.*.status,items.*.error),
	// unless the URL's query already has a filter_path.
	FilterPath bool
	// TLS applies to https URLs.
	TLS httpout.TLSConfig
	// Credentials authenticate every request (see httpout.CredentialsFromEnv).
	Credentials httpout.Credentials
	// DeadLetter is the file rejected documents are appended to; "" means
	// none (they are counted and logged only).
	DeadLetter string
	// Concurrency sizes the client's idle connection pool; it should be the
	// relay's --sink-concurrency. 0 means 1.
	Concurrency int
	// Logger receives the sink's construction warnings; at Run the relay's
	// logger is used. nil discards them.
	Logger *slog.Logger
}

// ParseHeader parses "Name: value" for Config.Headers, refusing the
// headers the sink sets itself and Authorization (a secret: it comes from
// the environment or a file).
func ParseHeader(h http.Header, s string) error {
	if err := httpsink.ParseHeader(h, s); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}
