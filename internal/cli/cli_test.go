package cli

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestBindEnv(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"LOGRELAY_LISTEN":         "127.0.0.1:1",
		"LOGRELAY_MAX_LINE_BYTES": "99",
		"LOGRELAY_FLUSH_INTERVAL": "3s",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8080", "listen address")
	maxLine := fs.Int("max-line-bytes", 10, "max line")
	flush := fs.Duration("flush-interval", time.Second, "flush")
	admin := fs.String("admin", "x", "admin")
	if err := fs.Parse([]string{"--max-line-bytes=5"}); err != nil {
		t.Fatal(err)
	}
	if err := bindEnv(fs, "LOGRELAY", lookup); err != nil {
		t.Fatal(err)
	}
	if *listen != "127.0.0.1:1" || *maxLine != 5 || *flush != 3*time.Second || *admin != "x" {
		t.Errorf("got listen=%q max=%d flush=%v admin=%q want 127.0.0.1:1 5 3s x", *listen, *maxLine, *flush, *admin)
	}
	if u := fs.Lookup("listen").Usage; !strings.Contains(u, "(env LOGRELAY_LISTEN)") {
		t.Errorf("usage %q does not name the variable", u)
	}
}

func TestBindEnvInvalid(t *testing.T) {
	t.Parallel()
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.Int("batch-size", 100, "")
	err := bindEnv(fs, "LOGRELAY", func(k string) (string, bool) { return "many", k == "LOGRELAY_BATCH_SIZE" })
	if err == nil || !strings.Contains(err.Error(), "LOGRELAY_BATCH_SIZE") {
		t.Errorf("got %v want an error naming LOGRELAY_BATCH_SIZE", err)
	}
}

func TestNewLogger(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l, err := NewLogger("warn", "json", &buf)
	if err != nil {
		t.Fatal(err)
	}
	l.Info("hidden")
	l.Warn("shown", "k", 1)
	if s := buf.String(); strings.Contains(s, "hidden") || !strings.Contains(s, `"msg":"shown"`) {
		t.Errorf("got %q", s)
	}
	for _, bad := range [][2]string{{"loud", "text"}, {"info", "xml"}} {
		if _, err := NewLogger(bad[0], bad[1], &buf); err == nil {
			t.Errorf("NewLogger(%q, %q): got nil error", bad[0], bad[1])
		}
	}
}

func TestParse(t *testing.T) {
	t.Setenv("PARSETEST_N", "7")
	tests := []struct {
		args      []string
		wantN     int
		wantErr   error
		errSubstr string
	}{
		{nil, 7, nil, ""},
		{[]string{"--n", "3"}, 3, nil, ""},
		{[]string{"--help"}, 0, pflag.ErrHelp, ""},
		{[]string{"--nope"}, 0, ErrUsage, "unknown flag: --nope"},
		{[]string{"--n", "abc"}, 0, ErrUsage, "invalid argument"},
		{[]string{"stray"}, 0, ErrUsage, `unexpected arguments ["stray"]`},
	}
	for _, tt := range tests {
		fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
		fs.SetOutput(io.Discard)
		n := fs.Int("n", 1, "a number")
		err := Parse(fs, "PARSETEST", tt.args)
		switch {
		case tt.wantErr == nil && err != nil:
			t.Errorf("%q: got error %v want none", tt.args, err)
		case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
			t.Errorf("%q: got error %v want %v", tt.args, err, tt.wantErr)
		case err != nil && !strings.Contains(err.Error(), tt.errSubstr):
			t.Errorf("%q: got error %q, want it to contain %q", tt.args, err, tt.errSubstr)
		case tt.wantErr == nil && *n != tt.wantN:
			t.Errorf("%q: got n=%d want %d", tt.args, *n, tt.wantN)
		}
	}
}

func TestLogFlags(t *testing.T) {
	t.Parallel()
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	lf := AddLogFlags(fs, "warn")
	if f := fs.Lookup("log-level"); f == nil || f.DefValue != "warn" {
		t.Fatalf("--log-level: got %+v want default warn", f)
	}
	if err := fs.Parse([]string{"--log-format", "json", "--log-level", "info"}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log, err := lf.Logger(&buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Debug("hidden")
	log.Info("shown")
	if got := buf.String(); !strings.HasPrefix(got, "{") || !strings.Contains(got, `"msg":"shown"`) || strings.Contains(got, "hidden") {
		t.Errorf("got %q want one JSON line for the info message", got)
	}
	if err := fs.Parse([]string{"--log-format", "xml"}); err != nil {
		t.Fatal(err)
	}
	if _, err := lf.Logger(&buf); err == nil {
		t.Error("--log-format xml: got no error")
	}
}
