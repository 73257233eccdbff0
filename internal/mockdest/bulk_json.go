package mockdest

import (
	"encoding/json"
	"unicode/utf16"
	"unicode/utf8"
)

// The few JSON operations the _bulk receiver needs per document, without
// decoding it: validate it as encoding/json's Valid does, and find on the
// way the raw value of the message field and whether "@timestamp" is there
// (top level only); then unescape one string.

// docFields is what scanDoc finds in one document.
type docFields struct {
	object    bool   // the document is a JSON object
	msg       []byte // raw bytes between the quotes of the message field's string value, nil if absent
	msgEscape bool   // msg holds a backslash escape
	hasTime   bool   // the object has a top-level "@timestamp" key
}

// maxJSONDepth is encoding/json's nesting limit: Valid rejects deeper
// documents.
const maxJSONDepth = 10000

// scanDoc reports whether doc is valid JSON, exactly as json.Valid does,
// and what it holds at the top level: whether it is an object, the first
// string value of the key msgField and whether it has the key
// "@timestamp". Keys are compared as written (a key spelled with escapes
// does not match).
func scanDoc(doc []byte, msgField string) (f docFields, valid bool) {
	v := validator{b: doc}
	v.skipSpace()
	if v.i < len(doc) && doc[v.i] == '{' {
		f.object = true
		valid = v.object(1, msgField, &f)
	} else {
		valid = v.value(0)
	}
	if !valid {
		return docFields{}, false
	}
	v.skipSpace()
	if v.i != len(doc) {
		return docFields{}, false
	}
	return f, true
}

type validator struct {
	b []byte
	i int
}

func (v *validator) skipSpace() {
	for v.i < len(v.b) {
		switch v.b[v.i] {
		case ' ', '\t', '\n', '\r':
			v.i++
		default:
			return
		}
	}
}

// peek returns the byte at v.i, or 0 at the end.
func (v *validator) peek() byte {
	if v.i < len(v.b) {
		return v.b[v.i]
	}
	return 0
}

// value checks the value at v.i (after white space) and moves past it.
// depth is the nesting of the containers around it.
func (v *validator) value(depth int) bool {
	v.skipSpace()
	switch c := v.peek(); {
	case c == '{':
		return v.object(depth+1, "", nil)
	case c == '[':
		return v.array(depth + 1)
	case c == '"':
		_, _, ok := v.str()
		return ok
	case c == '-' || c >= '0' && c <= '9':
		return v.number()
	case c == 't':
		return v.literal("true")
	case c == 'f':
		return v.literal("false")
	case c == 'n':
		return v.literal("null")
	}
	return false
}

// object checks the object at v.i; with f non-nil (the top level) it also
// fills f.
func (v *validator) object(depth int, msgField string, f *docFields) bool {
	if depth > maxJSONDepth {
		return false
	}
	v.i++ // '{'
	v.skipSpace()
	if v.peek() == '}' {
		v.i++
		return true
	}
	for {
		if v.peek() != '"' {
			return false
		}
		kStart := v.i + 1
		kEnd, kEsc, ok := v.str()
		if !ok {
			return false
		}
		v.skipSpace()
		if v.peek() != ':' {
			return false
		}
		v.i++
		v.skipSpace()
		if f != nil && !kEsc {
			key := v.b[kStart:kEnd]
			if string(key) == "@timestamp" {
				f.hasTime = true
			}
			if f.msg == nil && v.peek() == '"' && string(key) == msgField {
				vStart := v.i + 1
				vEnd, vEsc, ok := v.str()
				if !ok {
					return false
				}
				f.msg, f.msgEscape = v.b[vStart:vEnd:vEnd], vEsc
				goto next
			}
		}
		if !v.value(depth) {
			return false
		}
	next:
		v.skipSpace()
		switch v.peek() {
		case ',':
			v.i++
			v.skipSpace()
		case '}':
			v.i++
			return true
		default:
			return false
		}
	}
}

func (v *validator) array(depth int) bool {
	if depth > maxJSONDepth {
		return false
	}
	v.i++ // '['
	v.skipSpace()
	if v.peek() == ']' {
		v.i++
		return true
	}
	for {
		if !v.value(depth) {
			return false
		}
		v.skipSpace()
		switch v.peek() {
		case ',':
			v.i++
		case ']':
			v.i++
			return true
		default:
			return false
		}
	}
}

// strPlain marks the bytes that stand for themselves inside a string.
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str checks the string at v.i (its opening quote) and moves past it. It
// returns the index of the closing quote and whether an escape occurred.
func (v *validator) str() (end int, esc, ok bool) {
	b := v.b
	i := v.i + 1
	for {
		for i < len(b) && strPlain[b[i]] {
			i++
		}
		if i >= len(b) {
			return 0, esc, false
		}
		switch b[i] {
		case '"':
			v.i = i + 1
			return i, esc, true
		case '\\':
			esc = true
			if i+1 >= len(b) {
				return 0, esc, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if _, n := hex4(b[i+2:]); n == 0 {
					return 0, esc, false
				}
				i += 6
			default:
				return 0, esc, false
			}
		default: // a control character
			return 0, esc, false
		}
	}
}

// number checks the number at v.i and moves past it:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (v *validator) number() bool {
	b, i := v.b, v.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	v.i = i
	return true
}

func (v *validator) literal(lit string) bool {
	if len(v.b)-v.i < len(lit) || string(v.b[v.i:v.i+len(lit)]) != lit {
		return false
	}
	v.i += len(lit)
	return true
}

// appendUnescaped appends the JSON string contents s (without quotes,
// already valid) to dst with its escapes decoded, as encoding/json does
// (an unpaired surrogate becomes U+FFFD).
func appendUnescaped(dst, s []byte) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			dst = append(dst, c)
			continue
		}
		i++
		switch s[i] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, n := hex4(s[i+1:])
			if n == 0 {
				dst = append(dst, '\\', 'u')
				continue
			}
			i += 4
			if utf16.IsSurrogate(r) {
				if i+2 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
					if r2, n2 := hex4(s[i+3:]); n2 > 0 {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							dst = utf8.AppendRune(dst, dec)
							i += 6
							continue
						}
					}
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
		default: // '"', '\\', '/'
			dst = append(dst, s[i])
		}
	}
	return dst
}

func hex4(b []byte) (rune, int) {
	if len(b) < 4 {
		return 0, 0
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, 0
		}
	}
	return r, 4
}

// appendJSONString appends s as a JSON string.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			b, _ := json.Marshal(s) // rare: ids and index names are plain ASCII
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
