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

func TestRunCompareUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		code int
		want string // in stderr
	}{
		{[]string{"--help"}, 0, "_bulk → VictoriaLogs cluster"},
		{[]string{"stray"}, 2, `unexpected arguments ["stray"]`},
		{[]string{"--batch-size", "x"}, 2, "--batch-size"},
		{[]string{"--rows", "carrier pigeon", "--out", t.TempDir()}, 2, `row "carrier pigeon"`},
		{[]string{"--batch-size", "0", "--out", t.TempDir()}, 2, "batch size 0"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := runCompare(tt.args, &stdout, &stderr)
		if code != tt.code || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("bench compare-sinks %q: got exit %d, stderr %q want exit %d, stderr with %q", tt.args, code, stderr.String(), tt.code, tt.want)
		}
	}
}

func TestParseCompareFlags(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	c, err := parseCompareFlags([]string{"--batch-size", "100,1000", "--sink-concurrency", "1,4", "--rows", "tcp → mockdest,file fsync=off"}, &stderr)
	if err != nil || len(c.BatchSizes) != 2 || c.BatchSizes[1] != 1000 || len(c.Concurrencies) != 2 || c.Concurrencies[1] != 4 ||
		len(c.Rows) != 2 || c.Rows[1] != "file fsync=off" || c.Messages != 500_000 || c.Replicates != 3 {
		t.Errorf("got %+v, %v", c, err)
	}
}
