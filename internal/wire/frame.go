// Package wire provides the formats that logrelay's programs share: the
// framed batch protocol spoken between the relay and a destination, its
// acknowledgements, and the stamp that loadgen writes into every message so
// that mockdest can check loss, duplication, order and latency.
//
// It is the one copy of these formats; the relay, mockdest, loadgen and the
// bench all import it.
//
// # Batch frames (relay → destination)
//
// A frame is a fixed 40-byte header followed by the payload. All integers
// are big-endian.
//
//	offset size field
//	0      4    magic "LRB1"
//	4      8    seq         batch sequence number, from 1, per relay process
//	12     4    count       number of messages in the payload (≥ 1)
//	16     4    payload_len payload length in bytes
//	20     8    oldest_ns   relay receive time of the batch's oldest message (Unix ns)
//	28     8    flush_ns    time the batch was flushed (Unix ns)
//	36     1    reason      1 = size, 2 = age, 3 = shutdown, 4 = bytes
//	37     3    reserved    zero
//	40     n    payload     the messages, each followed by one '\n'
//
// A message never contains '\n' (the relay's input is newline-delimited),
// so the payload is exactly count lines.
//
// # Acknowledgements (destination → relay)
//
// For every frame, in the order the frames arrived, the destination writes
// a 16-byte acknowledgement:
//
//	0      4    magic "LRA1"
//	4      8    seq     the acknowledged frame's seq
//	12     1    status  0 = ok (delivered), 1 = nack (resend it)
//	13     3    reserved zero
//
// The relay may send several frames before it reads their acknowledgements.
// After a nack, an error or a timeout it reconnects and resends every frame
// not yet acknowledged, in seq order, so a destination may see a seq twice
// but never misses one.
package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
)

// HeaderSize is the size in bytes of a batch frame's header.
const HeaderSize = 40

// AckSize is the size in bytes of an acknowledgement.
const AckSize = 16

// DefaultMaxPayload is the payload size above which a Reader rejects a frame
// unless told otherwise.
const DefaultMaxPayload = 64 << 20

var (
	frameMagic = [4]byte{'L', 'R', 'B', '1'}
	ackMagic   = [4]byte{'L', 'R', 'A', '1'}
)

// Reason says why a batch was flushed.
type Reason uint8

// The flush reasons.
const (
	// ReasonSize: the batch reached the configured message count.
	ReasonSize Reason = 1
	// ReasonAge: the batch's oldest message reached the flush interval.
	ReasonAge Reason = 2
	// ReasonShutdown: the relay flushed what it held before exiting.
	ReasonShutdown Reason = 3
	// ReasonBytes: the batch reached the configured byte cap.
	ReasonBytes Reason = 4
)

// Reasons lists every valid Reason, in numeric order.
var Reasons = []Reason{ReasonSize, ReasonAge, ReasonShutdown, ReasonBytes}

