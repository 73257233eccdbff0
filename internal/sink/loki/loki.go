// Package loki provides the relay's sink for Loki's push API in its JSON
// form (POST /loki/api/v1/push, Content-Type: application/json, gzip
// optional), which VictoriaLogs also serves at /insert/loki/api/v1/push.
// Each request is one stream with the configured static labels; every
// entry's timestamp is the relay's receive time in Unix ns, made strictly
// increasing within a batch: the batch's messages are sorted by receive
// time (a stable sort: the lines of one read, which share a receive time,
// keep their order) and an entry whose time is not above its
// predecessor's gets the predecessor's plus 1 ns. So a request's entries
// are in time order, each has its own timestamp (which a 400 names it by,
// and which keeps Loki from dropping identical lines received at once as
// duplicates), and a resend carries the same timestamps. Requests in flight at once
// (--sink-concurrency above 1) may reach Loki out of order, which Loki
// accepts since 2.4 (unordered_writes). The delivery (workers, retries,
// splits, dead letters, metrics, health) is package httpsink's.
//
// Loki's answers:
//
//   - 2xx (204): delivered.
//   - 400 naming entries ("entry with timestamp … ignored", "has timestamp
//     too old/new: …", "… entry with length 'N' bytes"): Loki kept the
//     others, so the request is not resent; each named entry is matched to
//     one of the request's by its timestamp (to the ns, or to the second
//     when the answer prints no fraction) or its line length, and rejected
//     for good (counted, logged, dead-lettered). Rejections the answer
//     counts ("total ignored: N") but that match no entry (Loki names at
//     most max_returned_stream_errors, 10 by default) are counted in
//     logrelay_loki_unattributed_rejections_total.
//   - 400 naming none (a malformed request, bad labels): split in halves,
//     down to one entry, which is rejected.
//   - 429 naming every entry it refused (Loki's per-stream rate limit,
//     which keeps the others): those entries are resent alone after the
//     backoff. Any other 429 is resent whole.
//   - 413: split; 429, 408 and 5xx: resent after the backoff (at least
//     Retry-After, capped by --retry-max); 401, 403, 404 and others: the
//     destination's refusal, logged at error and retried for as long as it
//     lasts.
//   - no answer: resent whole. Loki drops an entry identical to one it has
//     (same stream, timestamp and line), so a resend does not duplicate
//     there; VictoriaLogs stores it again.
package loki

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/logrelay/logrelay/internal/sink/httpsink"
	"github.com/logrelay/logrelay/internal/wire"
)

// ErrConfig means a sink option is invalid.
var ErrConfig = errors.New("invalid Loki sink configuration")

// engine is one worker's encoder and answer reader.
type engine struct {
	s     *Sink
	enc   *wire.LokiEncoder
	ts    []int64 // ts[i]: message i's entry timestamp (see the package comment)
	order []int32
	msgs  [][]byte
	items []httpsink.Item
}

// DefaultLabels are the stream labels when none are configured.
const DefaultLabels = "job=logrelay"

// Config configures a Sink. The delivery policy comes from the relay's
// Feed.
type Config struct {
	// Client holds the headers, gzip, TLS, credentials, dead-letter
	// file, connections and logger.
	httpsink.Client
	// URL is the push endpoint, http or https (its query is sent as it
	// is: VictoriaLogs' _msg_field, _stream_fields).
	URL *url.URL
	// Labels are the stream's labels (wire.ParseLokiLabels); at least one.
	Labels []wire.LokiLabel
	// MaxBody is the largest uncompressed body sent; 0 means no limit
	// (a 413 still splits).
	MaxBody int
}

// Sink delivers relay batches to a Loki push endpoint: the httpsink
// driver (a relay.Sink, a prometheus.Collector and a
// relay.HealthReporter) over this package's engine.
type Sink struct {
	cfg Config
	*httpsink.Core
}

