package wire

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
)

// scanObject checks, without allocating, that b is exactly one JSON
// object (RFC 8259 grammar, as encoding/json.Valid checks it, white space
// around it already trimmed), nested at most maxJSONDepth deep, and whether
// its top level has the key timeKey (compared as the raw bytes between the
// key's quotes).
//
// It is one loop over b with no recursion and no calls on the way: the
// kinds of the open containers are the bits of one word (maxJSONDepth is
// 64), and strings are skipped eight bytes at a time.
func scanObject(b, timeKey []byte) objectScan {
	n := len(b)
	if n < 2 || b[0] != '{' || b[n-1] != '}' {
		return objectScan{}
	}
	v, end := scanContainerAt(b, 0, maxJSONDepth, timeKey)
	if !v.ok || end != n { // b ends with '}' and is trimmed: this is something after the object
		return objectScan{}
	}
	v.empty = n == 2 || len(trimJSONSpace(b[1:n-1])) == 0
	return v
}

// scanContainerAt scans the JSON object or array that starts at b[start]
// (a '{' or a '['), nested at most limit deep (limit >= 1; the container
// itself is depth 1), and returns what scanObject learns about it (but
// empty; hasTime is about an object's own keys) and the index just after
// it. v.ok is false, and end where it stopped, when it is not valid JSON.
func scanContainerAt(b []byte, start, limit int, timeKey []byte) (v objectScan, end int) {
	n := len(b)
	var arrays uint64 // bit d-1: the container at depth d is an array
	depth := 1
	i := start + 1
	var c byte
	var inArray, inKey bool
	keyStart := 0
	if b[start] == '[' {
		arrays = 1
		goto arrayStart
	}

objectStart: // after '{': a key or '}'
	for i < n && jsonSpace[b[i]] {
		i++
	}
	if i >= n {
		return v, i
	}
	if b[i] == '}' {
		i++
		goto closed
	}

key: // at a key's opening quote
	if i >= n || b[i] != '"' {
		return v, i
	}
	keyStart = i + 1
	i++
	inKey = true
	goto str
afterKey:
	if depth == 1 && string(b[keyStart:i-1]) == string(timeKey) {
		v.hasTime = true
	}
	for i < n && jsonSpace[b[i]] {
		i++
	}
	if i >= n || b[i] != ':' {
		return v, i
	}
	i++

value: // a value, white space before it allowed
	for i < n && jsonSpace[b[i]] {
		i++
	}
	if i >= n {
		return v, i
	}
	switch c = b[i]; c {
	case '"':
		i++
		inKey = false
		goto str
	case '{':
		if depth++; depth > limit {
			return v, i
		}
		arrays &^= 1 << (depth - 1)
		i++
		goto objectStart
	case '[':
		if depth++; depth > limit {
			return v, i
		}
		arrays |= 1 << (depth - 1)
		i++
		goto arrayStart
	case 't':
		if n-i < 4 || string(b[i:i+4]) != "true" {
			return v, i
		}
		i += 4
	case 'f':
		if n-i < 5 || string(b[i:i+5]) != "false" {
			return v, i
		}
		i += 5
	case 'n':
		if n-i < 4 || string(b[i:i+4]) != "null" {
			return v, i
		}
		i += 4
	default:
		var ok bool
		if i, ok = scanNumber(b, i); !ok {
			return v, i
		}
	}

afterValue: // after a value: ',' or the container's end
	for i < n && jsonSpace[b[i]] {
		i++
	}
	if i >= n {
		return v, i
	}
	c = b[i]
	i++
	inArray = arrays&(1<<(depth-1)) != 0
	switch {
	case c == ',' && inArray:
		goto value
	case c == ',':
		for i < n && jsonSpace[b[i]] {
			i++
		}
		goto key
	case c == ']' && inArray, c == '}' && !inArray:
		goto closed
	}
	return v, i

str: // inside a string (key if inKey), just after its opening quote or a piece of it
	for n-i >= 8 {
		if sp := stringSpecial(binary.LittleEndian.Uint64(b[i:])); sp != 0 {
			i += bits.TrailingZeros64(sp) / 8
			goto strByte
		}
		i += 8
	}
	for i < n && stringPlain[b[i]] {
		i++
	}
strByte: // at a byte of a string that plain ASCII is not, or the end
	if i >= n {
		return v, i
	}
	switch c = b[i]; {
	case c == '"':
		i++
		if inKey {
			goto afterKey
		}
		goto afterValue
	case c == '\\':
		if i+1 >= n {
			return v, i
		}
		switch b[i+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			i += 2
		case 'u':
			if n-i < 6 || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
				return v, i
			}
			i += 6
		default:
			return v, i
		}
	case c < 0x20:
		return v, i
	case c < utf8.RuneSelf:
		i++ // not reached: every other ASCII byte is plain
	default:
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			v.badUTF8 = true
		}
		i += size
	}
	goto str

arrayStart: // after '[': a value or ']'
	for i < n && jsonSpace[b[i]] {
		i++
	}
	if i < n && b[i] == ']' {
		i++
		goto closed
	}
	goto value

closed: // just after a container's end
	if depth--; depth > 0 {
		goto afterValue
	}
	v.ok = true
	return v, i
}

// jsonSpace[c] is true for JSON white space.
var jsonSpace = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}

// stringPlain[c] is true for the bytes a JSON string holds as they are
// and that are ASCII.
var stringPlain = safeASCII

// stringSpecial returns a word whose high bits flag bytes of w that a
// plain-ASCII string run cannot hold (below 0x20, '"', '\\', from 0x80);
// it is 0 exactly when there is none (a borrow can only add flags above a
// real one).
func stringSpecial(w uint64) uint64 {
	q := w ^ (swarOnes * '"')
	bs := w ^ (swarOnes * '\\')
	return ((w - swarOnes*0x20) | (q - swarOnes) | (bs - swarOnes) | w) & swarHigh
}

// scanNumber scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at b[i]
// and returns the index after it.
func scanNumber(b []byte, i int) (int, bool) {
	n := len(b)
	if b[i] == '-' {
		i++
	}
	if i >= n || !isDigit(b[i]) {
		return i, false
	}
	if b[i] == '0' {
		i++
	} else {
		for i < n && isDigit(b[i]) {
			i++
		}
	}
	if i < n && b[i] == '.' {
		i++
		if i >= n || !isDigit(b[i]) {
			return i, false
		}
		for i < n && isDigit(b[i]) {
			i++
		}
	}
	if i < n && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < n && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= n || !isDigit(b[i]) {
			return i, false
		}
		for i < n && isDigit(b[i]) {
			i++
		}
	}
	return i, true
}
