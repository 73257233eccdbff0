package relay

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

// Sink is a destination transport. The relay's batching, retry, ordering
// and shutdown machinery (the sender) is written against this interface
// only, so a new transport (HTTP bulk APIs, a file) implements Open and
// SinkConn and inherits all of it.
type Sink interface {
	// Open connects to the destination. It honours ctx's deadline.
	Open(ctx context.Context) (SinkConn, error)
	// String names the destination for logs.
	String() string
}

// SinkConn is one session with a destination. The sender goroutine calls
// Send. Recv is called by one goroutine at a time: the sender goroutine
// when it has nothing else to wait for, or the session's ack reader
// goroutine while the sender also waits for newly flushed batches (and
// meanwhile calls Send). So a Send may run concurrently with a Recv, but
// never with another Send, nor a Recv with another Recv. Close may be
// called from any goroutine at any time and makes a blocked Send or Recv
// return.
type SinkConn interface {
	// Send transmits b. It may return before b is acknowledged: up to
	// Config.SinkConcurrency batches are sent before their acknowledgements
	// are read. b stays valid until it is acknowledged.
	Send(b *Batch) error
	// Recv returns the next acknowledgement, waiting until deadline at
	// most; then it returns an error for which errors.Is(err,
	// os.ErrDeadlineExceeded) holds. Acknowledgements come in the order the
	// batches were sent.
	Recv(deadline time.Time) (wire.Ack, error)
	// Close ends the session.
	Close() error
}

// TCPSink speaks the wire package's framed batch protocol over TCP.
type TCPSink struct {
	addr        string
	sendTimeout time.Duration
}

// NewTCPSink returns a sink sending frames to addr (host:port). Every
// write must complete within sendTimeout.
func NewTCPSink(addr string, sendTimeout time.Duration) *TCPSink {
	return &TCPSink{addr: addr, sendTimeout: sendTimeout}
}

// String returns the sink's URL.
func (s *TCPSink) String() string { return "tcp://" + s.addr }

// Open dials the destination.
func (s *TCPSink) Open(ctx context.Context) (SinkConn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return nil, fmt.Errorf("open sink %s: %w", s, err)
	}
	return &tcpSinkConn{nc: nc, br: bufio.NewReaderSize(nc, 4096), timeout: s.sendTimeout}, nil
}

// tcpSinkConn is one TCP connection to the destination. Send uses only
// the connection's write side and timeout, Recv only its read side, br and
// scratch, and a net.Conn allows a Read, a Write and a Close at once; so a
// Send and a Recv may overlap without a lock.
type tcpSinkConn struct {
	nc      net.Conn
	br      *bufio.Reader
	scratch [wire.AckSize]byte
	timeout time.Duration
}

// Send writes the batch's frame (header and payload, one buffer) with one
// write call.
func (c *tcpSinkConn) Send(b *Batch) error {
	if err := c.nc.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
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
