package mockdest

import "errors"

var (
	// ErrConfig means a Config field has an invalid value.
	ErrConfig = errors.New("invalid configuration")
	// ErrExpect means the number of distinct stamped messages differs from
	// Config.Expect, or some stream has gaps.
	ErrExpect = errors.New("expected messages did not arrive")
	// ErrMaxBatch means a batch larger than Config.MaxBatch arrived.
	ErrMaxBatch = errors.New("batch larger than the maximum")
	// ErrListen means the listener or the admin listener could not be
	// opened; nothing was served.
	ErrListen = errors.New("cannot listen")
	// ErrUntracked means the stream checker ran out of its memory budget, so
	// some stamped messages were counted but not checked.
	ErrUntracked = errors.New("stamped messages beyond the stream checker's capacity")
)
