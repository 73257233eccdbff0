// Package dest provides the bench's destination: a mockdest in the bench's
// process, one per scenario (or step), that records every batch the relay
// under test delivers and says which sink URL points at it. A new kind of
// destination (another mockdest receiver) is a new Sink (or Mode) here and
// nowhere else.
//
// Sinks: SinkTCP (mockdest's frames or lines receiver, the relay's tcp://
// sink) and SinkElasticsearch (mockdest's bulk receiver in the
// elasticsearch flavour, the relay's elasticsearch+http:// sink into index
// "logs"). For the _bulk receiver, the frame receiver's acknowledgement
// failures become HTTP failures: NackRate, a fraction of batches, becomes
// a twentieth of it as the fraction of documents answered 429 (resent
// alone by the sink; per document, so of 100-document requests about 5
// times NackRate carry one) and, split in halves, the fractions of
// requests answered 429 and 500 (nothing stored, resent whole); NoAckRate
// is the fraction of requests stored whose answer is cut off (the sink
// cannot know they were stored, so its resend makes duplicates, counted
// apart in mockdest's bulk.duplicates_after_break).
package dest

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/logrelay/logrelay/internal/bench/inproc"
	"github.com/logrelay/logrelay/internal/mockdest"
	"github.com/logrelay/logrelay/internal/wire"
)

// The relay sinks a destination can receive from (Config.Sink).
const (
	SinkTCP           = "tcp"           // tcp://: mockdest's frames (or lines) receiver
	SinkElasticsearch = "elasticsearch" // elasticsearch+http://: mockdest's _bulk receiver
)

// SinkQuickwit is quickwit+http://ADDR/logs into mockdest's _bulk
// receiver in the quickwit flavour, which serves Quickwit's ingest API
// (index "logs"). It takes no failure mapping (NackRate and NoAckRate
// must be 0); bench compare-sinks uses it, the suite does not.
const SinkQuickwit = "quickwit"

// Sinks are the Config.Sink values the whole suite runs with, in the
// order the bench lists them.
var Sinks = []string{SinkTCP, SinkElasticsearch}

// BulkIndex is the index the elasticsearch sink writes to (the URL's path).
const BulkIndex = "logs"

// Config is what a scenario asks of its destination.
type Config struct {
	// Sink is the relay sink the destination receives from: SinkTCP ("" too)
	// or SinkElasticsearch (then Mode must be "" or "bulk").
	Sink string
	// Mode is mockdest's receiver: "frames" (logrelay's framed protocol)
	// or "lines" (another relay's newline-delimited output).
	Mode string
	// Listen is the address to listen on; "" = 127.0.0.1:0. A fixed
	// address still held by the previous scenario's mockdest is retried
	// for 5 s.
	Listen string
	// AckDelay, AckJitter, NackRate and NoAckRate make mockdest's
	// acknowledgements late or missing; DownFor and DownEvery take it down
	// periodically (mockdest.Config).
	AckDelay, AckJitter time.Duration
	NackRate, NoAckRate float64
	DownFor, DownEvery  time.Duration
	// OutDir receives mockdest's .hgrm and CSV files when it stops; "" =
	// none.
	OutDir string
	// Logger receives mockdest's logs; nil = discard.
	Logger *slog.Logger
}

// Dest is a running mockdest.
type Dest struct {
	srv     *mockdest.Server
	run     *inproc.Running
	addr    string
	mode    string
	flavour string // bulk mode's
	start   time.Time
}

// Start starts a mockdest for c and returns once it accepts connections.
// It runs until Stop, also after ctx ends.
func Start(ctx context.Context, c Config) (*Dest, error) {
	mc := mockdest.DefaultConfig()
	mc.Mode = c.Mode
	mc.AckDelay, mc.AckJitter, mc.NackRate, mc.NoAckRate = c.AckDelay, c.AckJitter, c.NackRate, c.NoAckRate
	switch c.Sink {
	case "", SinkTCP:
	case SinkElasticsearch:
		if c.Mode != "" && c.Mode != mockdest.ModeBulk {
			return nil, fmt.Errorf("mockdest: sink %s needs mode %s, not %q", c.Sink, mockdest.ModeBulk, c.Mode)
		}
		mc.Mode = mockdest.ModeBulk
		mc.Bulk = bulkFailures(c.NackRate, c.NoAckRate)
		mc.NackRate, mc.NoAckRate = 0, 0
	case SinkQuickwit:
		if (c.Mode != "" && c.Mode != mockdest.ModeBulk) || c.NackRate > 0 || c.NoAckRate > 0 {
			return nil, fmt.Errorf("mockdest: sink %s: mode %q, nack rate %v, no-ack rate %v: want bulk mode and no acknowledgement failures", c.Sink, c.Mode, c.NackRate, c.NoAckRate)
		}
		mc.Mode = mockdest.ModeBulk
		mc.Bulk = mockdest.BulkConfig{Flavour: mockdest.FlavourQuickwit, Indexes: []string{BulkIndex}}
	default:
		return nil, fmt.Errorf("mockdest: sink %q: want %s, %s or %s", c.Sink, SinkTCP, SinkElasticsearch, SinkQuickwit)
	}
	mc.DownFor, mc.DownEvery = c.DownFor, c.DownEvery
	mc.OutDir = c.OutDir
	mc.Logger = c.Logger
	if mc.Logger == nil {
		mc.Logger = slog.New(slog.DiscardHandler)
	}
	mc.Logger = mc.Logger.With("component", "mockdest")
	listen := c.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	mc.Listen = listen
	srv, err := mockdest.New(mc)
	if err != nil {
		return nil, err
	}
	var ln net.Listener
	for i := 0; ; i++ { // a fixed address may still be held by the previous scenario's mockdest
		ln, err = net.Listen("tcp", listen)
		if err == nil || i == 50 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("mockdest: %w", err)
	}
	run, err := inproc.Serve(ctx, srv, ln)
	if err != nil {
		return nil, fmt.Errorf("mockdest: %w", err)
	}
	d := &Dest{srv: srv, run: run, addr: ln.Addr().String(), mode: mc.Mode, flavour: mc.Bulk.Flavour, start: time.Now()}
	return d, nil
}

