package relay

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

// Sink is a destination. The relay hands every flushed batch to its Sink
// through a Feed and learns each batch's fate from Feed.Settle; how the
// sink delivers (sessions, requests in flight, retries, encodings) is its
// own business. See the package comment for why the seam is here.
type Sink interface {
	// Run delivers the batches f hands out. It returns nil once f is
	// closed (Next reports false, or TakeAll reports closed) and every
	// batch it took has been settled, and returns ctx.Err() when ctx is
	// done first: that is the relay's hard stop (Config.ShutdownTimeout),
	// after which unsettled batches are counted undelivered. A sink does
	// not give up otherwise: it retries (Feed.Backoff) for as long as it
	// takes; any other error it returns ends delivery for the rest of the
	// run, and Serve returns it. Run is called once per Relay.Serve, and
	// must have stopped every goroutine it started before it returns.
	Run(ctx context.Context, f *Feed) error
	// String names the destination for logs. It must not contain secrets.
	String() string
}

// A Sink may also be a prometheus.Collector, whose metrics the relay
// registers beside its own, and a HealthReporter.

// HealthReporter is implemented by a sink that can tell whether its
// destination is taking data. While Health returns an error, /healthz
// answers 503 with it.
type HealthReporter interface {
	// Health returns nil while the destination takes data, else why not.
	Health() error
}

// Outcome is what the destination did with a batch's messages. The zero
// Outcome means every message was delivered.
type Outcome struct {
	// Duplicate is how many of the delivered messages the destination
	// reported it already had (an HTTP 409 per item, say). They count as
	// delivered.
	Duplicate int
	// Rejected lists, in ascending order, the indexes (as yielded by
	// Batch.All) of the messages the destination refused for good: the
	// sink has dead-lettered or dropped them and will not retry them. The
	// relay reads it only during Settle.
	Rejected []int
}

// Policy is the relay's delivery policy (from Config), which every sink
// applies in its own way: a stream sink as its window and reconnect
// backoff, an HTTP sink as its requests in flight and retry backoff.
type Policy struct {
	// Concurrency is the number of batches that may be in flight at once
	// (Config.SinkConcurrency).
	Concurrency int
	// SendTimeout bounds one attempt: a connect, or one batch's wait for
	// its acknowledgement or response (Config.SendTimeout).
	SendTimeout time.Duration
	// RetryBase is the first delay after a failure; RetryMax caps the
	// delay as it doubles (Config.RetryBase, Config.RetryMax). See
	// Feed.Backoff.
	RetryBase, RetryMax time.Duration
}

// A Feed connects a Sink to the relay: it hands out flushed batches in seq
// order, takes their outcomes and keeps the relay's sink counters. Its
// methods are safe for concurrent use, so a sink may take, attempt and
// settle batches from several goroutines.
type Feed struct {
	q       *batchQueue
	st      *counters
	pending *pendingLimit
	batches *batchPool
	clock   Clock
	log     *slog.Logger
	policy  Policy
}

func newFeed(q *batchQueue, st *counters, pending *pendingLimit, batches *batchPool, clock Clock, log *slog.Logger, p Policy) *Feed {
	return &Feed{q: q, st: st, pending: pending, batches: batches, clock: clock, log: log, policy: p}
}

// Policy returns the relay's delivery policy.
func (f *Feed) Policy() Policy { return f.policy }

// Clock returns the relay's clock; sinks time their timeouts and backoffs
// with it, so tests can drive them.
func (f *Feed) Clock() Clock { return f.clock }

// Logger returns the relay's logger.
func (f *Feed) Logger() *slog.Logger { return f.log }

// Next returns the oldest batch not yet taken, waiting until one is
// flushed or ctx is done. It returns false when the feed is closed and
// drained (shutdown: no batch will come) or ctx is done.
func (f *Feed) Next(ctx context.Context) (*Batch, bool) { return f.q.next(ctx.Done()) }

// TakeAll appends every batch not yet taken to dst, without waiting, and
// reports whether the feed is closed (no more will come). Use Flushed to
// wait.
func (f *Feed) TakeAll(dst []*Batch) ([]*Batch, bool) { return f.q.takeAll(dst) }

// Flushed carries a token when a batch was flushed or the feed closed
// since the token was last taken. It is meant for one goroutine that
// combines TakeAll with waits for other events.
func (f *Feed) Flushed() <-chan struct{} { return f.q.notify }

// Attempt records that the sink is sending b (again): it counts a retry
// when b was sent before, and starts the timing that Settle reports as
// logrelay_sink_send_seconds.
func (f *Feed) Attempt(b *Batch) {
	if b.attempts > 0 {
		f.st.retries.Add(1)
	}
	b.attempts++
	b.sentAt = f.clock.Now()
}

// Failed counts a sink failure (logrelay_sink_errors_total): a failed
// connect, write or request, a refusal, a timeout or a protocol error.
func (f *Feed) Failed() { f.st.sinkErrors.Add(1) }

