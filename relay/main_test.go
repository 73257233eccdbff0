package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestSetupExitCodes: a bad sink URL and a non-loopback admin address
// without --admin-public are refused at start with exit code 2, before
// anything is served.
func TestSetupExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int    // -1: the relay would run
		want string // in stderr
	}{
		{[]string{"--sink", "tcp://127.0.0.1:99999"}, 2, "port 99999"},
		{[]string{"--sink", "tcp://127.0.0.1:0"}, 2, "port 0"},
		{[]string{"--sink", "tcp://u:p@127.0.0.1:9000"}, 2, "credentials"},
		{[]string{"--sink", "tcp://127.0.0.1:9000?a=b"}, 2, "query"},
		{[]string{"--sink", "http://127.0.0.1:9000"}, 2, "not supported"},
		{[]string{"--admin", "0.0.0.0:6060"}, 2, "--admin-public"},
		{[]string{"--admin", ":6060"}, 2, "not on loopback"},
		{[]string{"--admin", "0.0.0.0:6060", "--admin-public"}, -1, ""},
		{[]string{"--admin", "localhost:6060"}, -1, ""},
		{[]string{"--admin", "[::1]:6060", "--sink", "tcp://[::1]:9000/"}, -1, ""},
		{[]string{"--log-format", "xml"}, 2, "log format"},
		{[]string{"--help"}, 0, "--admin-public"},
	} {
		var stderr bytes.Buffer
		r, log, code := setup(tc.args, &stderr)
		if code != tc.code || (code == -1) != (r != nil && log != nil) {
			t.Errorf("%q: got relay %v, exit code %d want %d (stderr %q)", tc.args, r != nil, code, tc.code, stderr.String())
		}
		if !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%q: stderr %q want it to contain %q", tc.args, stderr.String(), tc.want)
		}
	}
}
