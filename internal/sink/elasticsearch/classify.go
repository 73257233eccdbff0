package elasticsearch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/logrelay/logrelay/internal/sink/httpout"
	"github.com/logrelay/logrelay/internal/sink/httpsink"
	"github.com/logrelay/logrelay/internal/wire"
)

// action is what the sink does next with a request's documents.
type action = httpsink.Action

const (
	actItems   = httpsink.ActItems
	actRetry   = httpsink.ActRetry
	actBlocked = httpsink.ActBlocked
	actSplit   = httpsink.ActSplit
)

// verdict is what an answer to a _bulk request of n documents means.
type verdict struct {
	act        action
	status     int           // HTTP status; 0 when there was no answer
	reason     string        // the engine's reason, or the transport error
	retryAfter time.Duration // the server's Retry-After
	allOK      bool          // actItems: errors:false, every item stored
	items      []wire.BulkItem
	// maybeStored: the engine may have stored some documents of the
	// request although it is resent whole (no answer, a malformed one, or
	// VictoriaLogs' 400 after storing the documents before the bad one).
	maybeStored bool
	// storedBefore is, for a 400 that says how many leading documents it
	// stored (VictoriaLogs: "cannot decode log message #K"), that number;
	// -1 when unknown.
	storedBefore int
}

// classify reads an answer: status, header and body (read with a bound,
// readErr the reading's error), or transportErr when no answer came.
func classify(status int, hdr http.Header, body []byte, readErr, transportErr error, n int, now time.Time) verdict {
	if transportErr != nil {
		return verdict{act: actRetry, reason: transportErr.Error(), maybeStored: true, storedBefore: -1}
	}
	v := verdict{status: status, storedBefore: -1}
	switch {
	case status >= 200 && status < 300:
		if readErr != nil {
			v.act, v.reason, v.maybeStored = actRetry, readErr.Error(), true
			return v
		}
		if err := parseItems(body, n, &v); err != nil {
			v.act, v.reason, v.maybeStored = actRetry, err.Error(), true
			return v
		}
		v.act = actItems
		return v
	case status == http.StatusRequestEntityTooLarge:
		v.act = actSplit
	case status == http.StatusBadRequest:
		v.act, v.maybeStored = actSplit, true
		v.storedBefore = storedBefore(body, n)
	case status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500:
		v.act = actRetry
		v.retryAfter = httpout.RetryAfter(hdr.Get("Retry-After"), now)
	default: // 401, 403, 404, 3xx, other 4xx: not the documents' fault
		v.act = actBlocked
		v.retryAfter = httpout.RetryAfter(hdr.Get("Retry-After"), now)
	}
	v.reason = errorReason(status, body)
	return v
}

// parseItems checks a 2xx body against a request of n documents. The
// common answer, errors:false, is checked by wire.ScanBulkResponse without
// decoding the items or allocating; encoding/json reads the rest.
func parseItems(body []byte, n int, v *verdict) error {
	if errs, items, ok := wire.ScanBulkResponse(body); ok && !errs {
		// filter_path may leave items out; when they are there, count them.
		if items >= 0 && items != n {
			return fmt.Errorf("%w: %d items for %d documents", ErrMalformed, items, n)
		}
		v.allOK = true
		return nil
	}
	var quick struct {
		Errors *bool      `json:"errors"`
		Items  []struct{} `json:"items"`
	}
	if err := json.Unmarshal(body, &quick); err != nil {
		return fmt.Errorf("%w: %v (%d bytes: %s)", ErrMalformed, err, len(body), httpsink.Excerpt(body))
	}
	if quick.Errors == nil {
		return fmt.Errorf("%w: no \"errors\" field (%s)", ErrMalformed, httpsink.Excerpt(body))
	}
	if !*quick.Errors {
		// filter_path may leave items out; when they are there, count them.
		if quick.Items != nil && len(quick.Items) != n {
			return fmt.Errorf("%w: %d items for %d documents", ErrMalformed, len(quick.Items), n)
		}
		v.allOK = true
		return nil
	}
	var full wire.BulkResponse
	if err := json.Unmarshal(body, &full); err != nil {
		return fmt.Errorf("%w: %v (%s)", ErrMalformed, err, httpsink.Excerpt(body))
	}
	if len(full.Items) != n {
		return fmt.Errorf("%w: %d items for %d documents", ErrMalformed, len(full.Items), n)
	}
	for i := range full.Items {
		if full.Items[i].Result.Status == 0 {
			return fmt.Errorf("%w: item %d has no status", ErrMalformed, i)
		}
	}
	v.items = full.Items
	return nil
}

// vlDecodeError starts VictoriaLogs' whole-request 400 for a bad
// document: "cannot decode log message #K in /_bulk request: …", K
// counting from 0, after it stored documents 0 to K-1.
const vlDecodeError = "cannot decode log message #"

// storedBefore returns K from VictoriaLogs' decode error in body, or -1.
func storedBefore(body []byte, n int) int {
	i := bytes.Index(body, []byte(vlDecodeError))
	if i < 0 {
		return -1
	}
	rest := body[i+len(vlDecodeError):]
	end := 0
	for end < len(rest) && end < 10 && rest[end] >= '0' && rest[end] <= '9' {
		end++
	}
	k, err := strconv.Atoi(string(rest[:end]))
	if err != nil || k > n {
		return -1
	}
	return k
}

// classifyItem: 2xx delivered; 409 a duplicate when the documents carry
// deterministic ids (a create of an id already stored), else rejected; 429
// and 5xx resent alone; anything else rejected for good.
func classifyItem(status int, ids bool) httpsink.Outcome {
	switch {
	case status >= 200 && status < 300:
		return httpsink.Delivered
	case status == http.StatusConflict && ids:
		return httpsink.Duplicate
	case status == http.StatusTooManyRequests || status >= 500:
		return httpsink.Retry
	}
	return httpsink.Rejected
}

// itemReason is an item's error as one line.
func itemReason(r *wire.BulkItemResult) string {
	if r.Error == nil {
		return "status " + strconv.Itoa(r.Status)
	}
	if r.Error.Type == "" {
		return r.Error.Reason
	}
	return r.Error.Type + ": " + r.Error.Reason
}

// errorReason is a whole-request error's explanation: Elasticsearch's
// {"error":{"type","reason"},"status"}, or the start of a plain-text body
// (VictoriaLogs), or just the status.
func errorReason(status int, body []byte) string {
	var e wire.BulkErrorResponse
	if json.Unmarshal(body, &e) == nil && (e.Error.Type != "" || e.Error.Reason != "") {
		if e.Error.Type == "" {
			return fmt.Sprintf("HTTP %d: %s", status, e.Error.Reason)
		}
		return fmt.Sprintf("HTTP %d: %s: %s", status, e.Error.Type, e.Error.Reason)
	}
	if t := bytes.TrimSpace(body); len(t) > 0 {
		return fmt.Sprintf("HTTP %d: %s", status, httpsink.Excerpt(t))
	}
	return "HTTP " + strconv.Itoa(status) + " " + http.StatusText(status)
}
