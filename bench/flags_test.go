package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/logrelay/logrelay/internal/cli"
)

func TestRunPipeUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		code int
		want string // in stderr
	}{
		{[]string{"--help"}, 0, "Usage: bench pipe --listen ADDR --to ADDR"},
		{[]string{"-h"}, 0, "--to string"},
		{[]string{"--to", "127.0.0.1:1", "stray"}, 2, `unexpected arguments ["stray"]`},
		{[]string{"--color"}, 2, "unknown flag: --color"},
		{[]string{"--listen", "127.0.0.1:0"}, 2, "--to is required"},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		code := runPipe(tt.args, &stderr)
		if code != tt.code || !strings.Contains(stderr.String(), tt.want) || strings.Contains(stderr.String(), "pflag:") {
			t.Errorf("bench pipe %q: got exit %d, stderr %q want exit %d, stderr with %q", tt.args, code, stderr.String(), tt.code, tt.want)
		}
	}
}

func TestParseFlagsStrayArgument(t *testing.T) {
	t.Parallel()
	if _, _, err := parseFlags([]string{"--quick", "throughput"}); !errors.Is(err, cli.ErrUsage) {
		t.Errorf("stray argument: got %v want cli.ErrUsage", err)
	}
	c, _, err := parseFlags([]string{"--quick", "--scenario", "size"})
	if err != nil || !c.Quick || len(c.Scenarios) != 1 {
		t.Errorf("got %+v, %v", c, err)
	}
}
