package file

import "github.com/logrelay/logrelay/internal/relay"

// encoder turns a batch into the bytes the sink appends, reusing one
// buffer.
type encoder struct {
	format Format
	buf    []byte
}

func newEncoder(f Format) encoder { return encoder{format: f} }

// encode returns b's bytes in the format; they are valid until the next
// call or until b is settled.
func (e *encoder) encode(b *relay.Batch) []byte {
	return b.Payload()
}
