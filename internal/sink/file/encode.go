package file

import (
	"bytes"

	"github.com/logrelay/logrelay/internal/relay"
	"github.com/logrelay/logrelay/internal/wire"
)

// encoder turns a batch into the bytes the sink appends, reusing one
// buffer.
type encoder struct {
	format Format
	bulk   *wire.BulkEncoder // JSON: the _bulk sink's document encoder
	// actionLen is the length of the action line bulk writes before each
	// document; the file holds only the documents.
	actionLen int
	buf       []byte
}

func newEncoder(f Format) encoder {
	e := encoder{format: f}
	if f == JSON {
		e.bulk = wire.NewBulkEncoder(wire.BulkFormat{})
		// With no index and no id the action line is the same for every
		// message: {"create":{}}.
		e.buf = e.bulk.Append(e.buf, nil, 0, nil)
		e.actionLen = bytes.IndexByte(e.buf, '\n') + 1
	}
	return e
}

// encode returns b's bytes in the format; they are valid until the next
// call or until b is settled.
func (e *encoder) encode(b *relay.Batch) []byte {
	if e.format == Lines {
		return b.Payload()
	}
	e.buf = e.buf[:0]
	for _, m := range b.All() {
		start := len(e.buf)
		e.buf = e.bulk.Append(e.buf, m.Data, m.RecvNs, nil)
		n := copy(e.buf[start:], e.buf[start+e.actionLen:])
		e.buf = e.buf[:start+n]
	}
	return e.buf
}
