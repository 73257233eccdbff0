package wire

import (
	"encoding/binary"
	"math/bits"
	"strconv"
	"time"
	"unicode/utf8"
)

// The Elasticsearch-compatible _bulk request body: for every message, an
// action line and a document line, each ended by '\n'. The action is always
// "create" (the one action data streams accept):
//
//	{"create":{"_index":"INDEX","_id":"ID"}}
//
// with "_index" left out when no index is configured (the engine takes it
// from the URL or its default) and "_id" only when one is given. The
// document is:
//
//   - for a line that is a JSON object (after trimming JSON white space):
//     the object as it is, with the receive time added first under the time
//     field unless the object has that key at its top level;
//   - for any other line: {"TIME_FIELD":"…","MESSAGE_FIELD":"the line"}, the
//     line JSON-escaped.
//
// Invalid UTF-8 becomes U+FFFD, one per invalid byte (as a Go []rune
// conversion does), in both cases; the encoder counts the messages that
// needed it. The receive time is RFC 3339 in UTC with nine fraction digits:
// 2026-12-01T19:30:52.123456789Z.

// BulkContentType is the Content-Type of a _bulk request body. VictoriaLogs
// answers 200 and stores nothing without it.
const BulkContentType = "application/x-ndjson"

// Default document field names.
const (
	DefaultBulkTimeField    = "@timestamp"
	DefaultBulkMessageField = "message"
)

// maxJSONDepth is the deepest nesting of a JSON-object line that is sent as
// an object; a deeper line is sent as text in the message field.
const maxJSONDepth = 64

// BulkFormat says how messages become _bulk documents.
type BulkFormat struct {
	// Index is the "_index" of every action; "" leaves it out.
	Index string
	// TimeField is the document field holding the relay's receive time;
	// "" means DefaultBulkTimeField.
	TimeField string
	// MessageField is the field holding a line that is not a JSON object;
	// "" means DefaultBulkMessageField.
	MessageField string
}

// BulkEncoder appends _bulk actions and documents to a caller's buffer. It
// allocates nothing per message. It is not safe for concurrent use: use
// one per goroutine.
type BulkEncoder struct {
	actionOpen []byte // {"create":{  or  {"create":{"_index":"X"
	hasIndex   bool
	timeKey    []byte // "TIME_FIELD"  (quoted, escaped)
	timeRaw    []byte // TIME_FIELD as it appears between the quotes of a key
	msgKey     []byte // ,"MESSAGE_FIELD":"

	// the formatted date and time of second lastSec: 2006-01-02T15:04:05
	lastSec int64
	secText [19]byte
	haveSec bool
	// the whole formatted time of lastNs (valid when haveNs): the messages
	// of one read share their receive time
	lastNs   int64
	nsText   [30]byte
	haveNs   bool
	replaced uint64
	objects  uint64
}

// NewBulkEncoder returns an encoder for f.
func NewBulkEncoder(f BulkFormat) *BulkEncoder {
	if f.TimeField == "" {
		f.TimeField = DefaultBulkTimeField
	}
	if f.MessageField == "" {
		f.MessageField = DefaultBulkMessageField
	}
	e := &BulkEncoder{}
	e.actionOpen = append(e.actionOpen, `{"create":{`...)
	if f.Index != "" {
		e.hasIndex = true
		e.actionOpen = append(e.actionOpen, `"_index":`...)
		e.actionOpen, _ = appendJSONString(e.actionOpen, []byte(f.Index))
	}
	e.timeKey, _ = appendJSONString(nil, []byte(f.TimeField))
	e.timeRaw = e.timeKey[1 : len(e.timeKey)-1]
	e.msgKey = append(e.msgKey, ',')
	e.msgKey, _ = appendJSONString(e.msgKey, []byte(f.MessageField))
	e.msgKey = append(e.msgKey, `:"`...)
	return e
}

