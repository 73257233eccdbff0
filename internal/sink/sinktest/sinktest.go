// Package sinktest helps the HTTP sinks' tests: a relay on 127.0.0.1:0
// delivering to a sink, a mockdest server, stamped lines, waits.
package sinktest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/mockdest"
	"github.com/logrelay/logrelay/internal/relay"
	"github.com/logrelay/logrelay/internal/wire"
)

// StartRelay runs a relay delivering to s on 127.0.0.1:0 (batches of 50
// or 20 ms, 4 in flight, retries 5 to 20 ms; mod may change that) and
// returns it and a function that stops it and returns Serve's error. The
// relay is stopped at the test's end.
func StartRelay(t testing.TB, s relay.Sink, mod func(*relay.Config)) (*relay.Relay, func() error) {
	t.Helper()
	c := relay.DefaultConfig()
	c.Sink, c.Admin = s, ""
	c.BatchSize, c.FlushInterval = 50, 20*time.Millisecond
	c.SinkConcurrency = 4
	c.RetryBase, c.RetryMax = 5*time.Millisecond, 20*time.Millisecond
	c.ShutdownTimeout = 5 * time.Second
	if mod != nil {
		mod(&c)
	}
	r, err := relay.New(c)
	if err != nil {
		t.Fatal(err)
	}
	stop := serve(t, r.Serve, r.Ready())
	t.Cleanup(func() { stop() })
	return r, stop
}

// serve runs fn on a listener at 127.0.0.1:0, waits for ready and returns
// a function that stops it and returns fn's error (the same at each call).
func serve(t testing.TB, fn func(context.Context, net.Listener) error, ready <-chan struct{}) func() error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx, ln) }()
	<-ready
	var once sync.Once
	var serveErr error
	return func() error {
		once.Do(func() {
			cancel()
			serveErr = <-done
		})
		return serveErr
	}
}

// StartMockdest runs mockdest in bulk mode with b on 127.0.0.1:0 until
// the test's end.
func StartMockdest(t testing.TB, b mockdest.BulkConfig) *mockdest.Server {
	t.Helper()
	s, err := mockdest.New(mockdest.Config{Mode: mockdest.ModeBulk, Bulk: b, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	stop := serve(t, s.Serve, s.Ready())
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("mockdest: %v", err)
		}
	})
	return s
}

// StampedLines returns n text lines "PREFIX i STAMP", stream 0, seqs 1 to
// n, as mockdest's stream checker reads them.
func StampedLines(prefix string, n int) []string {
	now := time.Now().UnixNano()
	lines := make([]string, n)
	for i := range n {
		st := wire.AppendStamp(nil, wire.Stamp{Stream: 0, Seq: uint64(i + 1), SentNs: now})
		lines[i] = fmt.Sprintf("%s %d %s", prefix, i, st)
	}
	return lines
}

// SendLines writes lines, each ended by '\n', over one connection to addr.
func SendLines(t testing.TB, addr net.Addr, lines []string) {
	t.Helper()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, strings.Join(lines, "\n")+"\n"); err != nil {
		t.Fatal(err)
	}
}

// WaitFor polls cond every 5 ms for up to 20 s.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Get serves a GET of path by h and returns the status and body.
func Get(h http.Handler, path string) (int, string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

// Clock is the real clock as a relay.Clock, for driving a worker without
// a relay.
type Clock struct{}

// Now returns time.Now().
func (Clock) Now() time.Time { return time.Now() }

// NewTimer returns a running timer of d.
func (Clock) NewTimer(d time.Duration) relay.Timer { return timer{time.NewTimer(d)} }

type timer struct{ t *time.Timer }

func (t timer) C() <-chan time.Time        { return t.t.C }
func (t timer) Stop() bool                 { return t.t.Stop() }
func (t timer) Reset(d time.Duration) bool { return t.t.Reset(d) }

// Hooks are httpsink.Hooks that count nothing and back off 1 ms.
type Hooks struct{}

func (Hooks) Attempt()                  {}
func (Hooks) Failed()                   {}
func (Hooks) Backoff(int) time.Duration { return time.Millisecond }

// JSONLine is a 200-byte line shaped like loadgen's JSON format, stamped
// stream 1, seq.
func JSONLine(seq uint64) []byte {
	st := wire.AppendStamp(nil, wire.Stamp{Stream: 1, Seq: seq, SentNs: 1})
	line := fmt.Sprintf(`{"ts":"2026-12-01T19:00:00.000Z","level":"info","service":"checkout","host":"web-0%d","trace":"%016x","stamp":"%s","msg":"`,
		seq%6, 1<<32|seq, st)
	line += strings.Repeat("request completed ", 10)[:199-len(line)-2] + `"}`
	return []byte(line)
}

// BenchDeliver100 delivers a batch of 100 JSONLines through w to answer,
// b.N times; ns/msg is reported.
func BenchDeliver100(b *testing.B, deliver func(ctx context.Context, bh wire.Header, msgs [][]byte, recvs []int64) error) {
	var msgs [][]byte
	var recvs []int64
	for i := range 100 {
		msgs = append(msgs, JSONLine(uint64(i+1)))
		recvs = append(recvs, 1_764_620_000_000_000_000+int64(i/10))
	}
	h := wire.Header{Seq: 1, Count: 100}
	b.ReportAllocs()
	for b.Loop() {
		if err := deliver(context.Background(), h, msgs, recvs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/msg")
}
