package relay

import "errors"

var (
	// ErrUndelivered means that messages the relay had read were not
	// acknowledged by the destination before the shutdown timeout.
	ErrUndelivered = errors.New("messages undelivered")
	// ErrConfig means a Config value is invalid.
	ErrConfig = errors.New("invalid relay config")
	// ErrNack means the destination refused a batch.
	ErrNack = errors.New("destination refused batch")
	// ErrAckOrder means the destination acknowledged a batch other than the
	// oldest one in flight.
	ErrAckOrder = errors.New("acknowledgement out of order")
	// ErrSendTimeout means a batch was not acknowledged within the send
	// timeout.
	ErrSendTimeout = errors.New("batch not acknowledged in time")
	// ErrServing means Serve was called twice on one Relay.
	ErrServing = errors.New("relay already serving")
)
