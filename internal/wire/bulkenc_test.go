package wire

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

const testRecvNs = 1764617452_123456789 // 2025-12-01T19:30:52.123456789Z

func TestBulkEncoderDocuments(t *testing.T) {
	t.Parallel()
	ts := `"@timestamp":"2025-12-01T19:30:52.123456789Z"`
	tests := []struct {
		name string
		f    BulkFormat
		msg  string
		id   string
		want string // action line + "\n" + document line + "\n"
	}{
		{"text", BulkFormat{}, "hello world", "",
			`{"create":{}}` + "\n" + `{` + ts + `,"message":"hello world"}` + "\n"},
		{"text escaped", BulkFormat{}, "a\"b\\c\td\re\x01\x7f/", "",
			`{"create":{}}` + "\n" + `{` + ts + `,"message":"a\"b\\c\td\re\u0001` + "\x7f" + `/"}` + "\n"},
		{"empty line", BulkFormat{}, "", "",
			`{"create":{}}` + "\n" + `{` + ts + `,"message":""}` + "\n"},
		{"object gets time", BulkFormat{}, `{"level":"info","n":1}`, "",
			`{"create":{}}` + "\n" + `{` + ts + `,"level":"info","n":1}` + "\n"},
		{"object keeps its time", BulkFormat{}, `{"n":1,"@timestamp":"2020-01-01T00:00:00Z"}`, "",
			`{"create":{}}` + "\n" + `{"n":1,"@timestamp":"2020-01-01T00:00:00Z"}` + "\n"},
		{"nested time key does not count", BulkFormat{}, `{"a":{"@timestamp":1}}`, "",
			`{"create":{}}` + "\n" + `{` + ts + `,"a":{"@timestamp":1}}` + "\n"},
		{"empty object", BulkFormat{}, ` {} `, "",
			`{"create":{}}` + "\n" + `{` + ts + `}` + "\n"},
		{"object trimmed", BulkFormat{}, " \t{\"a\": [1, 2.5e-3, true, null]}\r", "",
			`{"create":{}}` + "\n" + `{` + ts + `,"a": [1, 2.5e-3, true, null]}` + "\n"},
		{"broken object is text", BulkFormat{}, `{"a":1`, "",
			`{"create":{}}` + "\n" + `{` + ts + `,"message":"{\"a\":1"}` + "\n"},
		{"two objects are text", BulkFormat{}, `{}{}`, "",
			`{"create":{}}` + "\n" + `{` + ts + `,"message":"{}{}"}` + "\n"},
		{"array is text", BulkFormat{}, `[1]`, "",
			`{"create":{}}` + "\n" + `{` + ts + `,"message":"[1]"}` + "\n"},
		{"bad utf8 in text", BulkFormat{}, "a\xffb\xc3", "",
			`{"create":{}}` + "\n" + `{` + ts + `,"message":"a` + "\uFFFD" + `b` + "\uFFFD" + `"}` + "\n"},
		{"bad utf8 in object", BulkFormat{}, "{\"m\":\"a\xffb\"}", "",
			`{"create":{}}` + "\n" + `{` + ts + `,"m":"a` + "\uFFFD" + `b"}` + "\n"},
		{"utf8 kept", BulkFormat{}, "héllo ✓", "",
			`{"create":{}}` + "\n" + `{` + ts + `,"message":"héllo ✓"}` + "\n"},
		{"index and id", BulkFormat{Index: `lo"gs`}, "x", "ab-1-2",
			`{"create":{"_index":"lo\"gs","_id":"ab-1-2"}}` + "\n" + `{` + ts + `,"message":"x"}` + "\n"},
		{"id only", BulkFormat{}, "x", "ab-1-2",
			`{"create":{"_id":"ab-1-2"}}` + "\n" + `{` + ts + `,"message":"x"}` + "\n"},
		{"field names", BulkFormat{TimeField: "ts", MessageField: "_msg"}, "x", "",
			`{"create":{}}` + "\n" + `{"ts":"2025-12-01T19:30:52.123456789Z","_msg":"x"}` + "\n"},
		{"custom time field present", BulkFormat{TimeField: "ts"}, `{"ts":5}`, "",
			`{"create":{}}` + "\n" + `{"ts":5}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewBulkEncoder(tt.f)
			got := string(e.Append(nil, []byte(tt.msg), testRecvNs, []byte(tt.id)))
			if got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
			docLine := strings.SplitN(got, "\n", 3)[1]
			if !json.Valid([]byte(docLine)) {
				t.Errorf("document %q is not valid JSON", docLine)
			}
		})
	}
}

func TestBulkEncoderCounts(t *testing.T) {
	t.Parallel()
	e := NewBulkEncoder(BulkFormat{})
	for _, m := range []string{"ok", "bad\xff", "{\"a\":\"\xfe\"}", `{"a":1}`} {
		e.Append(nil, []byte(m), 0, nil)
	}
	if got, want := e.Replaced(), uint64(2); got != want {
		t.Errorf("Replaced() = %d, want %d", got, want)
	}
	if got, want := e.Objects(), uint64(2); got != want {
		t.Errorf("Objects() = %d, want %d", got, want)
	}
}

func TestBulkEncoderTimes(t *testing.T) {
	t.Parallel()
	e := NewBulkEncoder(BulkFormat{})
	times := []int64{0, 1, 999_999_999, 1e9, -1, -1e9 - 5, testRecvNs, testRecvNs + 1e9, testRecvNs + 7}
	// each twice in a row (the cached text), then all again (a new time each)
	var seq []int64
	for _, ns := range times {
		seq = append(seq, ns, ns)
	}
	for _, ns := range append(seq, times...) {
		got := string(e.appendTime(nil, ns))
		want := time.Unix(0, ns).UTC().Format("2006-01-02T15:04:05.000000000Z")
		if got != want {
			t.Errorf("appendTime(%d) = %q, want %q", ns, got, want)
		}
	}
}

func TestAppendBulkID(t *testing.T) {
	t.Parallel()
	if got, want := string(AppendBulkID(nil, 0xbeef, 42, 7)), "beef-42-7"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestScanObjectDepth: a line nested deeper than maxJSONDepth is text.
func TestScanObjectDepth(t *testing.T) {
	t.Parallel()
	deep := func(n int) []byte {
		return []byte(`{"a":` + strings.Repeat("[", n-1) + strings.Repeat("]", n-1) + `}`)
	}
	if v := scanObject(deep(maxJSONDepth), nil); !v.ok {
		t.Errorf("depth %d: not accepted", maxJSONDepth)
	}
	if v := scanObject(deep(maxJSONDepth+1), nil); v.ok {
		t.Errorf("depth %d: accepted", maxJSONDepth+1)
	}
}

// FuzzBulkEncoder: every document is one valid JSON object; a text line
// round-trips through the message field (invalid bytes as U+FFFD); a JSON
// object line keeps its fields, and gets the time field only when absent.
func FuzzBulkEncoder(f *testing.F) {
	for _, s := range []string{"", "x", `{"a":1}`, `{"@timestamp":1}`, "{\"a\":\"\xff\"}", "\x00\xff\"\\",
		`{"a":[1,{"b":null}],"c":-0.5E+3}`, `{"a":1}x`, ` {} `, `{"a":"\u00e9\ud800"}`} {
		f.Add([]byte(s))
	}
	enc := NewBulkEncoder(BulkFormat{Index: "i"})
	f.Fuzz(func(t *testing.T, msg []byte) {
		out := enc.Append(nil, msg, testRecvNs, []byte("r-1-2"))
		lines := bytes.Split(out, []byte("\n"))
		if len(lines) != 3 || len(lines[2]) != 0 {
			t.Fatalf("output %q: want two lines", out)
		}
		if string(lines[0]) != `{"create":{"_index":"i","_id":"r-1-2"}}` {
			t.Fatalf("action %q", lines[0])
		}
		var doc map[string]any
		if err := json.Unmarshal(lines[1], &doc); err != nil {
			t.Fatalf("document %q of %q: %v", lines[1], msg, err)
		}
		valid := string([]rune(string(msg))) // each invalid byte as U+FFFD
		trimmed := bytes.TrimLeft(bytes.TrimRight(msg, " \t\r\n"), " \t\r\n")
		var orig map[string]any
		isObject := json.Unmarshal([]byte(string([]rune(string(trimmed)))), &orig) == nil && len(trimmed) > 0 &&
			trimmed[0] == '{' && orig != nil
		if isObject && scanObject(trimmed, []byte("@timestamp")).ok {
			_, had := orig["@timestamp"]
			if !had {
				if doc["@timestamp"] != "2025-12-01T19:30:52.123456789Z" {
					t.Fatalf("document %q: time field missing", lines[1])
				}
				delete(doc, "@timestamp")
			}
			if !reflect.DeepEqual(doc, orig) {
				t.Fatalf("document %q: fields differ from the line %q", lines[1], msg)
			}
			return
		}
		if isObject && len(trimmed) < 1000 {
			// encoding/json accepts it: only nesting beyond maxJSONDepth may differ.
			if bytes.Count(trimmed, []byte("["))+bytes.Count(trimmed, []byte("{")) <= maxJSONDepth {
				t.Fatalf("line %q: a JSON object sent as text", msg)
			}
		}
		if doc["message"] != valid || len(doc) != 2 {
			t.Fatalf("document %q: message %q, want %q", lines[1], doc["message"], valid)
		}
	})
}

// BenchmarkBulkEncode encodes a batch of 100 200-byte lines (text and
// JSON objects) into a reused buffer; ns/op and allocs/op are per batch.
func BenchmarkBulkEncode(b *testing.B) {
	for _, kind := range []string{"text", "json"} {
		b.Run(kind, func(b *testing.B) {
			msgs := make([][]byte, 100)
			for i := range msgs {
				var m []byte
				if kind == "json" {
					m = []byte(`{"level":"info","service":"checkout","msg":"order placed","stamp":"lr1:00000001:0000000000000001:1764617452123456789","pad":"`)
					m = append(m, bytes.Repeat([]byte("x"), 200-len(m)-2)...)
					m = append(m, `"}`...)
				} else {
					m = []byte("2025-12-01T19:30:52Z host app[123]: order placed id=42 lr1:00000001:0000000000000001:1764617452123456789 ")
					m = append(m, bytes.Repeat([]byte("y"), 200-len(m))...)
				}
				msgs[i] = m
			}
			e := NewBulkEncoder(BulkFormat{})
			buf := make([]byte, 0, 64<<10)
			id := make([]byte, 0, 64)
			b.SetBytes(100 * 200)
			b.ReportAllocs()
			for b.Loop() {
				buf = buf[:0]
				for i, m := range msgs {
					id = AppendBulkID(id[:0], 0xfeedbeef, 7, i)
					buf = e.Append(buf, m, testRecvNs+int64(i), id)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/msg")
		})
	}
}

