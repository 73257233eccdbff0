package httpsink

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/logrelay/logrelay/internal/sink/httpout"
)

// ErrConfig means an HTTP sink option is invalid.
var ErrConfig = errors.New("invalid HTTP sink configuration")

// ParseHeader parses "Name: value" into h, refusing the headers the sink
// sets itself and Authorization (a secret: it comes from the environment
// or a file).
func ParseHeader(h http.Header, s string) error {
	name, value, ok := strings.Cut(s, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.ContainsAny(name, " \t") {
		return fmt.Errorf("%w: header %q: want \"Name: value\"", ErrConfig, s)
	}
	switch http.CanonicalHeaderKey(name) {
	case "Authorization", "Proxy-Authorization":
		return fmt.Errorf("%w: header %s: credentials come from %s, %s, %s or %s (or their _FILE variants), never from a flag",
			ErrConfig, name, httpout.EnvUser, httpout.EnvPassword, httpout.EnvToken, httpout.EnvAPIKey)
	case "Content-Type", "Content-Encoding", "Content-Length", "Host":
		return fmt.Errorf("%w: header %s is set by the sink", ErrConfig, name)
	}
	h.Add(name, strings.TrimSpace(value))
	return nil
}

// CheckHeaders refuses, in headers built without ParseHeader, the ones the
// sink sets itself.
func CheckHeaders(h http.Header) error {
	for name := range h {
		switch name {
		case "Authorization", "Proxy-Authorization", "Content-Type", "Content-Encoding", "Content-Length", "Host":
			return fmt.Errorf("%w: header %s cannot be set", ErrConfig, name)
		}
	}
	return nil
}

// CheckURL checks an endpoint: http or https, with a host.
func CheckURL(u *url.URL) error {
	if u == nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: URL: want http(s)://HOST:PORT/PATH", ErrConfig)
	}
	return nil
}
