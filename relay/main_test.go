package main

import (
	"bytes"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/relay"

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
		{[]string{"--sink", "file:///tmp/x.log", "--file-max-bytes", "1000", "--file-keep", "3", "--file-mode", "600", "--file-fsync=false"}, -1, ""},
		{[]string{"--sink", "file://host/tmp/x.log"}, 2, `host "host"`},
		{[]string{"--sink", "file:///tmp/"}, 2, "path"},
		{[]string{"--sink", "file:///tmp/x.log", "--file-format", "xml"}, 2, "lines or json"},
		{[]string{"--sink", "file:///tmp/x.log", "--file-mode", "999"}, 2, "octal"},
		{[]string{"--sink", "file:///tmp/x.log", "--file-max-bytes", "-1"}, 2, "max bytes"},
		{[]string{"--sink", "file:///tmp/x.log", "--file-keep", "-1"}, 2, "keep"},
		{[]string{"--help"}, 0, "--admin-public"},
	} {
		var stderr bytes.Buffer
		a, code := setup(tc.args, &stderr)
		if code != tc.code || (code == -1) != (a != nil && a.relay != nil && a.log != nil && a.sink != nil) {
			t.Errorf("%q: got app %v, exit code %d want %d (stderr %q)", tc.args, a != nil, code, tc.code, stderr.String())
		}
		if !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%q: stderr %q want it to contain %q", tc.args, stderr.String(), tc.want)
		}
	}
}

// hupSink is a sink that counts Reopen calls.
type hupSink struct {
	relay.Sink
	reopens chan struct{}
}

func (s hupSink) Reopen() { s.reopens <- struct{}{} }

// TestOnHangup: SIGHUP reaches a reopener sink's Reopen while the hook is
// installed.
func TestOnHangup(t *testing.T) {
	s := hupSink{reopens: make(chan struct{}, 1)}
	stop := onHangup(s)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.reopens:
	case <-time.After(10 * time.Second):
		t.Fatal("SIGHUP did not call Reopen")
	}
	stop()
	onHangup(relay.NewTCPSink("127.0.0.1:1"))() // not a reopener: nothing to stop
}
