package loadgen

import "errors"

var (
	// ErrConfig means a Config field is out of range or fields contradict
	// each other; the wrapping error names the field.
	ErrConfig = errors.New("invalid loadgen config")
	// ErrSizeTooSmall means --size cannot hold the chosen format's smallest
	// message with its stamp and newline.
	ErrSizeTooSmall = errors.New("message size too small for format")
	// ErrInterrupted means the run was cancelled before it completed; the
	// report still describes everything that was sent.
	ErrInterrupted = errors.New("run interrupted before completion")
	// ErrNothingSent means a run sent no message: it never connected, or no
	// write succeeded although its schedule called for messages.
	ErrNothingSent = errors.New("nothing sent")
	// ErrAlreadyRun means Run was called twice on one Generator.
	ErrAlreadyRun = errors.New("generator already run")
	// ErrNoHistograms means the .hlog inputs of a merge held no histogram.
	ErrNoHistograms = errors.New("no interval histograms found")
)
