package wire

import (
	"bytes"
	"encoding/binary"
)

// A stamp identifies a generated message: the stream (one per loadgen
// connection slot) it belongs to, its sequence number within the stream
// (from 1), and the time it was meant to be sent. loadgen writes one stamp
// into every message, in every format; mockdest finds and parses it without
// decoding the rest of the line.
//
// The text form is
//
//	lr1:SSSSSSSS:QQQQQQQQQQQQQQQQ:TTTTTTTTTTTTTTTTTTT
//
// with the stream id, the sequence number and the send time (Unix ns) in
// decimal, zero-padded to 8, 16 and 19 digits so that a pre-generated
// message can be re-stamped in place. ParseStamp also accepts unpadded
// numbers. A line carries at most one stamp; the first "lr1:" counts.

// StampLen is the length of a stamp written by PutStamp and AppendStamp.
const StampLen = 4 + 8 + 1 + 16 + 1 + 19

// MaxStampStream and MaxStampSeq are the largest stream id and sequence
// number a written stamp holds: its fields are 8 and 16 digits wide, and a
// larger value loses its high digits.
const (
	MaxStampStream = 99_999_999
	MaxStampSeq    = 9_999_999_999_999_999
)

// StampPrefix starts every stamp.
const StampPrefix = "lr1:"

var stampPrefix = []byte(StampPrefix)

// Stamp is the identity and send time carried by a generated message.
type Stamp struct {
	Stream uint32 // stream id
	Seq    uint64 // sequence number within the stream, from 1
	SentNs int64  // intended send time, Unix ns
}

// PutStamp writes s into b, which must hold StampLen bytes. Values too
// large for their field keep only their low-order digits.
func PutStamp(b []byte, s Stamp) {
	_ = b[StampLen-1]
	copy(b, StampPrefix)
	putDigits(b[4:12], uint64(s.Stream))
	b[12] = ':'
	putDigits(b[13:29], s.Seq)
	b[29] = ':'
	putDigits(b[30:49], uint64(s.SentNs))
}

// PutStampSeqTime rewrites only the sequence number and send time of a
// stamp already written by PutStamp at b[0:StampLen].
func PutStampSeqTime(b []byte, seq uint64, sentNs int64) {
	_ = b[StampLen-1]
	putDigits(b[13:29], seq)
	putDigits(b[30:49], uint64(sentNs))
}

// AppendStamp appends s in its fixed-width text form to dst.
func AppendStamp(dst []byte, s Stamp) []byte {
	n := len(dst)
	dst = append(dst, make([]byte, StampLen)...)
	PutStamp(dst[n:], s)
	return dst
}

func putDigits(b []byte, v uint64) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
}

// ParseStamp finds the first stamp in line and decodes it. It reports false
// when line has no well-formed stamp (foreign traffic).
func ParseStamp(line []byte) (Stamp, bool) {
	i := bytes.Index(line, stampPrefix)
	if i < 0 {
		return Stamp{}, false
	}
	b := line[i+len(stampPrefix):]
	if s, ok, done := parseFixed(b); done {
		return s, ok
	}
	return parseLoose(b)
}

// parseFixed decodes the fixed-width form that PutStamp writes, eight
// digits at a time: mockdest parses a stamp per message, and this is most
// of its per-message work. done is false when b is not in that form;
// parseLoose then decides, and decides the same for any b where done is
// true (FuzzParseStamp checks it).
func parseFixed(b []byte) (s Stamp, ok, done bool) {
	const n = StampLen - len(StampPrefix) // 45: 8 + 1 + 16 + 1 + 19
	if len(b) < n || b[8] != ':' || b[25] != ':' || (len(b) > n && isDigit(b[n])) {
		return Stamp{}, false, false
	}
	stream, ok1 := eightDigits(b[0:8])
	seqHi, ok2 := eightDigits(b[9:17])
	seqLo, ok3 := eightDigits(b[17:25])
	tHi, ok4 := threeDigits(b[26:29])
	tMid, ok5 := eightDigits(b[29:37])
	tLo, ok6 := eightDigits(b[37:45])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return Stamp{}, false, false
	}
	sent := tHi*1e16 + tMid*1e8 + tLo // at most 999…9 (19 digits) < 2^64
	if sent > 1<<63-1 {
		return Stamp{}, false, true
	}
	return Stamp{Stream: uint32(stream), Seq: seqHi*1e8 + seqLo, SentNs: int64(sent)}, true, true
}

func isDigit(c byte) bool { return c-'0' <= 9 }

// eightDigits decodes b[0:8], eight ASCII digits, with a few word-wide
// operations (the SWAR method): it checks that every byte is '0' to '9',
// then combines digit pairs, then pairs of pairs, then halves.
func eightDigits(b []byte) (uint64, bool) {
	v := binary.LittleEndian.Uint64(b)
	const hi, zeros, six = 0xF0F0F0F0F0F0F0F0, 0x3030303030303030, 0x0606060606060606
	if v&hi != zeros || (v+six)&hi != zeros { // a high nibble not 3, or a low one over 9
		return 0, false
	}
	v -= zeros
	v = (v*10 + v>>8) & 0x00FF00FF00FF00FF
	v = (v*100 + v>>16) & 0x0000FFFF0000FFFF
	v = (v*10000 + v>>32) & 0x00000000FFFFFFFF
	return v, true
}

func threeDigits(b []byte) (uint64, bool) {
	_ = b[2]
	if !isDigit(b[0]) || !isDigit(b[1]) || !isDigit(b[2]) {
		return 0, false
	}
	return uint64(b[0]-'0')*100 + uint64(b[1]-'0')*10 + uint64(b[2]-'0'), true
}

// parseLoose decodes a stamp's fields after the prefix in any width:
// 1 to 10 digits of stream, 1 to 20 of seq, 1 to 19 of time.
func parseLoose(b []byte) (Stamp, bool) {
	stream, b, ok := parseDigits(b, 10)
	if !ok || stream > 1<<32-1 || len(b) == 0 || b[0] != ':' {
		return Stamp{}, false
	}
	seq, b, ok := parseDigits(b[1:], 20)
	if !ok || len(b) == 0 || b[0] != ':' {
		return Stamp{}, false
	}
	sent, _, ok := parseDigits(b[1:], 19)
	if !ok || sent > 1<<63-1 {
		return Stamp{}, false
	}
	return Stamp{Stream: uint32(stream), Seq: seq, SentNs: int64(sent)}, true
}

// parseDigits reads 1 to max decimal digits from the start of b.
func parseDigits(b []byte, max int) (v uint64, rest []byte, ok bool) {
	n := 0
	for n < len(b) && n < max && b[n] >= '0' && b[n] <= '9' {
		d := uint64(b[n] - '0')
		if v > (1<<64-1-d)/10 {
			return 0, b, false
		}
		v = v*10 + d
		n++
	}
	if n == 0 || (n < len(b) && b[n] >= '0' && b[n] <= '9') {
		return 0, b, false
	}
	return v, b[n:], true
}

// SeqRange is an inclusive range of sequence numbers within one stream,
// as loadgen reports what it did not send or may have lost, and mockdest
// reports what it did not receive.
type SeqRange struct {
	From uint64 `json:"from"`
	To   uint64 `json:"to"`
}

// Len returns the number of sequence numbers in r.
func (r SeqRange) Len() uint64 { return r.To - r.From + 1 }
