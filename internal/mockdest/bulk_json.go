package mockdest

import (
	"bytes"
	"encoding/json"
	"unicode/utf16"
	"unicode/utf8"
)

// The few JSON operations the _bulk receiver needs per document, without
// decoding the document: find the raw value of two top-level string
// fields, and unescape one string. Validity of the whole document is
// checked separately with json.Valid, which does not allocate.

// docFields is what scanDoc finds in one document.
type docFields struct {
	object    bool   // the document is a JSON object
	msg       []byte // raw bytes between the quotes of the message field's string value, nil if absent
	msgEscape bool   // msg holds a backslash escape
	hasTime   bool   // the object has a top-level "@timestamp" key
}

// scanDoc looks through the top level of doc, which json.Valid accepted,
// for the string field named msgField and the key "@timestamp".
func scanDoc(doc []byte, msgField string) docFields {
	var f docFields
	i := skipSpace(doc, 0)
	if i >= len(doc) || doc[i] != '{' {
		return f
	}
	f.object = true
	i++
	for {
		i = skipSpace(doc, i)
		if i >= len(doc) || doc[i] != '"' {
			return f // '}' or malformed
		}
		kStart := i + 1
		kEnd, kEsc := stringEnd(doc, kStart)
		if kEnd < 0 {
			return f
		}
		key := doc[kStart:kEnd]
		i = skipSpace(doc, kEnd+1)
		if i >= len(doc) || doc[i] != ':' {
			return f
		}
		i = skipSpace(doc, i+1)
		if i >= len(doc) {
			return f
		}
		isMsg := !kEsc && string(key) == msgField
		if !kEsc && string(key) == "@timestamp" {
			f.hasTime = true
		}
		if doc[i] == '"' {
			vEnd, vEsc := stringEnd(doc, i+1)
			if vEnd < 0 {
				return f
			}
			if isMsg && f.msg == nil {
				f.msg, f.msgEscape = doc[i+1:vEnd], vEsc
			}
			i = vEnd + 1
		} else {
			i = skipValue(doc, i)
		}
		i = skipSpace(doc, i)
		if i >= len(doc) || doc[i] != ',' {
			return f
		}
		i++
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index of the quote closing the string whose
// contents start at b[i], and whether it holds an escape; -1 if unclosed.
func stringEnd(b []byte, i int) (int, bool) {
	esc := false
	for {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return -1, esc
		}
		// The quote closes the string unless an odd number of
		// backslashes precede it.
		n := 0
		for k := i + q - 1; k >= i && b[k] == '\\'; k-- {
			n++
		}
		if !esc && bytes.IndexByte(b[i:i+q], '\\') >= 0 {
			esc = true
		}
		if n%2 == 0 {
			return i + q, esc
		}
		i += q + 1
	}
}

// skipValue returns the index just after the non-string value starting at
// b[i]: a number or literal, or an object or array with everything nested.
func skipValue(b []byte, i int) int {
	depth := 0
	for ; i < len(b); i++ {
		switch c := b[i]; c {
		case '"':
			end, _ := stringEnd(b, i+1)
			if end < 0 {
				return len(b)
			}
			i = end
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i
			}
			depth--
			if depth == 0 {
				return i + 1
			}
		case ',':
			if depth == 0 {
				return i
			}
		}
	}
	return i
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
