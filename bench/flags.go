package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/logrelay/logrelay/internal/bench"
	"github.com/logrelay/logrelay/internal/cli"
)

// parseFlags turns the command line (and BENCH_* variables) into a Config.
// After --help it returns pflag.ErrHelp, the usage printed.
func parseFlags(args []string) (bench.Config, bool, error) {
	c := bench.DefaultConfig()
	fs := pflag.NewFlagSet("bench", pflag.ContinueOnError)
	fs.BoolVar(&c.Quick, "quick", false, "shorten every scenario so the suite stays under 90 s (the age rule still uses the real interval)")
	fs.StringSliceVar(&c.Scenarios, "scenario", nil, "run only these scenarios (comma-separated; see --list)")
	list := fs.Bool("list", false, "list the scenarios and exit")
	fs.StringVar(&c.Out, "out", "", "run directory for report.json/md/html, .hgrm files and profiles (default bench-results/<timestamp>)")
	fs.StringVar(&c.Baseline, "baseline", "", "report.json of an earlier run: fail on a significant throughput regression")
	fs.Float64Var(&c.Alpha, "alpha", c.Alpha, "regression gate: significance level of Welch's t-test (0.10 = 90% confidence)")
	fs.Float64Var(&c.MinEffect, "min-effect", c.MinEffect, "regression gate: smallest relative throughput drop that fails (0.05 = 5%)")
	fs.BoolVar(&c.Profile, "profile", false, "save the relay's cpu, heap, allocs, goroutine, mutex and block profiles from an extra throughput run (not in the median or the regression gate)")
	fs.StringVar(&c.RelayBin, "relay-bin", "", "relay binary for the process scenarios (default: go build ./relay on the fly)")
	fs.BoolVar(&c.RelayProcess, "relay-process", false, "run the relay as its own process in every scenario")
	fs.StringVar(&c.RelayAddr, "relay-addr", "", "test a relay already running at this address (its sink must point at --dest-addr)")
	fs.StringVar(&c.RelayAdmin, "relay-admin", "", "admin address (/metrics) of the relay at --relay-addr")
	fs.IntVar(&c.RelayPID, "relay-pid", 0, "pid of the relay at --relay-addr, for CPU and RSS")
	fs.StringVar(&c.DestAddr, "dest-addr", "", "address mockdest listens on (default 127.0.0.1:0)")
	fs.StringVar(&c.DestMode, "dest-mode", c.DestMode, "mockdest mode: frames (logrelay) or lines (another relay at --relay-addr; batch rules not checked)")
	fs.StringVar(&c.Sink, "sink", "tcp", "the relay's sink in every scenario: tcp (into mockdest's frames receiver) or elasticsearch (the _bulk sink into mockdest's _bulk receiver; acknowledgement failures become failed items and requests)")
	fs.IntVar(&c.SinkConcurrency, "sink-concurrency", 0, "the relay's --sink-concurrency (0 = the relay's default for tcp, 1 for elasticsearch, where order holds only at 1)")
	peers := fs.StringArray("peer", nil, "another relay for the throughput table: name=N,addr=A,dest=D[,pid=P][,mode=lines] (repeatable)")
	fs.IntVar(&c.BatchSize, "batch-size", c.BatchSize, "the relay's batch size (the rule checked)")
	fs.DurationVar(&c.FlushInterval, "flush-interval", c.FlushInterval, "the relay's flush interval (the rule checked)")
	fs.DurationVar(&c.AgeTolerance, "age-tolerance", c.AgeTolerance, "slack allowed on the flush interval")
	fs.Float64Var(&c.Rate, "rate", 0, "size scenario: aggregate messages/s (0 = scenario default)")
	fs.IntVar(&c.Conns, "conns", 0, "size and throughput scenarios: connections (0 = default 50)")
	fs.IntVar(&c.ManyConns, "many-conns", 0, "many-conns scenario: connections (0 = default)")
	fs.Float64Var(&c.DurationScale, "duration-scale", 1, "multiply the load durations")
	fs.IntVar(&c.Replicates, "replicates", 0, "throughput scenario: replicates (0 = 3 quick, 5 full)")
	logFlags := cli.AddLogFlags(fs, "error")
	if err := cli.Parse(fs, "BENCH", args); err != nil {
		return c, false, err
	}
	for _, s := range *peers {
		p, err := bench.ParsePeer(s)
		if err != nil {
			return c, false, err
		}
		c.Peers = append(c.Peers, p)
	}
	log, err := logFlags.Logger(os.Stderr)
	if err != nil {
		return c, false, err
	}
	c.Logger, c.Stdout, c.Progress = log, os.Stdout, os.Stderr
	c.ProgressTTY = term.IsTerminal(int(os.Stderr.Fd()))
	c.StepSummary = os.Getenv("GITHUB_STEP_SUMMARY")
	c.Command = os.Args
	if exe, err := os.Executable(); err == nil {
		c.PipeBin, c.PipeArgs = exe, []string{"pipe"}
	}
	return c, *list, nil
}

// parsePipeFlags parses "bench pipe --listen A --to B". After --help it
// returns pflag.ErrHelp, the usage printed to stderr.
func parsePipeFlags(args []string, stderr io.Writer) (listen, to string, err error) {
	fs := pflag.NewFlagSet("bench pipe", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: bench pipe --listen ADDR --to ADDR\n\n"+
			"Copies every connection accepted on --listen, byte for byte, to a new connection to --to:\n"+
			"the bare TCP pipe the throughput scenario compares the relay with.\n\n%s", fs.FlagUsages())
	}
	fs.StringVar(&listen, "listen", "127.0.0.1:0", "address to accept connections on")
	fs.StringVar(&to, "to", "", "address to pipe every connection to")
	if err := fs.Parse(args); err != nil {
		return "", "", err
	}
	if fs.NArg() > 0 {
		return "", "", fmt.Errorf("unexpected arguments %q (see --help)", fs.Args())
	}
	if to == "" {
		return "", "", fmt.Errorf("--to is required (see --help)")
	}
	return listen, to, nil
}
