package wire

import "errors"

var (
	// ErrShort means fewer bytes were given than the encoding needs.
	ErrShort = errors.New("short buffer")
	// ErrBadMagic means a frame or acknowledgement did not start with its magic.
	ErrBadMagic = errors.New("bad magic")
	// ErrBadReason means a frame carried an unknown flush reason.
	ErrBadReason = errors.New("unknown flush reason")
	// ErrBadCount means a frame's message count disagrees with its payload.
	ErrBadCount = errors.New("message count does not match payload")
	// ErrTooLarge means a frame's payload exceeds the reader's limit.
	ErrTooLarge = errors.New("frame too large")
	// ErrReserved means reserved bytes, which must be zero, were not.
	ErrReserved = errors.New("reserved bytes not zero")
	// ErrBadStatus means an acknowledgement carried an unknown status.
	ErrBadStatus = errors.New("unknown ack status")
)