// bulkFailures maps the frame receiver's acknowledgement failures onto
// the _bulk receiver's (see the package comment).
func bulkFailures(nackRate, noAckRate float64) mockdest.BulkConfig {
	return mockdest.BulkConfig{
		Flavour:         mockdest.FlavourElasticsearch,
		ItemRejectRate:  nackRate / 20,
		RejectRate:      nackRate / 2,
		ServerErrorRate: nackRate / 2,
		BreakRate:       noAckRate,
	}
}

// Addr is the address mockdest listens on.
func (d *Dest) Addr() string { return d.addr }

// Sink is the relay sink URL that delivers to this mockdest: tcp://ADDR
// for both the frames and the lines receiver (a relay's TCP sink),
// elasticsearch+http://ADDR/logs/_bulk for the _bulk receiver,
// quickwit+http://ADDR/logs for its quickwit flavour.
func (d *Dest) Sink() string {
	if d.mode == mockdest.ModeBulk && d.flavour == mockdest.FlavourQuickwit {
		return "quickwit+http://" + d.addr + "/" + BulkIndex
	}
	if d.mode == mockdest.ModeBulk {
		return "elasticsearch+http://" + d.addr + "/" + BulkIndex + "/_bulk"
	}
	return "tcp://" + d.addr
}

// Mode is mockdest's receiver (Config.Mode).
func (d *Dest) Mode() string { return d.mode }

// Started is when mockdest started (its down periods count from there).
func (d *Dest) Started() time.Time { return d.start }

// Progress is what has arrived so far.
func (d *Dest) Progress() mockdest.Progress { return d.srv.Progress() }

// Snapshot is mockdest's record so far.
func (d *Dest) Snapshot() mockdest.Snapshot { return d.srv.Snapshot() }

// Stream returns what arrived of stream id.
func (d *Dest) Stream(id uint32) (mockdest.StreamStat, bool) { return d.srv.Recorder().Stream(id) }

// MissingRanges returns the seqs of stream in [1, upTo] that have not
// arrived.
func (d *Dest) MissingRanges(stream uint32, upTo uint64) []wire.SeqRange {
	return d.srv.MissingRanges(stream, upTo)
}

// DuplicateRanges returns the seqs of stream that arrived more than
// once, and how many duplicate arrivals are not among them (mockdest's
// range budget ran out).
func (d *Dest) DuplicateRanges(stream uint32) ([]wire.SeqRange, uint64) {
	return d.srv.DuplicateRanges(stream)
}

// Stop ends mockdest, which writes its files, and returns its final
// snapshot and its error.
func (d *Dest) Stop() (*mockdest.Snapshot, error) {
	_, err := d.run.Stop(context.Background())
	s := d.srv.Snapshot()
	return &s, err
}

// WaitArrived waits until mockdest holds at least n distinct stamped
// messages, or until timeout; it reports whether they arrived.
func (d *Dest) WaitArrived(ctx context.Context, n uint64, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if d.srv.Progress().Distinct >= n {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitStream waits until mockdest holds at least n distinct messages of
// stream id, or until timeout, and returns how many it holds.
func (d *Dest) WaitStream(ctx context.Context, id uint32, n int, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		st, _ := d.srv.Recorder().Stream(id)
		if int(st.Distinct) >= n || time.Now().After(deadline) || ctx.Err() != nil {
			return int(st.Distinct)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitQuiet waits until no message has arrived for quiet (what a relay
// without acknowledgements still holds has arrived), or until ctx ends.
func (d *Dest) WaitQuiet(ctx context.Context, quiet time.Duration) {
	last, since := d.srv.Progress().Messages, time.Now()
	for time.Since(since) < quiet && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
		if n := d.srv.Progress().Messages; n != last {
			last, since = n, time.Now()
		}
	}
}
