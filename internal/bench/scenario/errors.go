package scenario

import "errors"

// ErrNotApplicable means a scenario cannot run in this setup (e.g. the
// shutdown scenario against an external relay it cannot signal).
var ErrNotApplicable = errors.New("bench: scenario not applicable")