// Replaced returns how many messages had invalid UTF-8 replaced by U+FFFD.
func (e *BulkEncoder) Replaced() uint64 { return e.replaced }

// Objects returns how many messages were sent as JSON objects.
func (e *BulkEncoder) Objects() uint64 { return e.objects }

// Append appends msg's action and document lines, each ended by '\n', to
// dst and returns the extended slice. recvNs is the message's receive time
// (Unix ns); id, when not empty, is the action's "_id" and must need no JSON
// escaping (ASCII letters, digits, '-', '_', '.', ':').
func (e *BulkEncoder) Append(dst, msg []byte, recvNs int64, id []byte) []byte {
	dst = append(dst, e.actionOpen...)
	if len(id) > 0 {
		if e.hasIndex {
			dst = append(dst, ',')
		}
		dst = append(dst, `"_id":"`...)
		dst = append(dst, id...)
		dst = append(dst, '"')
	}
	dst = append(dst, "}}\n"...)
	return e.AppendDocument(dst, msg, recvNs)
}

// AppendDocument appends msg's document line alone, ended by '\n': the
// NDJSON document of APIs without action lines (Quickwit's ingest API).
func (e *BulkEncoder) AppendDocument(dst, msg []byte, recvNs int64) []byte {
	obj := trimJSONSpace(msg)
	if v := scanObject(obj, e.timeRaw); v.ok {
		e.objects++
		if !v.hasTime {
			dst = append(dst, '{')
			dst = append(dst, e.timeKey...)
			dst = append(dst, ':', '"')
			dst = e.appendTime(dst, recvNs)
			dst = append(dst, '"')
			if v.empty {
				dst = append(dst, '}')
			} else {
				dst = append(dst, ',')
			}
			if !v.empty {
				obj = obj[1:]
			} else {
				obj = nil
			}
		}
		if v.badUTF8 {
			e.replaced++
			dst = appendValidUTF8(dst, obj)
		} else {
			dst = append(dst, obj...)
		}
		return append(dst, '\n')
	}

	dst = append(dst, '{')
	dst = append(dst, e.timeKey...)
	dst = append(dst, ':', '"')
	dst = e.appendTime(dst, recvNs)
	dst = append(dst, '"')
	dst = append(dst, e.msgKey...)
	var bad bool
	dst, bad = appendJSONStringBody(dst, msg)
	if bad {
		e.replaced++
	}
	return append(dst, "\"}\n"...)
}

// appendTime appends ns as RFC 3339 UTC with nine fraction digits.
func (e *BulkEncoder) appendTime(dst []byte, ns int64) []byte {
	if e.haveNs && ns == e.lastNs {
		return append(dst, e.nsText[:]...)
	}
	start := len(dst)
	dst = e.formatTime(dst, ns)
	if len(dst)-start == len(e.nsText) {
		copy(e.nsText[:], dst[start:])
		e.lastNs, e.haveNs = ns, true
	}
	return dst
}

func (e *BulkEncoder) formatTime(dst []byte, ns int64) []byte {
	sec, frac := ns/1e9, ns%1e9
	if frac < 0 {
		sec, frac = sec-1, frac+1e9
	}
	if !e.haveSec || sec != e.lastSec {
		t := time.Unix(sec, 0).UTC()
		b := t.AppendFormat(e.secText[:0], "2006-01-02T15:04:05")
		if len(b) != len(e.secText) { // a year outside 0000..9999
			dst = t.AppendFormat(dst, "2006-01-02T15:04:05")
			return appendFrac(dst, frac)
		}
		e.lastSec, e.haveSec = sec, true
	}
	dst = append(dst, e.secText[:]...)
	return appendFrac(dst, frac)
}

func appendFrac(dst []byte, frac int64) []byte {
	var d [11]byte
	d[0] = '.'
	for i := 9; i >= 1; i-- {
		d[i] = byte('0' + frac%10)
		frac /= 10
	}
	d[10] = 'Z'
	return append(dst, d[:]...)
}

