package sink

import "errors"

// ErrURL means a sink URL is invalid or names an unsupported scheme.
var ErrURL = errors.New("invalid sink URL")
