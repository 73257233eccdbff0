package mockdest

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// reference decodes doc with encoding/json: whether it is an object, the
// message field's string value and presence, and whether it has
// "@timestamp".
func reference(doc []byte, field string) (object bool, msg string, hasMsg, hasTime bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(doc, &m) != nil || m == nil {
		return false, "", false, false
	}
	_, hasTime = m["@timestamp"]
	if raw, ok := m[field]; ok && json.Unmarshal(raw, &msg) == nil {
		hasMsg = true
	}
	return true, msg, hasMsg, hasTime
}

// checkScan compares scanDoc and appendUnescaped with encoding/json on a
// valid document.
func checkScan(t *testing.T, doc []byte) {
	t.Helper()
	f, valid := scanDoc(doc, "message")
	if valid != json.Valid(doc) {
		t.Fatalf("%q: scanDoc says valid %v, json.Valid %v", doc, valid, !valid)
	}
	if !valid {
		return
	}
	wantObj, wantMsg, wantHas, wantTime := reference(doc, "message")
	got := string(appendUnescaped(nil, f.msg))
	if f.object != wantObj || (f.msg != nil) != wantHas || f.hasTime != wantTime || (wantHas && got != wantMsg) {
		// encoding/json keeps the last of duplicate keys, scanDoc the
		// first; and scanDoc matches keys as written, not unescaped.
		if dupKey(doc) || ((f.msg != nil) != wantHas || f.hasTime != wantTime) && bytes.IndexByte(doc, '\\') >= 0 {
			return
		}
		t.Errorf("%s: got object %v msg %q (%v) time %v, want %v %q (%v) %v", doc, f.object, got, f.msg != nil, f.hasTime,
			wantObj, wantMsg, wantHas, wantTime)
	}
}

// dupKey reports whether doc's top level repeats a key.
func dupKey(doc []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(doc))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return false
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return false
		}
		k, _ := t.(string)
		if seen[k] {
			return true
		}
		seen[k] = true
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return false
		}
	}
	return false
}

var scanSeeds = []string{
	`{"message":"plain"}`,
	`{"@timestamp":"2026-12-01T00:00:00Z","message":"a \"q\" \\ \/ \b\f\n\r\t \u00e9 \ud83d\ude00 \ud800 x \udc00"}`,
	` { "a" : [1,{"message":"no"},"]}"] , "message" : "yes" } `,
	`{"message":12,"x":"y"}`,
	`{"a\u0062":1,"message":""}`,
	`{"nested":{"message":"inner"}}`,
	`"just a string"`,
	`[{"message":"in an array"}]`,
	`{"message":"first","message":"second"}`,
	`{"x":{"y":[{"z":"}"}]},"@timestamp":1,"message":"\u0000"}`,
	`{}`,
	`{"a":-0.5e+7,"b":[true,false,null,[],{}],"message":"m"}`,
	`{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":-}`, `{"a":1e}`, `{"a":"\x"}`, `{"a":"\u12"}`, "{\"a\":\"\x01\"}",
	`{"a":1,}`, `{,}`, `{"a"}`, `{"a":1 "b":2}`, `[1,]`, `tru`, `nul`, `{"a":1}x`, ` `, ``, `{"a":[1 2]}`,
}

func TestScanDoc(t *testing.T) {
	for _, s := range scanSeeds {
		checkScan(t, []byte(s))
	}
	for _, depth := range []int{maxJSONDepth - 1, maxJSONDepth, maxJSONDepth + 1} {
		doc := []byte(`{"message":"deep","x":` + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + "}")
		checkScan(t, doc)
	}
	f, _ := scanDoc([]byte(`{"mess\u0061ge":"escaped key"}`), "message")
	if f.msg != nil {
		t.Errorf("an escaped key matched") // encoding/json would match it: a relay never escapes plain ASCII keys
	}
}

func FuzzScanDoc(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if !utf8.Valid(doc) {
			return // scanDoc passes invalid UTF-8 through; encoding/json replaces it
		}
		checkScan(t, doc)
	})
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "logs", `a"b\c`, "é\x01", "id-1"} {
		var back string
		if err := json.Unmarshal(appendJSONString(nil, s), &back); err != nil || back != s {
			t.Errorf("%q: got %q (%v)", s, back, err)
		}
	}
}

// BenchmarkScanDoc compares scanDoc (validation and field search in one
// pass) with json.Valid alone on a document as the bulk sink sends a
// loadgen JSON line.
func BenchmarkScanDoc(b *testing.B) {
	doc := append([]byte(`{"@timestamp":"2026-12-01T19:30:52.123456789Z",`), msg(1, 1, 1, benchMsgSize)[1:]...)
	b.Run("json.Valid", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		for range b.N {
			if !json.Valid(doc) {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("scanDoc", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		for range b.N {
			if _, ok := scanDoc(doc, "message"); !ok {
				b.Fatal("invalid")
			}
		}
	})
}