func TestScanBulkResponse(t *testing.T) {
	item := `{"create":{"status":201}}`
	tests := []struct {
		body  string
		errs  bool
		items int
		ok    bool
	}{
		{`{"took":3,"errors":false,"items":[` + item + `,` + item + `]}`, false, 2, true},
		{` {"errors":true,"items":[{"create":{"status":429,"error":{"type":"x","reason":"y"}}}]} `, true, 1, true},
		{`{"errors":false}`, false, -1, true},
		{`{"errors":false,"items":[]}`, false, 0, true},
		{`{"items":[` + item + `],"errors":false,"took":{"a":[1,"}"]}}`, false, 1, true},
		{`{"errors":false,"items":[` + item + `]`, false, -1, false},   // truncated
		{`{"errors":false,"items":[` + item + `,]}`, false, -1, false}, // trailing comma
		{`{"errors":"false"}`, false, -1, false},
		{`{"took":1}`, false, -1, false},
		{`{}`, false, -1, false},
		{`[]`, false, -1, false},
		{``, false, -1, false},
		{`{"errors":false} x`, false, -1, false},
	}
	for _, tt := range tests {
		errs, items, ok := ScanBulkResponse([]byte(tt.body))
		if errs != tt.errs || items != tt.items || ok != tt.ok {
			t.Errorf("ScanBulkResponse(%q) = %v, %d, %v; want %v, %d, %v", tt.body, errs, items, ok, tt.errs, tt.items, tt.ok)
		}
	}
	body := []byte(`{"took":3,"errors":false,"items":[` + strings.TrimSuffix(strings.Repeat(item+",", 100), ",") + `]}`)
	if n := testing.AllocsPerRun(100, func() { ScanBulkResponse(body) }); n != 0 {
		t.Errorf("%v allocations per scan, want 0", n)
	}
}

