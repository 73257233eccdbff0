package sut

import "errors"

var (
	// ErrNotStarted means the relay is one the bench did not start (an
	// external relay), so the bench cannot stop it.
	ErrNotStarted = errors.New("relay not started by the bench")
	// ErrNoCounters means the relay's counters cannot be read (an
	// external relay without an admin address).
	ErrNoCounters = errors.New("relay counters unavailable")
	// ErrKilled is the shutdown result of a relay process ended by Kill.
	ErrKilled = errors.New("relay killed (SIGKILL)")
)