// Settle reports b's outcome. It answers the RELP senders of b's messages
// (through their sessions' writers, without blocking), releases b's room under the pending
// limit, counts its messages as delivered (duplicates among them) or
// rejected at the sink, and recycles b: the sink must not touch b after
// Settle. Call it exactly once per batch taken. It panics if o claims
// more messages than b holds.
func (f *Feed) Settle(b *Batch, o Outcome) {
	n := b.Len()
	rej := len(o.Rejected)
	if o.Duplicate < 0 || o.Duplicate+rej > n {
		panic(fmt.Sprintf("relay: batch %d of %d messages settled with %d duplicate and %d rejected",
			b.hdr.Seq, n, o.Duplicate, rej))
	}
	if !b.sentAt.IsZero() {
		f.st.sendSeconds.Observe(f.clock.Now().Sub(b.sentAt).Seconds())
	}
	f.st.delivered.Add(uint64(n - rej))
	if o.Duplicate > 0 {
		f.st.duplicates.Add(uint64(o.Duplicate))
	}
	if rej > 0 {
		f.st.sinkRejected.Add(uint64(rej))
	}
	f.pending.release(int64(n), int64(b.hdr.PayloadLen))
	if len(b.relp) > 0 {
		settleRuns(b.relp, o.Rejected) // answer the RELP senders
	}
	f.batches.put(b)
}

// Backoff returns the delay before retry number failures (1 for the first
// retry): RetryBase doubled per earlier failure, capped at RetryMax, of
// which a random half is jitter.
func (f *Feed) Backoff(failures int) time.Duration {
	d := f.policy.RetryBase
	for i := 1; i < failures && d < f.policy.RetryMax; i++ {
		d *= 2
	}
	d = min(d, f.policy.RetryMax)
	return d/2 + rand.N(d/2+1)
}

// A Dialer opens sessions with a stream destination: one that answers
// the batches of a session with acknowledgements in the order they were
// sent. StreamSink runs the relay's windowed sender over it.
type Dialer interface {
	// Open connects to the destination. It honours ctx's deadline.
	Open(ctx context.Context) (SinkConn, error)
	// String names the destination for logs.
	String() string
}

// SinkConn is one session with a stream destination. The sender goroutine
// calls Send. Recv is called by one goroutine at a time: the sender
// goroutine when it has nothing else to wait for, or the session's ack
// reader goroutine while the sender also waits for newly flushed batches
// (and meanwhile calls Send). So a Send may run concurrently with a Recv,
// but never with another Send, nor a Recv with another Recv. Close may be
// called from any goroutine at any time and makes a blocked Send or Recv
// return.
type SinkConn interface {
	// Send transmits b, giving up at deadline. It may return before b is
	// acknowledged: up to Policy.Concurrency batches are sent before their
	// acknowledgements are read. b stays valid until it is acknowledged.
	Send(b *Batch, deadline time.Time) error
	// Recv returns the next acknowledgement, waiting until deadline at
	// most; then it returns an error for which errors.Is(err,
	// os.ErrDeadlineExceeded) holds. Acknowledgements come in the order the
	// batches were sent.
	Recv(deadline time.Time) (wire.Ack, error)
	// Close ends the session.
	Close() error
}

// StreamSink is the Sink for stream destinations: it delivers through the
// windowed, in-order sender (see sender) over sessions from a Dialer.
type StreamSink struct{ d Dialer }

// NewStreamSink returns a sink delivering over sessions opened by d.
func NewStreamSink(d Dialer) *StreamSink { return &StreamSink{d: d} }

// Run delivers batches with the windowed sender; see Sink.Run.
func (s *StreamSink) Run(ctx context.Context, f *Feed) error { return newSender(s.d, f).run(ctx) }

// String names the destination.
func (s *StreamSink) String() string { return s.d.String() }

// NewTCPSink returns a sink sending the wire package's framed batches to
// addr (host:port) over TCP and reading its acknowledgements.
func NewTCPSink(addr string) *StreamSink { return NewStreamSink(tcpDialer{addr: addr}) }

// tcpDialer opens framed-protocol sessions over TCP.
type tcpDialer struct{ addr string }

func (d tcpDialer) String() string { return "tcp://" + d.addr }

func (d tcpDialer) Open(ctx context.Context) (SinkConn, error) {
	var nd net.Dialer
	nc, err := nd.DialContext(ctx, "tcp", d.addr)
	if err != nil {
		return nil, fmt.Errorf("open sink %s: %w", d, err)
	}
	return &tcpSinkConn{nc: nc, br: bufio.NewReaderSize(nc, 4096)}, nil
}

// tcpSinkConn is one TCP connection to the destination. Send uses only
// the connection's write side, Recv only its read side, br and scratch,
// and a net.Conn allows a Read, a Write and a Close at once; so a Send and
// a Recv may overlap without a lock.
type tcpSinkConn struct {
	nc      net.Conn
	br      *bufio.Reader
	scratch [wire.AckSize]byte
}

// Send writes the batch's frame (header and payload, one buffer) with one
// write call.
func (c *tcpSinkConn) Send(b *Batch, deadline time.Time) error {
	if err := c.nc.SetWriteDeadline(deadline); err != nil {
		return fmt.Errorf("send batch %d: %w", b.hdr.Seq, err)
	}
	if _, err := c.nc.Write(b.Frame()); err != nil {
		return fmt.Errorf("send batch %d: %w", b.hdr.Seq, err)
	}
	return nil
}

// Recv reads the next acknowledgement through a buffer, so the acks of a
// burst cost one read call, and sets the read deadline only when it must
// wait for the socket.
func (c *tcpSinkConn) Recv(deadline time.Time) (wire.Ack, error) {
	if c.br.Buffered() < wire.AckSize {
		if err := c.nc.SetReadDeadline(deadline); err != nil {
			return wire.Ack{}, fmt.Errorf("read ack: %w", err)
		}
	}
	a, err := wire.ReadAck(c.br, &c.scratch)
	if err != nil {
		return wire.Ack{}, fmt.Errorf("read ack: %w", err)
	}
	return a, nil
}

func (c *tcpSinkConn) Close() error { return c.nc.Close() }