// FuzzScanBulkResponse: whatever ScanBulkResponse accepts, encoding/json
// accepts too, with the same errors flag and item count.
func FuzzScanBulkResponse(f *testing.F) {
	for _, s := range []string{`{"errors":false,"items":[{"create":{"status":201}}]}`, `{"errors":true}`, `{"took":1,"errors":false,"items":[]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		errs, items, ok := ScanBulkResponse(b)
		if !ok {
			return
		}
		var v struct {
			Errors *bool             `json:"errors"`
			Items  []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%q: accepted, but encoding/json says %v", b, err)
		}
		if v.Errors == nil || *v.Errors != errs {
			t.Fatalf("%q: errors %v, encoding/json %v", b, errs, v.Errors)
		}
		if items >= 0 && len(v.Items) != items {
			t.Fatalf("%q: %d items, encoding/json %d", b, items, len(v.Items))
		}
	})
}

func BenchmarkScanBulkResponse(b *testing.B) {
	item := `{"create":{"status":201}}`
	body := []byte(`{"took":3,"errors":false,"items":[` + strings.TrimSuffix(strings.Repeat(item+",", 100), ",") + `]}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		ScanBulkResponse(body)
	}
}

// TestPlainASCII checks the word-at-a-time scan against a byte loop, for
// every special byte at every position of a 24-byte run.
func TestPlainASCII(t *testing.T) {
	t.Parallel()
	slow := func(b []byte) int {
		for i, c := range b {
			if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
				return i / 8 * 8
			}
		}
		return len(b) / 8 * 8
	}
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 24; pos++ {
			for _, fill := range []byte{'a', 0x21, 0x7f, '!', ' '} {
				b := bytes.Repeat([]byte{fill}, 24)
				b[pos] = byte(c)
				want := slow(b)
				if special := byte(c) < 0x20 || c == '"' || c == '\\' || c >= 0x80; special {
					want = pos
				}
				if got := plainASCII(b); got != want {
					t.Fatalf("byte %#x at %d in %q-filled: plainASCII = %d, want %d", c, pos, fill, got, want)
				}
			}
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", `""`},
		{"plain text", `"plain text"`},
		{"q\"b\\s/", `"q\"b\\s/"`},
		{"\n\r\t", `"\n\r\t"`},
		{"\x00\x01\x08\x0c\x1f\x7f", `"\u0000\u0001\u0008\u000c\u001f` + "\x7f\""},
		{"é€😀", `"é€😀"`},
		{"a\xffb\xc3", "\"a\uFFFDb\uFFFD\""},
	} {
		if got := string(AppendJSONString([]byte("x"), []byte(c.in))); got != "x"+c.want {
			t.Errorf("AppendJSONString(%q) = %q, want %q", c.in, got, "x"+c.want)
		}
	}
}
