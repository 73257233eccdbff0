package wire

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// scanObjectRef is scanObject written the plain way, a recursive descent
// over the scanner's tokens: the reference the fast one is checked
// against.
func scanObjectRef(b, timeKey []byte) objectScan {
	var v objectScan
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return v
	}
	s := refScanner{scanner: scanner{b: b}, timeKey: timeKey}
	if !s.object(1) || s.skipSpace() != len(b) {
		return v
	}
	v.ok, v.hasTime, v.badUTF8 = true, s.hasTime, s.badUTF8
	v.empty = len(trimJSONSpace(b[1:len(b)-1])) == 0
	return v
}

// refScanner scans containers recursively, with the scanner's strings,
// numbers and literals.
type refScanner struct {
	scanner
	timeKey []byte
	hasTime bool
}

// object scans an object at s.i, depth levels deep.
func (s *refScanner) object(depth int) bool {
	if depth > maxJSONDepth {
		return false
	}
	s.i++ // '{'
	if c, ok := s.peek(); !ok {
		return false
	} else if c == '}' {
		s.i++
		return true
	}
	for {
		if c, ok := s.peek(); !ok || c != '"' {
			return false
		}
		start := s.i + 1
		if !s.str() {
			return false
		}
		if depth == 1 && string(s.b[start:s.i-1]) == string(s.timeKey) {
			s.hasTime = true
		}
		if c, ok := s.peek(); !ok || c != ':' {
			return false
		}
		s.i++
		if !s.value(depth) {
			return false
		}
		if more, ok := s.next('}'); !ok || !more {
			return ok
		}
	}
}

// array scans an array at s.i, depth levels deep.
func (s *refScanner) array(depth int) bool {
	if depth > maxJSONDepth {
		return false
	}
	s.i++ // '['
	if c, ok := s.peek(); !ok {
		return false
	} else if c == ']' {
		s.i++
		return true
	}
	for {
		if !s.value(depth) {
			return false
		}
		if more, ok := s.next(']'); !ok || !more {
			return ok
		}
	}
}

// next reads what follows a container's element: ',' (more) or end.
func (s *refScanner) next(end byte) (more, ok bool) {
	c, ok := s.peek()
	if !ok {
		return false, false
	}
	s.i++
	switch c {
	case ',':
		return true, true
	case end:
		return false, true
	}
	return false, false
}

// value scans one value inside a container depth levels deep.
func (s *refScanner) value(depth int) bool {
	switch c, _ := s.peek(); c {
	case '{':
		return s.object(depth + 1)
	case '[':
		return s.array(depth + 1)
	}
	return s.scanner.value(depth)
}

// jsonScanCases are lines that exercise every branch of scanObject.
var jsonScanCases = []string{
	`{}`, `{ }`, "{\t\r\n}", `{"a":1}`, `{"a" : 1 , "b" : [ ] }`, `{"@timestamp":1}`, `{"x":{"@timestamp":1}}`,
	`{"a":[1,{"b":null}],"c":-0.5E+3}`, `{"a":[[],[[]],{}]}`, `{"a":true,"b":false,"c":null}`,
	`{"a":tru}`, `{"a":fals}`, `{"a":nul}`, `{"a":nulll}`, `{"a":1}x`, `{"a":1}}`, `{"a":{}`, `{"a":[}`, `{"a":]}`,
	`{"a":[1,]}`, `{"a":1,}`, `{,}`, `{"a"}`, `{"a":}`, `{a:1}`, `{"a":1 "b":2}`, `{"a":[1 2]}`, `{"a":{]}`, `{"a":[}]}`,
	`{"a":01}`, `{"a":-}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`, `{"a":1e+}`, `{"a":1E-7}`, `{"a":-0}`, `{"a":+1}`,
	`{"a":"\u00e9\ud800"}`, `{"a":"\u00g9"}`, `{"a":"\u00"}`, `{"a":"\x"}`, `{"a":"\"}`, `{"a":"\/\b\f\n\r\t\"\\"}`,
	"{\"a\":\"\x01\"}", "{\"a\":\"\xff\"}", "{\"a\xff\":1}", "{\"a\":\"\xe2\x82\"}", "{\"a\":\"\xe2\x82\xac\"}",
	`{"a":"` + strings.Repeat("0123456789abcdef", 5) + `"}`, `{"a":"` + strings.Repeat("x", 40) + `\"` + strings.Repeat("y", 17) + `"}`,
	`{"ts":"2026-12-01T19:00:00.000Z","level":"info","msg":"request completed request completed"}`,
	`{"a":` + strings.Repeat("[", 63) + strings.Repeat("]", 63) + `}`,
	`{"a":` + strings.Repeat("[", 64) + strings.Repeat("]", 64) + `}`,
	`{"a":` + strings.Repeat(`{"b":`, 63) + `1` + strings.Repeat("}", 63) + `}`,
	`{"a":` + strings.Repeat(`{"b":`, 62) + `1` + strings.Repeat("}", 62) + `}`,
}

