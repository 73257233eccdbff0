package relay

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

// discardSink acknowledges every batch at once.
type discardSink struct{}

func (discardSink) String() string { return "discard" }
func (discardSink) Open(context.Context) (SinkConn, error) {
	return &discardConn{acks: make(chan uint64, 64)}, nil
}

type discardConn struct{ acks chan uint64 }

func (c *discardConn) Send(b *Batch, _ time.Time) error { c.acks <- b.hdr.Seq; return nil }
func (c *discardConn) Recv(deadline time.Time) (wire.Ack, error) {
	select {
	case s := <-c.acks:
		return wire.Ack{Seq: s}, nil
	case <-time.After(time.Until(deadline)):
		return wire.Ack{}, context.DeadlineExceeded
	}
}
func (c *discardConn) Close() error { return nil }

// pipeListener hands out the server ends of net.Pipe connections.
type pipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error   { l.once.Do(func() { close(l.closed) }); return nil }
func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// dial returns the client end of a new connection.
func (l *pipeListener) dial() net.Conn {
	c, s := net.Pipe()
	l.conns <- s
	return c
}

// BenchmarkLongLine measures one line of 1 or 8 MiB sent in 4 KiB writes
// over a net.Pipe, where each write is one read of the relay's, with
// --max-line-bytes 8 MiB: the cost per byte must not grow with the line's
// length.
func BenchmarkLongLine(b *testing.B) {
	for _, size := range []int{1 << 20, 8 << 20} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			cfg := testConfig("127.0.0.1:1")
			cfg.Sink = NewStreamSink(discardSink{})
			cfg.MaxLineBytes = 8 << 20
			cfg.MaxPendingBytes = 128 << 20
			r, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			ln := newPipeListener()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- r.Serve(ctx, ln) }()
			<-r.Ready()
			c := ln.dial()
			line := append(bytes.Repeat([]byte("l"), size-1), '\n')
			b.SetBytes(int64(size))
			b.ResetTimer()
			for i := range b.N {
				for p := line; len(p) > 0; p = p[min(4<<10, len(p)):] {
					if _, err := c.Write(p[:min(4<<10, len(p))]); err != nil {
						b.Fatal(err)
					}
				}
				for r.Stats().Received < uint64(i+1) {
					time.Sleep(20 * time.Microsecond)
				}
			}
			b.StopTimer()
			c.Close()
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}
