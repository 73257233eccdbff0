package file

import "errors"

// ErrConfig means a Config is invalid: a relative or empty path, an
// unknown format, a negative size or count.
var ErrConfig = errors.New("invalid file sink configuration")
