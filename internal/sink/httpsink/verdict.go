package httpsink

import (
	"bytes"
	"net/http"
	"time"

	"github.com/logrelay/logrelay/internal/sink/httpout"
)

// Action is what the driver does next with a request's messages.
type Action uint8

const (
	// ActItems: the engine answered message by message (Verdict.Items),
	// or took every message (Verdict.AllOK).
	ActItems Action = iota
	// ActRetry: resend the whole request after the backoff.
	ActRetry
	// ActBlocked: the destination refuses every request (auth, a missing
	// index, a wrong URL): logged at error, resent after the backoff, for
	// as long as it lasts.
	ActBlocked
	// ActSplit: resend each half; one message alone is rejected.
	ActSplit
)

func (a Action) String() string {
	return [...]string{"items", "retry", "blocked", "split"}[a]
}

// Outcome is what the answer did with one message of a request.
type Outcome uint8

const (
	// Delivered: stored.
	Delivered Outcome = iota
	// Duplicate: the engine already had it (delivered).
	Duplicate
	// Retry: refused for now; resent alone after the backoff.
	Retry
	// Rejected: refused for good; counted, logged, dead-lettered.
	Rejected
)

// Item is the answer's verdict on one message of a request.
type Item struct {
	Outcome Outcome
	// Status is the HTTP status that decided it: the item's own status
	// (_bulk), or the request's.
	Status int
	// Reason is the engine's explanation of a rejection.
	Reason string
}

// Verdict is what an answer to a request means.
type Verdict struct {
	Act        Action
	Status     int           // HTTP status; 0 when there was no answer
	Reason     string        // the engine's reason, or the transport error
	RetryAfter time.Duration // the server's Retry-After
	// AllOK (ActItems): every message was stored; Items is not read.
	AllOK bool
	// Items (ActItems, !AllOK): one per message of the request, in the
	// order of the request's indexes. The ones to Retry are resent after
	// the backoff, and at least RetryAfter.
	Items []Item
	// MaybeStored: the engine may have stored some messages of a request
	// that is resent whole (no answer, a malformed one, a 400 after
	// storing the messages before the bad one).
	MaybeStored bool
	// StoredBefore is, for a split whose engine said how many leading
	// messages it stored, that number; -1 when unknown.
	StoredBefore int
}

// Answer is what came back for a request: Status, Header and Body (read
// with a bound; ReadErr is the reading's error), or TransportErr when no
// answer came.
type Answer struct {
	Status       int
	Header       http.Header
	Body         []byte
	ReadErr      error
	TransportErr error
	Now          time.Time
}

// ClassifyStatus is the verdict on a non-2xx status that every engine
// shares: 413 splits; 429, 408 and 5xx are resent after the backoff (at
// least Retry-After); 401, 403, 404, 3xx and any other 4xx but 400 are the
// destination's refusal (blocked). A 400 is engine-specific and is
// classified as blocked here; engines decide it before calling this.
// reason is the engine's explanation of the error body.
func ClassifyStatus(a Answer, reason string) Verdict {
	v := Verdict{Status: a.Status, Reason: reason, StoredBefore: -1}
	switch {
	case a.Status == http.StatusRequestEntityTooLarge:
		v.Act = ActSplit
	case a.Status == http.StatusTooManyRequests || a.Status == http.StatusRequestTimeout || a.Status >= 500:
		v.Act = ActRetry
		v.RetryAfter = retryAfter(a)
	default:
		v.Act = ActBlocked
		v.RetryAfter = retryAfter(a)
	}
	return v
}

// Unanswered is the verdict on a request that got no usable answer
// (a transport error, a truncated or malformed 2xx body): resend it, and
// count its messages as possibly stored.
func Unanswered(status int, reason string) Verdict {
	return Verdict{Act: ActRetry, Status: status, Reason: reason, MaybeStored: true, StoredBefore: -1}
}

func retryAfter(a Answer) time.Duration {
	if a.Header == nil {
		return 0
	}
	return httpout.RetryAfter(a.Header.Get("Retry-After"), a.Now)
}

// Excerpt is the start of b, at most 300 bytes, as valid UTF-8, for a
// reason in a log line.
func Excerpt(b []byte) string {
	const max = 300
	if len(b) > max {
		return string(bytes.ToValidUTF8(b[:max], []byte("\uFFFD"))) + "…"
	}
	return string(bytes.ToValidUTF8(b, []byte("\uFFFD")))
}

// ExcerptString is Excerpt of a string.
func ExcerptString(s string) string { return Excerpt([]byte(s)) }
