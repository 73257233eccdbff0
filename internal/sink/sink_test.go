package sink

import (
	"errors"
	"strings"
	"testing"
)

func TestFromURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url, want string // want: the sink's String, or a part of the error
		ok        bool
	}{
		{"tcp://127.0.0.1:9000", "tcp://127.0.0.1:9000", true},
		{"tcp://127.0.0.1:9000/", "tcp://127.0.0.1:9000", true},
		{"TCP://localhost:65535", "tcp://localhost:65535", true},
		{"tcp://[::1]:1", "tcp://[::1]:1", true},
		{"tcp://127.0.0.1:99999", "port 99999: want 1-65535", false},
		{"tcp://127.0.0.1:0", "port 0: want 1-65535", false},
		{"tcp://127.0.0.1:http", `invalid port ":http"`, false},
		{"tcp://user:secret@127.0.0.1:x", "invalid port", false},
		{"tcp://user:secret@127.0.0.1:9000", "credentials", false},
		{"tcp://127.0.0.1:9000?x=1", "query", false},
		{"tcp://127.0.0.1:9000?", "query", false},
		{"tcp://127.0.0.1:9000#f", "fragment", false},
		{"tcp://127.0.0.1:9000/path", "path", false},
		{"tcp://127.0.0.1", "no port", false},
		{"tcp://:9000", "no host", false},
		{"tcp:127.0.0.1:9000", "want tcp://HOST:PORT", false},
		{"127.0.0.1:9000", "", false},
		{"udp://127.0.0.1:9000", `scheme "udp" not supported`, false},
		{"", "no scheme", false},
		{"://", "", false},
	} {
		s, err := FromURL(tc.url, Options{})
		switch {
		case tc.ok && err != nil:
			t.Errorf("%q: got error %v want sink %s", tc.url, err, tc.want)
		case tc.ok && s.String() != tc.want:
			t.Errorf("%q: got sink %s want %s", tc.url, s, tc.want)
		case !tc.ok && !errors.Is(err, ErrURL):
			t.Errorf("%q: got %v, %v want an error wrapping ErrURL", tc.url, s, err)
		case !tc.ok && !strings.Contains(err.Error(), tc.want):
			t.Errorf("%q: got error %q want it to contain %q", tc.url, err, tc.want)
		case !tc.ok && strings.Contains(err.Error(), "secret"):
			t.Errorf("%q: the error %q shows the password", tc.url, err)
		}
	}
}
