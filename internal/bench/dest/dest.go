// Package dest provides the bench's destination: a mockdest in the bench's
// process, one per scenario (or step), that records every batch the relay
// under test delivers and says which sink URL points at it. A new kind of
// destination (another mockdest receiver) is a new Mode here and nowhere
// else.
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

// BulkIndex is the index the bulk receiver's sink URL names.
const BulkIndex = "logrelay-bench"

// Config is what a scenario asks of its destination.
type Config struct {
	// Mode is mockdest's receiver: "frames" (logrelay's framed protocol),
	// "lines" (another relay's newline-delimited output) or "bulk" (the
	// Elasticsearch _bulk API, which the relay's elasticsearch+http sink
	// posts to).
	Mode string
	// Bulk configures the "bulk" receiver (its failed items and rejected
	// requests).
	Bulk mockdest.BulkConfig
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
	srv   *mockdest.Server
	run   *inproc.Running
	addr  string
	mode  string
	start time.Time
}

// Start starts a mockdest for c and returns once it accepts connections.
// It runs until Stop, also after ctx ends.
func Start(ctx context.Context, c Config) (*Dest, error) {
	mc := mockdest.DefaultConfig()
	mc.Mode = c.Mode
	mc.Bulk = c.Bulk
	mc.AckDelay, mc.AckJitter, mc.NackRate, mc.NoAckRate = c.AckDelay, c.AckJitter, c.NackRate, c.NoAckRate
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
	d := &Dest{srv: srv, run: run, addr: ln.Addr().String(), mode: mc.Mode, start: time.Now()}
	return d, nil
}

// Addr is the address mockdest listens on.
func (d *Dest) Addr() string { return d.addr }

// Sink is the relay sink URL that delivers to this mockdest: tcp://ADDR
// for both the frames and the lines receiver (a relay's TCP sink),
// elasticsearch+http://ADDR/BulkIndex/_bulk for the bulk receiver (the
// index in the path, as a _bulk client without its own index sends it).
func (d *Dest) Sink() string {
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
