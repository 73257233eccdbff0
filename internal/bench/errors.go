package bench

import (
	"errors"

	"github.com/logrelay/logrelay/internal/bench/scenario"
)

var (
	// ErrFailed means the suite ran and at least one rule failed.
	ErrFailed = errors.New("rules failed")
	// ErrConfig means the bench was configured inconsistently.
	ErrConfig = errors.New("invalid configuration")
	// ErrUnknownScenario means --scenario named no scenario of the suite.
	ErrUnknownScenario = errors.New("unknown scenario")
	// ErrNotApplicable means a scenario cannot run in this setup (e.g. the
	// shutdown scenario against an external relay it cannot signal).
	ErrNotApplicable = scenario.ErrNotApplicable
)