// String returns the reason's name as used in metrics and reports.
func (r Reason) String() string {
	switch r {
	case ReasonSize:
		return "size"
	case ReasonAge:
		return "age"
	case ReasonShutdown:
		return "shutdown"
	case ReasonBytes:
		return "bytes"
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// Valid reports whether r is one of the defined reasons.
func (r Reason) Valid() bool { return r >= ReasonSize && r <= ReasonBytes }

// Header is a batch frame's header.
type Header struct {
	Seq        uint64 // batch sequence number
	Count      uint32 // messages in the payload
	PayloadLen uint32 // payload bytes
	OldestNs   int64  // receive time of the oldest message, Unix ns
	FlushNs    int64  // flush time, Unix ns
	Reason     Reason // why the batch was flushed
}

// AppendHeader appends h's encoding to dst and returns the extended slice.
func AppendHeader(dst []byte, h Header) []byte {
	dst = append(dst, frameMagic[:]...)
	dst = binary.BigEndian.AppendUint64(dst, h.Seq)
	dst = binary.BigEndian.AppendUint32(dst, h.Count)
	dst = binary.BigEndian.AppendUint32(dst, h.PayloadLen)
	dst = binary.BigEndian.AppendUint64(dst, uint64(h.OldestNs))
	dst = binary.BigEndian.AppendUint64(dst, uint64(h.FlushNs))
	return append(dst, byte(h.Reason), 0, 0, 0)
}

// PutHeader writes h's encoding into b, which must hold HeaderSize bytes.
func PutHeader(b []byte, h Header) {
	_ = b[HeaderSize-1]
	copy(b, frameMagic[:])
	binary.BigEndian.PutUint64(b[4:], h.Seq)
	binary.BigEndian.PutUint32(b[12:], h.Count)
	binary.BigEndian.PutUint32(b[16:], h.PayloadLen)
	binary.BigEndian.PutUint64(b[20:], uint64(h.OldestNs))
	binary.BigEndian.PutUint64(b[28:], uint64(h.FlushNs))
	b[36], b[37], b[38], b[39] = byte(h.Reason), 0, 0, 0
}

// ParseHeader decodes a header from the first HeaderSize bytes of b.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("parse frame header: %d bytes: %w", len(b), ErrShort)
	}
	if !bytes.Equal(b[:4], frameMagic[:]) {
		return Header{}, fmt.Errorf("parse frame header: magic %q: %w", b[:4], ErrBadMagic)
	}
	h := Header{
		Seq:        binary.BigEndian.Uint64(b[4:]),
		Count:      binary.BigEndian.Uint32(b[12:]),
		PayloadLen: binary.BigEndian.Uint32(b[16:]),
		OldestNs:   int64(binary.BigEndian.Uint64(b[20:])),
		FlushNs:    int64(binary.BigEndian.Uint64(b[28:])),
		Reason:     Reason(b[36]),
	}
	if b[37]|b[38]|b[39] != 0 {
		return Header{}, fmt.Errorf("parse frame header: seq %d: %w", h.Seq, ErrReserved)
	}
	if !h.Reason.Valid() {
		return Header{}, fmt.Errorf("parse frame header: seq %d: %w: %d", h.Seq, ErrBadReason, b[36])
	}
	if h.Count == 0 || h.PayloadLen < h.Count {
		return Header{}, fmt.Errorf("parse frame header: seq %d: count %d, payload %d bytes: %w",
			h.Seq, h.Count, h.PayloadLen, ErrBadCount)
	}
	return h, nil
}

// CheckPayload reports whether payload holds exactly h.Count lines, each
// ended by '\n', and is h.PayloadLen bytes long.
func CheckPayload(h Header, payload []byte) error {
	if uint32(len(payload)) != h.PayloadLen {
		return fmt.Errorf("check payload: seq %d: %d bytes, header says %d: %w",
			h.Seq, len(payload), h.PayloadLen, ErrBadCount)
	}
	if len(payload) == 0 || payload[len(payload)-1] != '\n' {
		return fmt.Errorf("check payload: seq %d: last message has no newline: %w", h.Seq, ErrBadCount)
	}
	if n := bytes.Count(payload, newline); uint32(n) != h.Count {
		return fmt.Errorf("check payload: seq %d: %d messages, header says %d: %w",
			h.Seq, n, h.Count, ErrBadCount)
	}
	return nil
}

var newline = []byte{'\n'}

// ForEachMessage calls fn with every message of a checked payload, without
// its newline. The slice passed to fn aliases payload.
func ForEachMessage(payload []byte, fn func(msg []byte)) {
	for len(payload) > 0 {
		i := bytes.IndexByte(payload, '\n')
		if i < 0 {
			fn(payload)
			return
		}
		fn(payload[:i])
		payload = payload[i+1:]
	}
}

// Reader reads batch frames from a stream, reusing one payload buffer. The
// buffer grows with the bytes that arrive, up to the largest frame read, so
// a header alone never makes the Reader allocate the payload it announces.
type Reader struct {
	br         *bufio.Reader
	hdr        [HeaderSize]byte
	buf        []byte
	maxPayload uint32
}

// NewReader returns a Reader over r that rejects payloads larger than
// maxPayload bytes (DefaultMaxPayload when maxPayload is 0).
func NewReader(r io.Reader, maxPayload uint32) *Reader {
	if maxPayload == 0 {
		maxPayload = DefaultMaxPayload
	}
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 256<<10)
	}
	return &Reader{br: br, maxPayload: maxPayload}
}

