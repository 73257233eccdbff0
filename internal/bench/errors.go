package bench

import "errors"

var (
	// ErrFailed means the suite ran and at least one rule failed.
	ErrFailed = errors.New("rules failed")
	// ErrConfig means the bench was configured inconsistently.
	ErrConfig = errors.New("invalid configuration")
	// ErrUnknownScenario means --scenario named no scenario of the suite.
	ErrUnknownScenario = errors.New("unknown scenario")
)
