package file

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestNew(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		c    Config
		want string // "" = valid, else part of the error
	}{
		{Config{Path: "/var/log/out.log"}, ""},
		{Config{Path: "/var/log/out.log", Format: JSON, Fsync: true, MaxBytes: 1 << 20, Keep: 3, Mode: 0o600}, ""},
		{Config{Path: ""}, "absolute"},
		{Config{Path: "out.log"}, "absolute"},
		{Config{Path: "/var/log/../out.log"}, "clean"},
		{Config{Path: "/var/log/"}, "clean"},
		{Config{Path: "/"}, "clean"},
		{Config{Path: "/x", Format: 7}, "format"},
		{Config{Path: "/x", MaxBytes: -1}, "max bytes"},
		{Config{Path: "/x", Keep: -1}, "keep"},
		{Config{Path: "/x", Mode: os.ModeDir | 0o755}, "mode"},
	} {
		s, err := New(tc.c)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: got error %v want a sink", tc.c, err)
		case tc.want != "" && (!errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: got %v, %v want an ErrConfig containing %q", tc.c, s, err, tc.want)
		}
	}
	s, _ := New(Config{Path: "/tmp/a b.log"})
	if got, want := s.String(), "file:///tmp/a%20b.log"; got != want {
		t.Errorf("String: got %q want %q", got, want)
	}
	if s.cfg.Mode != DefaultMode {
		t.Errorf("mode: got %v want %v", s.cfg.Mode, DefaultMode)
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want Format
		ok   bool
	}{{"lines", Lines, true}, {"json", JSON, true}, {"JSON", 0, false}, {"", 0, false}} {
		got, err := ParseFormat(tc.in)
		if (err == nil) != tc.ok || got != tc.want || (tc.ok && got.String() != tc.in) {
			t.Errorf("ParseFormat(%q): got %v, %v want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	for _, tc := range []struct {
		in   string
		want os.FileMode
		ok   bool
	}{{"0644", 0o644, true}, {"600", 0o600, true}, {"0", 0, true}, {"1777", 0, false}, {"8", 0, false}, {"rw", 0, false}, {"", 0, false}} {
		got, err := ParseMode(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseMode(%q): got %v, %v want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// TestMetrics: the sink is a collector whose metrics a registry accepts,
// every name once.
func TestMetrics(t *testing.T) {
	t.Parallel()
	s, _ := New(Config{Path: "/x"})
	s.m.fsyncSeconds.Observe(0.001)
	reg := prometheus.NewRegistry()
	reg.MustRegister(s)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	want := "logrelay_file_bytes_written_total logrelay_file_errors_total logrelay_file_fsync_seconds logrelay_file_fsyncs_total logrelay_file_reopens_total logrelay_file_rotations_total logrelay_file_size_bytes"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("metrics:\ngot  %s\nwant %s", got, want)
	}
}