// ReadFrame reads the next frame and checks it. The payload aliases the
// Reader's buffer and is valid until the next call. It returns io.EOF when
// the stream ends cleanly between frames.
func (r *Reader) ReadFrame() (Header, []byte, error) {
	if _, err := io.ReadFull(r.br, r.hdr[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return Header{}, nil, fmt.Errorf("read frame header: %w", err)
		}
		return Header{}, nil, err
	}
	h, err := ParseHeader(r.hdr[:])
	if err != nil {
		return Header{}, nil, err
	}
	if h.PayloadLen > r.maxPayload {
		return Header{}, nil, fmt.Errorf("read frame: seq %d: payload %d bytes, limit %d: %w",
			h.Seq, h.PayloadLen, r.maxPayload, ErrTooLarge)
	}
	var p []byte
	if n := int(h.PayloadLen); cap(r.buf) >= n {
		p = r.buf[:n]
		_, err = io.ReadFull(r.br, p)
	} else {
		p, err = r.readGrowing(n)
	}
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Header{}, nil, fmt.Errorf("read frame payload: seq %d: %w", h.Seq, err)
	}
	if err := CheckPayload(h, p); err != nil {
		return Header{}, nil, err
	}
	return h, p, nil
}

// minGrow is the least the payload buffer grows by when a frame is larger
// than any before it.
const minGrow = 64 << 10

// readGrowing reads an n-byte payload larger than the buffer, growing the
// buffer geometrically as the bytes arrive rather than trusting the
// header's length at once: a peer that announces a large frame and sends
// little of it costs memory in proportion to what it sent. The grown
// buffer is kept for later frames.
func (r *Reader) readGrowing(n int) ([]byte, error) {
	buf := r.buf[:0]
	for len(buf) < n {
		if len(buf) == cap(buf) {
			c := min(max(2*cap(buf), minGrow, r.br.Buffered()), n)
			nb := make([]byte, len(buf), c)
			copy(nb, buf)
			buf = nb
			r.buf = buf
		}
		m, err := io.ReadFull(r.br, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// AckStatus is a destination's answer to one frame.
type AckStatus uint8

// The acknowledgement statuses.
const (
	// AckOK: the batch was delivered; the relay forgets it.
	AckOK AckStatus = 0
	// AckNack: the batch was not accepted; the relay resends it.
	AckNack AckStatus = 1
)

// Ack is a destination's acknowledgement of one frame.
type Ack struct {
	Seq    uint64
	Status AckStatus
}

// AppendAck appends a's encoding to dst and returns the extended slice.
func AppendAck(dst []byte, a Ack) []byte {
	dst = append(dst, ackMagic[:]...)
	dst = binary.BigEndian.AppendUint64(dst, a.Seq)
	return append(dst, byte(a.Status), 0, 0, 0)
}

// ParseAck decodes an acknowledgement from the first AckSize bytes of b.
func ParseAck(b []byte) (Ack, error) {
	if len(b) < AckSize {
		return Ack{}, fmt.Errorf("parse ack: %d bytes: %w", len(b), ErrShort)
	}
	if !bytes.Equal(b[:4], ackMagic[:]) {
		return Ack{}, fmt.Errorf("parse ack: magic %q: %w", b[:4], ErrBadMagic)
	}
	a := Ack{Seq: binary.BigEndian.Uint64(b[4:]), Status: AckStatus(b[12])}
	if b[13]|b[14]|b[15] != 0 {
		return Ack{}, fmt.Errorf("parse ack: seq %d: %w", a.Seq, ErrReserved)
	}
	if a.Status > AckNack {
		return Ack{}, fmt.Errorf("parse ack: seq %d: status %d: %w", a.Seq, b[12], ErrBadStatus)
	}
	return a, nil
}

// ReadAck reads one acknowledgement from r into scratch (AckSize bytes).
func ReadAck(r io.Reader, scratch *[AckSize]byte) (Ack, error) {
	if _, err := io.ReadFull(r, scratch[:]); err != nil {
		return Ack{}, err
	}
	return ParseAck(scratch[:])
}
