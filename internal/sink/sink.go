// Package sink builds the relay's sinks from URLs: FromURL turns a sink
// URL and Options into a relay.Sink. It is the one place that knows the
// URL schemes; the relay itself only sees the relay.Sink interface.
//
// Schemes:
//
//	tcp://HOST:PORT   the wire package's framed batch protocol, acknowledged
//	                  in order (relay.NewTCPSink)
package sink

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"

	"github.com/logrelay/logrelay/internal/relay"
)

// Options are a sink's settings that do not belong in its URL (index
// names, headers, TLS files, secrets read from the environment or a
// file). Each field belongs to one scheme, and other schemes ignore it.
// The tcp scheme takes none: everything it needs is in the URL and the
// relay's delivery policy (relay.Policy).
type Options struct{}

// FromURL returns the sink for rawURL. It checks the URL completely, so a
// sink it returns can at least be dialled: an unknown scheme, a missing or
// out-of-range port (1-65535), credentials in the URL, a query, a
// fragment or a path the scheme does not use are errors wrapping ErrURL.
func FromURL(rawURL string, o Options) (relay.Sink, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// Not url.Error's text: it quotes the URL, password and all.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%w: %v (want SCHEME://HOST:PORT, e.g. tcp://127.0.0.1:9000)", ErrURL, err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w %q: "+format, append([]any{ErrURL, u.Redacted()}, args...)...)
	}
	switch u.Scheme {
	case "tcp":
		if err := checkHostPort(u, bad); err != nil {
			return nil, err
		}
		if u.Path != "" && u.Path != "/" {
			return nil, bad("path %q: want tcp://HOST:PORT", u.Path)
		}
		return relay.NewTCPSink(u.Host), nil
	case "":
		return nil, bad("no scheme: want tcp://HOST:PORT")
	}
	return nil, bad("scheme %q not supported (want tcp)", u.Scheme)
}

// checkHostPort checks what every network sink's URL needs: a host, a
// port in 1-65535, no credentials (secrets come from the environment or a
// file, never the command line), no query and no fragment.
func checkHostPort(u *url.URL, bad func(string, ...any) error) error {
	switch {
	case u.Opaque != "":
		return bad("want %s://HOST:PORT", u.Scheme)
	case u.User != nil:
		return bad("credentials in the URL are not allowed")
	case u.RawQuery != "" || u.ForceQuery:
		return bad("query %q: not allowed", u.RawQuery)
	case u.Fragment != "" || u.RawFragment != "":
		return bad("fragment %q: not allowed", u.Fragment)
	case u.Hostname() == "":
		return bad("no host: want %s://HOST:PORT", u.Scheme)
	case u.Port() == "":
		return bad("no port: want %s://HOST:PORT", u.Scheme)
	}
	p, err := strconv.Atoi(u.Port())
	if err != nil || p < 1 || p > 65535 {
		return bad("port %s: want 1-65535", u.Port())
	}
	return nil
}
