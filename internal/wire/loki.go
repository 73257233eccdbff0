package wire

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Loki's push API (POST /loki/api/v1/push) in its JSON form, which
// VictoriaLogs serves too (/insert/loki/api/v1/push):
//
//	{"streams":[{"stream":{"job":"relay"},"values":[["1764620538438741434","the line"],…]}]}
//
// Every entry is ["<Unix ns as a decimal string>","<the line>"], the line
// JSON-escaped with invalid UTF-8 as U+FFFD (as in BulkEncoder). Loki
// answers 204; a 400 whose text names the entries it refused, having kept
// the others; 429 when rate limited; 413 for a body over its limit.

// LokiContentType is the Content-Type of a JSON push body (Loki's default
// is snappy-compressed protobuf).
const LokiContentType = "application/json"

// LokiPushPath is the push endpoint's path.
const LokiPushPath = "/loki/api/v1/push"

var lokiLabelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// LokiLabel is one stream label.
type LokiLabel struct{ Name, Value string }

// ParseLokiLabels parses "name=value,name=value" into labels sorted by
// name. Names follow Prometheus' rules ([a-zA-Z_][a-zA-Z0-9_]*, not
// starting with "__", which is reserved); values are not empty; a name
// may appear once. There must be at least one label: Loki refuses a
// stream without.
func ParseLokiLabels(s string) ([]LokiLabel, error) {
	var ls []LokiLabel
	seen := map[string]bool{}
	for _, kv := range strings.Split(s, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		name, value, ok := strings.Cut(kv, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		switch {
		case !ok:
			return nil, fmt.Errorf("loki label %q: want name=value", kv)
		case !lokiLabelName.MatchString(name):
			return nil, fmt.Errorf("loki label name %q: want [a-zA-Z_][a-zA-Z0-9_]*", name)
		case strings.HasPrefix(name, "__"):
			return nil, fmt.Errorf("loki label name %q: names starting with __ are reserved", name)
		case value == "":
			return nil, fmt.Errorf("loki label %q: empty value", name)
		case seen[name]:
			return nil, fmt.Errorf("loki label %q given twice", name)
		}
		seen[name] = true
		ls = append(ls, LokiLabel{Name: name, Value: value})
	}
	if len(ls) == 0 {
		return nil, fmt.Errorf("loki labels %q: at least one name=value is needed", s)
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i].Name < ls[j].Name })
	return ls, nil
}

// LokiEncoder appends push bodies of one stream to a caller's buffer. It
// allocates nothing per entry. It is not safe for concurrent use.
type LokiEncoder struct {
	open     []byte // {"streams":[{"stream":{…},"values":[
	replaced uint64
}

// NewLokiEncoder returns an encoder for a stream of labels.
func NewLokiEncoder(labels []LokiLabel) *LokiEncoder {
	b := []byte(`{"streams":[{"stream":{`)
	for i, l := range labels {
		if i > 0 {
			b = append(b, ',')
		}
		b, _ = appendJSONString(b, []byte(l.Name))
		b = append(b, ':')
		b, _ = appendJSONString(b, []byte(l.Value))
	}
	b = append(b, `},"values":[`...)
	return &LokiEncoder{open: b}
}

// Replaced returns how many lines had invalid UTF-8 replaced by U+FFFD.
func (e *LokiEncoder) Replaced() uint64 { return e.replaced }

// Begin appends the start of a body.
func (e *LokiEncoder) Begin(dst []byte) []byte { return append(dst, e.open...) }

// Append appends one entry; first says whether it is the body's first.
func (e *LokiEncoder) Append(dst, line []byte, ns int64, first bool) []byte {
	if !first {
		dst = append(dst, ',')
	}
	dst = append(dst, `["`...)
	dst = strconv.AppendInt(dst, ns, 10)
	dst = append(dst, `","`...)
	var bad bool
	dst, bad = appendJSONStringBody(dst, line)
	if bad {
		e.replaced++
	}
	return append(dst, `"]`...)
}

// End appends the end of a body.
func (e *LokiEncoder) End(dst []byte) []byte { return append(dst, "]}]}"...) }

// LokiRejection is one entry a push 400 names as refused.
type LokiRejection struct {
	// Ns is the entry's timestamp (Unix ns) when the answer names it
	// (HasTime); to the second only when Second.
	Ns      int64
	HasTime bool
	Second  bool
	// Len is the line's length in bytes when the answer names it by size
	// (line too long), else -1.
	Len int
	// Reason is the answer's text about it.
	Reason string
}

// LokiRejections is what a push 400 says.
type LokiRejections struct {
	Entries []LokiRejection
	// Total is the N of "total ignored: N out of M", or -1.
	Total int
}

// The ways Loki names a refused entry in a 400's text, from its ingester
// ("entry with timestamp 2022-10-10 13:25:44.123 +0000 UTC ignored, reason:
// 'entry too far behind, …'", the entries joined by ",\n", then "total
// ignored: N out of M") and its distributor's validation ("entry for stream
// '{…}' has timestamp too old: 2022-10-10T13:25:44Z, oldest acceptable
// timestamp is: …", "… too new: …", "Max entry size '256' bytes exceeded
// for stream '{…}' while adding an entry with length '300' bytes").
var (
	lokiIgnored = regexp.MustCompile(`entry with timestamp (.+?) ignored`)
	lokiTooOld  = regexp.MustCompile(`has timestamp too (?:old|new): ([^,]+?)(?:,|$)`)
	lokiLength  = regexp.MustCompile(`entry with length '?(\d+)'? bytes`)
	lokiTotal   = regexp.MustCompile(`total ignored: (\d+) out of (\d+)`)
)

// goTimeString is the layout of time.Time.String (without the monotonic
// clock reading), which Loki's ingester prints.
const goTimeString = "2006-01-02 15:04:05.999999999 -0700 MST"

// ParseLokiRejections reads the entries a push 400's text body names.
func ParseLokiRejections(body []byte) LokiRejections {
	r := LokiRejections{Total: -1}
	for _, line := range strings.Split(string(body), "\n") {
		line = strings.TrimSpace(line)
		if m := lokiTotal.FindStringSubmatch(line); m != nil {
			if n, err := strconv.Atoi(m[1]); err == nil {
				r.Total = n
			}
			continue
		}
		if m := lokiIgnored.FindStringSubmatch(line); m != nil {
			e := LokiRejection{Len: -1, Reason: line}
			e.setTime(m[1])
			r.Entries = append(r.Entries, e)
			continue
		}
		if m := lokiTooOld.FindStringSubmatch(line); m != nil {
			e := LokiRejection{Len: -1, Reason: line}
			e.setTime(m[1])
			r.Entries = append(r.Entries, e)
			continue
		}
		if m := lokiLength.FindStringSubmatch(line); m != nil {
			if n, err := strconv.Atoi(m[1]); err == nil {
				r.Entries = append(r.Entries, LokiRejection{Len: n, Reason: line})
			}
		}
	}
	return r
}

func (e *LokiRejection) setTime(s string) {
	s = strings.TrimSpace(s)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t, err = time.Parse(goTimeString, s)
	}
	if err != nil {
		return
	}
	e.Ns, e.HasTime = t.UnixNano(), true
	// a time printed without a fraction names only its second
	e.Second = !strings.Contains(s, ".")
}
