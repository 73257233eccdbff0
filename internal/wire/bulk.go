package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// The Elasticsearch _bulk API's responses, as Elasticsearch, OpenSearch,
// VictoriaLogs (/insert/elasticsearch/_bulk), Quickwit
// (/api/v1/_elastic/_bulk) and ZincSearch answer them. The HTTP status is
// 200 even when items fail; each item carries its own status, in request
// order, keyed by the action name: "create" (Elasticsearch, VictoriaLogs)
// or "index" for every item (Quickwit, ZincSearch).

// Bulk action names, the keys of a BulkItem.
const (
	BulkCreate = "create"
	BulkIndex  = "index"
)

// Types of the error objects the engines send.
const (
	// BulkErrRejected is an item or request rejected for lack of capacity
	// (429): retryable.
	BulkErrRejected = "es_rejected_execution_exception"
	// BulkErrMapping is a document the engine cannot index (400): permanent.
	BulkErrMapping = "mapper_parsing_exception"
	// BulkErrVersionConflict answers a create whose _id is already stored
	// (409): the document is stored, not an error for a shipper.
	BulkErrVersionConflict = "version_conflict_engine_exception"
)

// BulkResponse is the body of a 200 answer to a _bulk request. With
// filter_path some fields are absent: Took is then 0.
type BulkResponse struct {
	Took   int64      `json:"took"`
	Errors bool       `json:"errors"`
	Items  []BulkItem `json:"items"`
}

// BulkItem is one entry of BulkResponse.Items: an object with one key, the
// action, whose value is the item's result.
type BulkItem struct {
	Action string // BulkCreate or BulkIndex (or "update", "delete")
	Result BulkItemResult
}

// BulkItemResult is the outcome of one action. Only Status is always
// present; engines differ in the rest (VictoriaLogs sends only the status).
type BulkItemResult struct {
	Index       string      `json:"_index,omitempty"`
	ID          string      `json:"_id,omitempty"`
	Version     int64       `json:"_version,omitempty"`
	Result      string      `json:"result,omitempty"` // "created" on success
	Shards      *BulkShards `json:"_shards,omitempty"`
	SeqNo       *int64      `json:"_seq_no,omitempty"`
	PrimaryTerm int64       `json:"_primary_term,omitempty"`
	Status      int         `json:"status"`
	Error       *BulkError  `json:"error,omitempty"`
}

// BulkShards is an item's shard summary.
type BulkShards struct {
	Total      int `json:"total"`
	Successful int `json:"successful"`
	Failed     int `json:"failed"`
}

// BulkError is the error object of a failed item or request.
type BulkError struct {
	Type   string `json:"type"`
	Reason string `json:"reason"`
}

// BulkErrorResponse is the body of a whole-request error (4xx/5xx) from
// Elasticsearch and the engines that copy it:
// {"error":{"type":…,"reason":…},"status":N}. VictoriaLogs answers such
// errors in plain text instead, and ZincSearch's 500 may have an empty body.
type BulkErrorResponse struct {
	Error  BulkError `json:"error"`
	Status int       `json:"status"`
}

// OK reports whether the item is stored: 200 or 201, or 409 on a create
// (a document with that _id is already stored).
func (r *BulkItemResult) OK() bool {
	return r.Status == 200 || r.Status == 201 || r.Status == 409
}

// Retryable reports whether resending the item alone may succeed: 429 and
// 5xx.
func (r *BulkItemResult) Retryable() bool {
	return r.Status == 429 || r.Status >= 500
}

// MarshalJSON encodes the item as {"<action>":{…}}.
func (it BulkItem) MarshalJSON() ([]byte, error) {
	res, err := json.Marshal(it.Result)
	if err != nil {
		return nil, err
	}
	key, err := json.Marshal(it.Action)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(key)+len(res)+3)
	out = append(append(append(out, '{'), key...), ':')
	return append(append(out, res...), '}'), nil
}

// UnmarshalJSON decodes {"<action>":{…}}, an object with exactly one key.
func (it *BulkItem) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("bulk item: want an object")
	}
	t, err := dec.Token()
	if err != nil {
		return fmt.Errorf("bulk item: %w", err)
	}
	key, ok := t.(string)
	if !ok {
		return fmt.Errorf("bulk item: want an action key, got %v", t)
	}
	var res BulkItemResult
	if err := dec.Decode(&res); err != nil {
		return fmt.Errorf("bulk item %q: %w", key, err)
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return fmt.Errorf("bulk item: want exactly one action key")
	}
	it.Action, it.Result = key, res
	return nil
}
