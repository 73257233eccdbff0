package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseFlags(t *testing.T) {
	t.Setenv("MOCKDEST_ACK_DELAY", "3ms")
	var stderr bytes.Buffer
	c, code := parseFlags([]string{"--mode", "lines", "--log-format", "json"}, &stderr)
	if code != -1 || c.Mode != "lines" || c.AckDelay != 3*time.Millisecond || c.Logger == nil {
		t.Errorf("got code %d, mode %q, ack delay %v, logger %v want -1, lines, 3ms (env), a logger",
			code, c.Mode, c.AckDelay, c.Logger != nil)
	}
	t.Setenv("MOCKDEST_QUICKWIT_INDEXES", "a-logs,b-logs")
	c, code = parseFlags([]string{"--bulk-flavour", "quickwit", "--quickwit-parse-failure-rate", "0.1", "--quickwit-commit-delay", "2s", "--bulk-unavailable-rate", "0.2"}, &stderr)
	if b := c.Bulk; code != -1 || len(b.Indexes) != 2 || b.Indexes[1] != "b-logs" || b.ParseFailureRate != 0.1 || b.CommitDelay != 2*time.Second || b.UnavailableRate != 0.2 {
		t.Errorf("quickwit flags: code %d, bulk config %+v", code, b)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--log-level", "loud"}, 2, "log level"},
		{[]string{"--nope"}, 2, "unknown flag"},
		{[]string{"extra"}, 2, "unexpected arguments"},
		{[]string{"--help"}, 0, "--log-format"},
	} {
		stderr.Reset()
		if _, code := parseFlags(tc.args, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%q: got code %d, stderr %q want %d and %q", tc.args, code, stderr.String(), tc.code, tc.want)
		}
	}
}