// New checks c and returns a sink. It opens the dead-letter file.
func New(c Config) (*Sink, error) {
	if len(c.Labels) == 0 {
		return nil, fmt.Errorf("%w: at least one stream label is needed", ErrConfig)
	}
	s := &Sink{cfg: c}
	var err error
	s.Core, err = httpsink.NewCore(httpsink.Config{
		NewEngine: func(*httpsink.Core) httpsink.Engine { return s.newEngine() },
		Client:    c.Client, Scheme: "loki", Endpoint: c.URL, API: "Loki push",
		ContentType: wire.LokiContentType, MaxBody: c.MaxBody,
		Metrics: httpsink.MetricsConfig{Prefix: "logrelay_loki", API: "Loki push", Unattributed: true},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return s, nil
}

// Batch assigns the batch's entry timestamps.
func (e *engine) Batch(_ wire.Header, msgs [][]byte, recvs []int64) {
	e.msgs = msgs
	e.order = e.order[:0]
	for i := range recvs {
		e.order = append(e.order, int32(i))
	}
	if !slices.IsSortedFunc(e.order, func(a, b int32) int { return cmpNs(recvs[a], recvs[b]) }) {
		slices.SortStableFunc(e.order, func(a, b int32) int { return cmpNs(recvs[a], recvs[b]) })
	}
	e.ts = slices.Grow(e.ts[:0], len(recvs))[:len(recvs)]
	for k, i := range e.order {
		t := recvs[i]
		if k > 0 {
			t = max(t, e.ts[e.order[k-1]]+1)
		}
		e.ts[i] = t
	}
}

func (s *Sink) newEngine() *engine { return &engine{s: s, enc: wire.NewLokiEncoder(s.cfg.Labels)} }

// Encode appends a push body of the entries idx in timestamp order.
func (e *engine) Encode(dst []byte, _ wire.Header, msgs [][]byte, _ []int64, idx []int32) []byte {
	e.order = append(e.order[:0], idx...)
	ts := e.ts
	if !slices.IsSortedFunc(e.order, func(a, b int32) int { return cmpNs(ts[a], ts[b]) }) {
		slices.SortFunc(e.order, func(a, b int32) int { return cmpNs(ts[a], ts[b]) })
	}
	before := e.enc.Replaced()
	dst = e.enc.Begin(dst)
	for k, i := range e.order {
		dst = e.enc.Append(dst, msgs[i], ts[i], k == 0)
	}
	e.s.M.Replaced.Add(e.enc.Replaced() - before)
	return e.enc.End(dst)
}

func cmpNs(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Classify reads a push answer.
func (e *engine) Classify(a httpsink.Answer, idx []int32) httpsink.Verdict {
	switch {
	case a.TransportErr != nil:
		return httpsink.Unanswered(0, a.TransportErr.Error())
	case a.Status >= 200 && a.Status < 300:
		// the body is not read for anything: a 204 has none
		return httpsink.Verdict{Act: httpsink.ActItems, Status: a.Status, AllOK: true, StoredBefore: -1}
	case a.Status == http.StatusBadRequest:
		if a.ReadErr == nil {
			r := wire.ParseLokiRejections(a.Body)
			if items, matched, ok := e.match(r, idx, httpsink.Rejected, a.Status); ok {
				if n := max(r.Total, len(r.Entries)); n > matched {
					e.s.M.Unattributed.Add(uint64(n - matched))
				}
				return httpsink.Verdict{Act: httpsink.ActItems, Status: a.Status, Items: items, StoredBefore: -1}
			}
		}
		return httpsink.Verdict{Act: httpsink.ActSplit, Status: a.Status, Reason: reason(a), MaybeStored: true, StoredBefore: -1}
	case a.Status == http.StatusTooManyRequests && a.ReadErr == nil:
		// A per-stream rate limit names the entries it refused and keeps
		// the others: resend those alone. When it names fewer than it
		// counts, resend the whole request rather than lose the rest.
		if r := wire.ParseLokiRejections(a.Body); len(r.Entries) > 0 {
			if items, matched, _ := e.match(r, idx, httpsink.Retry, a.Status); matched == max(r.Total, len(r.Entries)) {
				v := httpsink.ClassifyStatus(a, reason(a)) // for Retry-After
				v.Act, v.Items = httpsink.ActItems, items
				return v
			}
			v := httpsink.ClassifyStatus(a, reason(a))
			v.MaybeStored = true
			return v
		}
	}
	return httpsink.ClassifyStatus(a, reason(a))
}

// match files the entries r names against the request's entries idx as
// out (Rejected for a 400, Retry for a 429), the others as delivered, and
// returns how many it matched. It reports false when r names none, so the
// answer is about the whole request.
func (e *engine) match(r wire.LokiRejections, idx []int32, out httpsink.Outcome, status int) (items []httpsink.Item, matched int, ok bool) {
	if len(r.Entries) == 0 && r.Total <= 0 {
		return nil, 0, false
	}
	e.items = e.items[:0]
	for range idx {
		e.items = append(e.items, httpsink.Item{Outcome: httpsink.Delivered, Status: status})
	}
	for _, rj := range r.Entries {
		for j, i := range idx {
			if e.items[j].Outcome != httpsink.Delivered {
				continue
			}
			ns := e.ts[i]
			ok := false
			switch {
			case rj.HasTime && rj.Second:
				ok = floorSec(ns) == floorSec(rj.Ns)
			case rj.HasTime:
				ok = ns == rj.Ns
			case rj.Len >= 0:
				ok = len(e.msgs[i]) == rj.Len
			}
			if ok {
				e.items[j] = httpsink.Item{Outcome: out, Status: status, Reason: "Loki: " + httpsink.ExcerptString(rj.Reason)}
				matched++
				break
			}
		}
	}
	return e.items, matched, true
}

func floorSec(ns int64) int64 {
	s := ns / 1e9
	if ns < 0 && ns%1e9 != 0 {
		s--
	}
	return s
}

func reason(a httpsink.Answer) string {
	if t := strings.TrimSpace(string(a.Body)); t != "" {
		return fmt.Sprintf("HTTP %d: %s", a.Status, httpsink.ExcerptString(t))
	}
	return fmt.Sprintf("HTTP %d %s", a.Status, http.StatusText(a.Status))
}