// AppendBulkID appends the deterministic document id of message pos of
// batch seq of the relay process identified by run: "RUN-SEQ-POS", run in
// hex.
func AppendBulkID(dst []byte, run, seq uint64, pos int) []byte {
	dst = strconv.AppendUint(dst, run, 16)
	dst = append(dst, '-')
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, '-')
	return strconv.AppendUint(dst, uint64(pos), 10)
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func trimJSONSpace(b []byte) []byte {
	for len(b) > 0 && isJSONSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isJSONSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// safeASCII[c] is true for the ASCII bytes a JSON string holds unescaped.
var safeASCII = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s to dst as a quoted JSON string, escaped as
// the bulk and Loki encoders escape their strings: '"' and '\\' with a
// backslash, \n \r \t as such, other bytes below 0x20 as \u00xx, every
// other byte as it is except that each invalid UTF-8 byte becomes U+FFFD.
func AppendJSONString(dst, s []byte) []byte {
	dst, _ = appendJSONString(dst, s)
	return dst
}

// appendJSONString appends s as a quoted JSON string, as AppendJSONString
// does, and reports whether s held invalid UTF-8.
func appendJSONString(dst, s []byte) ([]byte, bool) {
	dst = append(dst, '"')
	dst, bad := appendJSONStringBody(dst, s)
	return append(dst, '"'), bad
}

// appendJSONStringBody appends s JSON-escaped, without quotes, with each
// invalid UTF-8 byte as U+FFFD; it reports whether there was any.
func appendJSONStringBody(dst, s []byte) ([]byte, bool) {
	bad := false
	start := 0
	for i := 0; i < len(s); {
		if i += plainASCII(s[i:]); i >= len(s) {
			break
		}
		c := s[i]
		if safeASCII[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\uFFFD"...)
			bad = true
			i++
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...), bad
}

// appendValidUTF8 appends s with each invalid UTF-8 byte as U+FFFD.
func appendValidUTF8(dst, s []byte) []byte {
	start := 0
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\uFFFD"...)
			i++
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}

// objectScan is what scanObject learned about a line; the fields after ok
// mean something only when ok is true.
type objectScan struct {
	ok      bool // the line is one JSON object, at most maxJSONDepth deep
	empty   bool // it is {}
	hasTime bool // it has the time key at its top level
	badUTF8 bool // it holds invalid UTF-8 (inside strings, the only place it can be)
}

// scanner reads JSON at b[i:] one token at a time, for ScanBulkResponse;
// the containers it skips are scanned by scanContainerAt.
type scanner struct {
	b       []byte
	i       int
	badUTF8 bool // a string str scanned held invalid UTF-8
}

func (s *scanner) skipSpace() int {
	for s.i < len(s.b) && isJSONSpace(s.b[s.i]) {
		s.i++
	}
	return s.i
}

func (s *scanner) peek() (byte, bool) {
	if s.skipSpace() >= len(s.b) {
		return 0, false
	}
	return s.b[s.i], true
}

// value scans one value inside a container depth levels deep.
func (s *scanner) value(depth int) bool {
	c, ok := s.peek()
	if !ok {
		return false
	}
	switch {
	case c == '{' || c == '[':
		v, end := scanContainerAt(s.b, s.i, maxJSONDepth-depth, nil)
		s.i = end
		return v.ok
	case c == '"':
		return s.str()
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return false
}

func (s *scanner) literal(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

// str scans a string at s.i (its opening quote) and leaves s.i after its
// closing quote. Runs of plain ASCII are skipped eight bytes at a time.
func (s *scanner) str() bool {
	s.i++
	for s.i < len(s.b) {
		s.i += plainASCII(s.b[s.i:])
		if s.i >= len(s.b) {
			return false
		}
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return true
		case c == '\\':
			s.i++
			if s.i >= len(s.b) {
				return false
			}
			switch s.b[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				if len(s.b)-s.i < 5 {
					return false
				}
				for _, h := range s.b[s.i+1 : s.i+5] {
					if !isHex(h) {
						return false
					}
				}
				s.i += 5
			default:
				return false
			}
		case c < 0x20:
			return false
		case c < utf8.RuneSelf:
			s.i++
		default:
			r, size := utf8.DecodeRune(s.b[s.i:])
			if r == utf8.RuneError && size == 1 {
				s.badUTF8 = true
			}
			s.i += size
		}
	}
	return false
}

// SWAR constants: a byte's value in every byte of a word, the high bits.
const (
	swarOnes = 0x0101010101010101
	swarHigh = 0x8080808080808080
)

// plainASCII returns the length of b's prefix, rounded down to whole
// 8-byte words, that a JSON string holds unescaped and that is ASCII: no
// byte below 0x20, no '"', no '\\', none from 0x80.
func plainASCII(b []byte) int {
	n := 0
	for len(b)-n >= 8 {
		if special := stringSpecial(binary.LittleEndian.Uint64(b[n:])); special != 0 {
			return n + bits.TrailingZeros64(special)/8
		}
		n += 8
	}
	return n
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// number scans the number at s.i (as scanNumber does).
func (s *scanner) number() bool {
	var ok bool
	s.i, ok = scanNumber(s.b, s.i)
	return ok
}

// ScanBulkResponse reads the summary of a _bulk response body without
// allocating: its top-level "errors" flag and the number of entries in
// "items" (-1 when there is no "items" key, as with some filter_path
// answers). ok is false unless b is exactly one JSON object (white space
// around it allowed) with a boolean "errors"; a truncated body is never
// ok. Keys match exactly (encoding/json would also match "Errors").
func ScanBulkResponse(b []byte) (errs bool, items int, ok bool) {
	b = trimJSONSpace(b)
	items = -1
	if len(b) < 2 || b[0] != '{' {
		return false, -1, false
	}
	s := scanner{b: b, i: 1}
	haveErrors := false
	if c, more := s.peek(); !more {
		return false, -1, false
	} else if c == '}' {
		s.i++
		return false, -1, false // no "errors"
	}
	for {
		if c, more := s.peek(); !more || c != '"' {
			return false, -1, false
		}
		start := s.i + 1
		if !s.str() {
			return false, -1, false
		}
		key := b[start : s.i-1]
		if c, more := s.peek(); !more || c != ':' {
			return false, -1, false
		}
		s.i++
		switch string(key) {
		case "errors":
			switch c, _ := s.peek(); {
			case c == 't' && s.literal("true"):
				errs, haveErrors = true, true
			case c == 'f' && s.literal("false"):
				errs, haveErrors = false, true
			default:
				return false, -1, false
			}
		case "items":
			n, good := s.countArray()
			if !good {
				return false, -1, false
			}
			items = n
		default:
			if !s.value(1) {
				return false, -1, false
			}
		}
		c, more := s.peek()
		if !more {
			return false, -1, false
		}
		s.i++
		if c == '}' {
			break
		}
		if c != ',' {
			return false, -1, false
		}
	}
	if s.skipSpace() != len(b) || !haveErrors {
		return false, -1, false
	}
	return errs, items, true
}

// countArray scans an array at s.i and returns its length.
func (s *scanner) countArray() (int, bool) {
	if c, more := s.peek(); !more || c != '[' {
		return 0, false
	}
	s.i++
	if c, more := s.peek(); !more {
		return 0, false
	} else if c == ']' {
		s.i++
		return 0, true
	}
	n := 0
	for {
		if !s.value(2) {
			return 0, false
		}
		n++
		c, more := s.peek()
		if !more {
			return 0, false
		}
		s.i++
		switch c {
		case ',':
		case ']':
			return n, true
		default:
			return 0, false
		}
	}
}
