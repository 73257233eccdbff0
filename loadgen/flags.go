package main

import (
	"fmt"
	"os"

	"github.com/logrelay/logrelay/internal/cli"
	"github.com/logrelay/logrelay/internal/loadgen"
	"github.com/spf13/pflag"
)

// envPrefix prefixes the environment variable of every flag.
const envPrefix = "LOADGEN"

// exitCodes ends --help.
const exitCodes = `exit status:
  0  the run completed
  1  the run never connected (or not within --give-up), or sent nothing
     although messages fell due; it was interrupted before it completed;
     or a report was not written
  2  usage or configuration error
`

// parseFlags turns the command line (and LOADGEN_* variables) into a
// Config; code ≥ 0 means exit with it.
func parseFlags(args []string) (loadgen.Config, int) {
	var c loadgen.Config
	fs := pflag.NewFlagSet("loadgen", pflag.ContinueOnError)
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:8080", "TCP address to send to")
	fs.IntVar(&c.Conns, "conns", 1, "connections, one stream each (stream ids --stream-base to --stream-base+conns-1)")
	fs.IntVar(&c.StreamBase, "stream-base", 0, fmt.Sprintf("id of the first stream; give each loadgen sending to one receiver its own range, e.g. 0, 1000, 2000 with --conns 1000 (last id ≤ %d)", loadgen.MaxStream))
	rate := fs.String("rate", "0", "aggregate messages/s, 0 = as fast as possible; suffixes k or K (×1000) and M (×1,000,000), not m")
	fs.DurationVar(&c.Duration, "duration", 0, "stop after this long (0 = no limit)")
	fs.Int64Var(&c.Count, "count", 0, "stop after this many messages in total (0 = no limit)")
	fs.IntVar(&c.Size, "size", loadgen.DefaultSize, "bytes per message, newline included")
	fs.StringVar(&c.Format, "format", "json", "message format: json, syslog (RFC 5424), apache (common log) or raw")
	fs.DurationVar(&c.RampUp, "ramp-up", 0, "raise the rate linearly from 0 over this long first")
	fs.Float64Var(&c.ConnectRate, "connect-rate", 0, "connection attempts per second, all streams (0 = unlimited)")
	fs.Int64Var(&c.Seed, "seed", 1, "seed for payloads, chaos and jitter")
	steps := fs.String("rate-steps", "", "step profile: comma-separated rates with the suffixes of --rate, e.g. 10k,50k,1M")
	fs.DurationVar(&c.StepDuration, "step-duration", 0, "how long each of --rate-steps lasts")
	sineAmp := fs.String("sine-amplitude", "0", "sine profile: amplitude around --rate (≤ rate), with the suffixes of --rate")
	fs.DurationVar(&c.SinePeriod, "sine-period", 0, "sine profile: period")
	rampTo := fs.String("ramp-to", "0", "linear profile: go from --rate to this rate (suffixes as --rate) over --duration minus --ramp-up")
	fs.IntVar(&c.Burst, "burst", 0, "send each connection's messages in back-to-back groups of this many")
	fs.DurationVar(&c.ChaosEvery, "chaos-every", 0, "close one random connection this often (0 = off)")
	fs.Float64Var(&c.ChaosProb, "chaos-prob", 0, "close each connection with this probability per second")
	fs.Float64Var(&c.ChaosAbortive, "chaos-abortive", 0.5, "fraction of chaos closes that are abortive (RST)")
	fs.DurationVar(&c.ReconnectBase, "reconnect-base", loadgen.DefaultReconnectBase, "first reconnect delay (doubles per failure, jittered)")
	fs.DurationVar(&c.ReconnectMax, "reconnect-max", loadgen.DefaultReconnectMax, "longest reconnect delay")
	fs.DurationVar(&c.ConnectTimeout, "connect-timeout", loadgen.DefaultConnectTimeout, "limit for one connection attempt")
	fs.DurationVar(&c.GiveUp, "give-up", loadgen.DefaultGiveUp, "end the run (exit 1) when no connection at all was made this long after the start (0 = never)")
	fs.BoolVar(&c.RELP, "relp", false, "speak RELP (librelp's protocol): every message is acknowledged; unacknowledged ones are resent after a reconnect")
	fs.IntVar(&c.RELPWindow, "relp-window", loadgen.DefaultRELPWindow, "with --relp: most unacknowledged messages per connection")
	fs.DurationVar(&c.RELPFinalWait, "relp-final-wait", loadgen.DefaultRELPFinalWait, "with --relp: how long to wait for the last acknowledgements at the end")
	fs.StringVar(&c.Report, "report", "", "write the JSON report to this file")
	fs.StringVar(&c.OutDir, "out", "", "write report.json, report.txt and .hgrm files into this directory")
	fs.StringVar(&c.HlogPath, "hlog", "", "write interval histograms (HdrHistogram log format) to this file")
	progress := fs.Bool("progress", true, "print a progress line every second on stderr")
	logFlags := cli.AddLogFlags(fs, "warn")
	cli.AnnotateEnv(fs, envPrefix)
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: loadgen [flags]\n       loadgen merge [--out DIR] [--hlog FILE] a.hlog b.hlog...\n\n%s\n%s",
			fs.FlagUsages(), exitCodes)
	}
	if err := fs.Parse(args); err != nil {
		if err == pflag.ErrHelp {
			return c, 0
		}
		fmt.Fprintf(os.Stderr, "loadgen: %v (see --help)\n", err)
		return c, 2
	}
	fail := func(err error) (loadgen.Config, int) {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		return c, 2
	}
	if fs.NArg() > 0 {
		return fail(fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	if err := cli.BindEnv(fs, envPrefix); err != nil {
		return fail(err)
	}
	var err error
	if c.Rate, err = loadgen.ParseRate(*rate); err != nil {
		return fail(err)
	}
	if c.RampTo, err = loadgen.ParseRate(*rampTo); err != nil {
		return fail(err)
	}
	if c.SineAmplitude, err = loadgen.ParseRate(*sineAmp); err != nil {
		return fail(err)
	}
	if c.RateSteps, err = loadgen.ParseRates(*steps); err != nil {
		return fail(err)
	}
	if c.Logger, err = logFlags.Logger(os.Stderr); err != nil {
		return fail(err)
	}
	if *progress {
		c.Progress = os.Stderr
	}
	if c.GiveUp == 0 {
		c.GiveUp = -1 // the flag's 0 means never; the Config's 0 means the default
	}
	return c, -1
}
