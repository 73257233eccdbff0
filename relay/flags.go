package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/logrelay/logrelay/internal/cli"
	"github.com/logrelay/logrelay/internal/relay"
	"github.com/logrelay/logrelay/internal/sink"
	"github.com/logrelay/logrelay/internal/sink/file"
	"github.com/spf13/pflag"
)

// defaultSink is --sink's default.
const defaultSink = "tcp://127.0.0.1:9000"

// app is what setup builds for main.
type app struct {
	relay *relay.Relay
	log   *slog.Logger
	sink  relay.Sink // the relay's sink, for the SIGHUP hook
}

// setup parses args (and the LOGRELAY_* environment), builds the sink
// and the relay, and sets the runtime's profiling rates. It returns them
// and -1, or nil and the exit code: 0 after --help, 2 for a bad flag, sink
// URL or configuration (the reason is written to stderr).
func setup(args []string, stderr io.Writer) (*app, int) {
	c := relay.DefaultConfig()
	fs := pflag.NewFlagSet("relay", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Listen, "listen", c.Listen, "TCP address clients send newline-delimited lines to")
	fs.StringVar(&c.RELPListen, "relp-listen", c.RELPListen, `TCP address RELP clients (rsyslog omrelp) send to; each message is answered only once delivered ("" = off)`)
	fs.IntVar(&c.RELPWindow, "relp-window", c.RELPWindow, "most unanswered messages per RELP session before the relay stops reading it (rounded up to a power of two)")
	fs.StringVar(&c.Admin, "admin", c.Admin, `admin HTTP address for /metrics, /debug/pprof/, /healthz ("" = none; must be on loopback unless --admin-public)`)
	fs.BoolVar(&c.AdminPublic, "admin-public", c.AdminPublic, "allow --admin on a non-loopback address: pprof and metrics are then open to the network (logged as a warning)")
	sinkURL := fs.String("sink", defaultSink, "destination: tcp://HOST:PORT (the framed batch protocol); elasticsearch+http(s)://HOST:PORT/PATH?QUERY (a _bulk API; /_bulk is appended unless PATH ends in _bulk); quickwit+http(s)://HOST:PORT/INDEX (Quickwit's ingest API); loki+http(s)://HOST:PORT/PATH?QUERY (Loki's JSON push API; /loki/api/v1/push is appended unless PATH ends in it); file:///PATH (appended to a file)")
	fs.IntVar(&c.BatchSize, "batch-size", c.BatchSize, "flush a batch when it holds this many messages (never more)")
	fs.DurationVar(&c.FlushInterval, "flush-interval", c.FlushInterval, "flush a batch when its oldest message has waited this long")
	fs.IntVar(&c.BatchBytes, "batch-bytes", c.BatchBytes, "also flush when a batch's payload reaches this many bytes (0 = the protocol's 64 MiB limit)")
	fs.IntVar(&c.MaxLineBytes, "max-line-bytes", c.MaxLineBytes, "drop (and count) lines longer than this")
	fs.IntVar(&c.MaxConns, "max-conns", c.MaxConns, "close new client connections beyond this many (0 = unlimited)")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", c.IdleTimeout, "close client connections silent for this long (0 = never)")
	fs.DurationVar(&c.LineTimeout, "line-timeout", c.LineTimeout, "close client connections whose unfinished line has not ended this long after it began (0 = never)")
	fs.Int64Var(&c.MaxCarryBytes, "max-carry-bytes", c.MaxCarryBytes, "bytes of unfinished lines of 16 KiB or more held at once, all connections (over it a line is dropped and counted; 0 = no bound)")
	fs.IntVar(&c.MaxPending, "max-pending", c.MaxPending, "messages held unacknowledged before reading stops (backpressure)")
	fs.Int64Var(&c.MaxPendingBytes, "max-pending-bytes", c.MaxPendingBytes, "bytes of those messages held before reading stops (must exceed the largest batch)")
	fs.IntVar(&c.SinkConcurrency, "sink-concurrency", c.SinkConcurrency, "batches in flight before their acknowledgements: tcp, on one connection, order kept at any value; HTTP sinks, one request each, applied in any order above 1 (1 = one batch per round trip)")
	fs.DurationVar(&c.RetryBase, "retry-base", c.RetryBase, "first reconnect delay after a sink failure (doubles, with jitter)")
	fs.DurationVar(&c.RetryMax, "retry-max", c.RetryMax, "longest reconnect delay")
	fs.DurationVar(&c.SendTimeout, "send-timeout", c.SendTimeout, "per-attempt limit for connecting and for a batch's acknowledgement")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "on SIGINT/SIGTERM, how long stopping, the final flush and the wait for acknowledgements may take (a second signal exits at once)")
	// _bulk sink (elasticsearch+http(s)://); credentials only from LOGRELAY_SINK_USER,
	// LOGRELAY_SINK_PASSWORD, LOGRELAY_SINK_TOKEN, LOGRELAY_SINK_API_KEY or their _FILE variants.
	var so sink.Options
	fs.StringVar(&so.Bulk.Index, "es-index", "", `_bulk: every action's "_index" ("" = none: the URL's or the engine's default)`)
	fs.StringVar(&so.Bulk.TimeField, "es-time-field", "@timestamp", "_bulk and Quickwit: document field for the relay's receive time (RFC 3339, ns), added unless a JSON line has it")
	fs.StringVar(&so.Bulk.MessageField, "es-message-field", "message", "_bulk and Quickwit: document field holding a line that is not a JSON object")
	fs.StringVar(&so.Bulk.IDs, "es-id", "none", `_bulk: document "_id": none, or batch (RUN-SEQ-POS, so a resend yields 409 on engines that honour ids)`)
	fs.BoolVar(&so.Bulk.NoFilterPath, "es-no-filter-path", false, "_bulk: do not add filter_path=errors,items.*.status,items.*.error to the query")
	// Quickwit ingest sink (quickwit+http(s)://) and Loki push sink (loki+http(s)://).
	fs.StringVar(&so.Quickwit.Commit, "quickwit-commit", "auto", "Quickwit: the ingest API's commit: auto (answer once in the WAL), wait_for (once searchable), force (commit at once, answer once searchable)")
	fs.StringVar(&so.Loki.Labels, "loki-labels", "job=logrelay", "Loki: the stream's static labels, name=value,… (Prometheus label names; at least one)")
	fs.StringArrayVar(&so.Bulk.Headers, "sink-header", nil, `HTTP sinks: extra request header "Name: value" (repeatable; not Authorization: credentials come from the environment)`)
	fs.BoolVar(&so.Bulk.Gzip, "sink-gzip", false, "HTTP sinks: gzip request bodies")
	fs.StringVar(&so.Bulk.TLS.CAFile, "sink-tls-ca", "", "HTTP sinks: PEM CA file to verify the server with (default: the system roots)")
	fs.StringVar(&so.Bulk.TLS.CertFile, "sink-tls-cert", "", "HTTP sinks: PEM client certificate (with --sink-tls-key)")
	fs.StringVar(&so.Bulk.TLS.KeyFile, "sink-tls-key", "", "HTTP sinks: PEM client key (with --sink-tls-cert)")
	fs.BoolVar(&so.Bulk.TLS.InsecureSkipVerify, "sink-tls-insecure-skip-verify", false, "HTTP sinks: accept any server certificate (logged as a warning)")
	fs.StringVar(&so.Bulk.DeadLetter, "dead-letter", "", "HTTP sinks: append documents rejected for good to this NDJSON file (time, status, reason, line)")
	// file sink (file:///PATH)
	fileFormat := fs.String("file-format", "lines", "file sink: lines (each message as received) or json (one NDJSON document a message, as the _bulk sink sends it)")
	fs.BoolVar(&so.File.Fsync, "file-fsync", true, "file sink: acknowledge batches only after fsync of the file (one fsync per group of batches written together; the directory too after creating or renaming a file)")
	fs.Int64Var(&so.File.MaxBytes, "file-max-bytes", 0, "file sink: rotate before a batch would take the file past this size (0 = never; a batch is never split)")
	fs.IntVar(&so.File.Keep, "file-keep", 5, "file sink: rotated files kept (PATH.1 … PATH.N, the oldest deleted; 0 = none)")
	fileMode := fs.String("file-mode", "0644", "file sink: permission of the files it creates, in octal (before the umask)")
	memLimit := fs.Int64("memory-limit", 0, "Go soft memory limit in bytes (0 = 1.5 × --max-pending-bytes + 64 MiB unless GOMEMLIMIT is set; -1 = the runtime's own)")
	logFlags := cli.AddLogFlags(fs, "info")
	mutexFrac := fs.Int("mutex-profile-fraction", 0, "runtime.SetMutexProfileFraction for /debug/pprof/mutex (0 = off)")
	blockRate := fs.Int("block-profile-rate", 0, "runtime.SetBlockProfileRate in ns for /debug/pprof/block (0 = off)")
	err := cli.Parse(fs, "LOGRELAY", args)
	if errors.Is(err, pflag.ErrHelp) {
		return nil, 0
	}
	if err == nil {
		c.Logger, err = logFlags.Logger(stderr)
	}
	if err == nil {
		so.File.Format, err = file.ParseFormat(*fileFormat)
	}
	if err == nil {
		so.File.Mode, err = file.ParseMode(*fileMode)
	}
	if err == nil {
		so.Concurrency, so.Logger = c.SinkConcurrency, c.Logger
		c.Sink, err = sink.FromURL(*sinkURL, so)
	}
	var r *relay.Relay
	if err == nil {
		r, err = relay.New(c)
	}
	if err != nil {
		fmt.Fprintln(stderr, "relay:", err)
		return nil, 2
	}
	runtime.SetMutexProfileFraction(*mutexFrac)
	runtime.SetBlockProfileRate(*blockRate)
	if *memLimit > 0 || *memLimit == 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(cmp.Or(*memLimit, c.SoftMemoryLimit()))
	}
	return &app{relay: r, log: c.Logger, sink: c.Sink}, -1
}