// TestScanObjectCases checks scanObject against the reference and
// encoding/json.Valid on every case, and on every prefix of each.
func TestScanObjectCases(t *testing.T) {
	t.Parallel()
	for _, c := range jsonScanCases {
		for k := len(c); k >= 0; k-- {
			checkScanObject(t, []byte(c[:k]))
		}
	}
}

func checkScanObject(t *testing.T, b []byte) {
	t.Helper()
	key := []byte("@timestamp")
	got, want := scanObject(b, key), scanObjectRef(b, key)
	if got.ok != want.ok || (got.ok && got != want) {
		t.Fatalf("%q: scanObject %+v, reference %+v", b, got, want)
	}
	if got.ok && !json.Valid(b) {
		t.Fatalf("%q: accepted, encoding/json says invalid", b)
	}
	if !got.ok && json.Valid(b) && len(b) > 0 && b[0] == '{' && bytes.Count(b, []byte("["))+bytes.Count(b, []byte("{")) <= maxJSONDepth {
		t.Fatalf("%q: refused, encoding/json says valid", b)
	}
}

// FuzzScanObject: scanObject agrees with the reference scanner and with
// encoding/json.Valid.
func FuzzScanObject(f *testing.F) {
	for _, c := range jsonScanCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkScanObject(t, trimJSONSpace(b))
	})
}

// BenchmarkScanObject validates a 200-byte JSON line shaped like loadgen's.
func BenchmarkScanObject(b *testing.B) {
	line := []byte(`{"ts":"2026-12-01T19:00:00.000Z","level":"info","service":"checkout","host":"web-01","trace":"0000000100000001","stamp":"lr1:00000001:0000000000000001:1764617452123456789","msg":"request completed requ"}`)
	for _, f := range []struct {
		name string
		scan func(b, k []byte) objectScan
	}{{"fast", scanObject}, {"reference", scanObjectRef}} {
		b.Run(f.name, func(b *testing.B) {
			b.SetBytes(int64(len(line)))
			key := []byte("@timestamp")
			for b.Loop() {
				if !f.scan(line, key).ok {
					b.Fatal("not an object")
				}
			}
		})
	}
}

// TestScanContainerArrays checks scanContainerAt on arrays (as
// ScanBulkResponse skips them) against the reference, with every case as
// an element and every prefix of the result.
func TestScanContainerArrays(t *testing.T) {
	t.Parallel()
	for _, c := range append(jsonScanCases, `[]`, `[[1,2],[]]`, `"x"`, `-1.5e3`, `null`, strings.Repeat("[", 64)+strings.Repeat("]", 64)) {
		for _, a := range []string{"[" + c + "]", "[ " + c + " , 1 ]", "[1," + c + "]"} {
			for k := len(a); k >= 1; k-- {
				b := []byte(a[:k])
				v, end := scanContainerAt(b, 0, maxJSONDepth, nil)
				got := v.ok && end == len(b)
				r := refScanner{scanner: scanner{b: b}}
				want := r.array(1) && r.i == len(b)
				if got != want {
					t.Fatalf("%q: scanContainerAt %v (end %d), reference %v", b, got, end, want)
				}
			}
		}
	}
}
