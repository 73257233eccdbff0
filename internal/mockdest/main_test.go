package mockdest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/logrelay/logrelay/internal/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startServer serves cfg on 127.0.0.1:0 until the test or benchmark ends.
func startServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	s, stop := serve(t, cfg)
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s
}

// serve starts serving cfg on 127.0.0.1:0 and waits until it is ready; stop
// ends it and returns Serve's error.
func serve(t testing.TB, cfg Config) (s *Server, stop func() error) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	<-s.Ready()
	return s, func() error { cancel(); return <-done }
}

func dial(t testing.TB, s *Server) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitFor polls cond until it holds or five seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// msg returns a stamped message of about size bytes.
func msg(stream uint32, seq uint64, sentNs int64, size int) []byte {
	b := []byte(`{"level":"info","stamp":"`)
	b = wire.AppendStamp(b, wire.Stamp{Stream: stream, Seq: seq, SentNs: sentNs})
	b = append(b, `","msg":"`...)
	for len(b) < size-2 {
		b = append(b, 'x')
	}
	return append(b, `"}`...)
}

// frame encodes a batch of msgs.
func frame(h wire.Header, msgs ...[]byte) []byte {
	var p []byte
	for _, m := range msgs {
		p = append(append(p, m...), '\n')
	}
	h.Count, h.PayloadLen = uint32(len(msgs)), uint32(len(p))
	if h.Reason == 0 {
		h.Reason = wire.ReasonSize
	}
	return append(wire.AppendHeader(nil, h), p...)
}

// seqMsgs returns stamped messages of stream for seqs from..to.
func seqMsgs(stream uint32, from, to uint64) [][]byte {
	var out [][]byte
	now := time.Now().UnixNano()
	for q := from; q <= to; q++ {
		out = append(out, msg(stream, q, now, 100))
	}
	return out
}

func write(t *testing.T, c net.Conn, b []byte) {
	t.Helper()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

// readAcks reads n acknowledgements from c.
func readAcks(t *testing.T, c net.Conn, n int) []wire.Ack {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var scratch [wire.AckSize]byte
	acks := make([]wire.Ack, 0, n)
	for range n {
		a, err := wire.ReadAck(c, &scratch)
		if err != nil {
			t.Fatalf("read ack %d of %d: %v", len(acks)+1, n, err)
		}
		acks = append(acks, a)
	}
	return acks
}

// expectClosed checks that c is closed by the server within five seconds
// and that nothing (no acknowledgement) arrives before.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after 5 s")
	}
	if len(b) > 0 {
		t.Fatalf("got %d bytes before the close, want none", len(b))
	}
}

func sizes(m map[string][]uint64, reason string) string {
	var b bytes.Buffer
	for n, c := range m[reason] {
		if c > 0 {
			fmt.Fprintf(&b, "%d×%d ", n, c)
		}
	}
	return b.String()
}
