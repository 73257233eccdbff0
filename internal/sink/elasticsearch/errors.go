package elasticsearch

import "errors"

var (
	// ErrConfig means a sink option is invalid.
	ErrConfig = errors.New("invalid _bulk sink configuration")
	// ErrMalformed means a 2xx answer was not a _bulk response for the
	// request: not JSON, truncated, or with another number of items. The
	// request is resent.
	ErrMalformed = errors.New("malformed _bulk response")
)
