package relay

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

// startRELPRelay serves cfg with a RELP listener until the test ends.
func startRELPRelay(t *testing.T, cfg Config) *runningRelay {
	t.Helper()
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rr := &runningRelay{Relay: r, cancel: cancel, done: make(chan error, 1)}
	go func() { rr.done <- r.ServeRELP(ctx, ln, rln) }()
	<-r.Ready()
	t.Cleanup(func() { rr.stop() })
	return rr
}

// relpClient is a test's RELP client: it writes frames and reads answers.
type relpClient struct {
	t    *testing.T
	nc   net.Conn
	rd   *wire.RELPReader
	txnr uint32
}

func dialRELP(t *testing.T, rr *runningRelay) *relpClient {
	t.Helper()
	nc, err := net.Dial("tcp", rr.RELPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &relpClient{t: t, nc: nc, rd: wire.NewRELPReader(nc, 1<<20)}
	c.send("open", "relp_version=0\nrelp_software=test\ncommands=syslog")
	f := c.next(5 * time.Second)
	if code, _, rest, err := wire.ParseRELPRsp(f.Data); err != nil || code != 200 || f.Txnr != 1 ||
		!strings.Contains(string(rest), "commands=syslog") {
		t.Fatalf("open answered %d %q (%v)", f.Txnr, f.Data, err)
	}
	return c
}

// send writes one command and returns its TXNR.
func (c *relpClient) send(cmd, data string) uint32 {
	c.t.Helper()
	c.txnr = wire.NextTxnr(c.txnr)
	if _, err := c.nc.Write(wire.AppendRELP(nil, c.txnr, cmd, []byte(data))); err != nil {
		c.t.Fatalf("write %s: %v", cmd, err)
	}
	return c.txnr
}

// sendMany writes n syslog commands, "prefix%06d", in one write.
func (c *relpClient) sendMany(prefix string, from, n int) {
	c.t.Helper()
	var b []byte
	for i := from; i < from+n; i++ {
		c.txnr = wire.NextTxnr(c.txnr)
		b = wire.AppendRELP(b, c.txnr, "syslog", fmt.Appendf(nil, "%s%06d", prefix, i))
	}
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *relpClient) next(within time.Duration) wire.RELPFrame {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(within))
	f, err := c.rd.Next()
	if err != nil {
		c.t.Fatalf("read answer: %v", err)
	}
	return f
}

// answers reads n answers and returns them as "TXNR CODE" strings.
func (c *relpClient) answers(n int) []string {
	c.t.Helper()
	out := make([]string, 0, n)
	for range n {
		f := c.next(10 * time.Second)
		if f.Command != wire.RELPRsp {
			c.t.Fatalf("got %s %d %q, want an rsp", f.Name, f.Txnr, f.Data)
		}
		code, _, _, err := wire.ParseRELPRsp(f.Data)
		if err != nil {
			c.t.Fatalf("rsp %q: %v", f.Data, err)
		}
		out = append(out, fmt.Sprintf("%d %d", f.Txnr, code))
	}
	return out
}

// nothingWithin checks that no frame arrives within d.
func (c *relpClient) nothingWithin(d time.Duration) {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(d))
	if f, err := c.rd.Next(); err == nil {
		c.t.Fatalf("got %s %d %q before delivery", f.Name, f.Txnr, f.Data)
	}
	// The reader keeps what it buffered; a timeout leaves the stream usable.
}

func wantAnswers(from, n int, code int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%d %d", from+i, code)
	}
	return out
}

// A message is answered only after the destination acknowledged its
// batch; then every answer comes, in order, in few writes.
func TestRELPAnswersAfterDelivery(t *testing.T) {
	t.Parallel()
	d := newTestDest(t)
	d.hold = make(chan struct{})
	cfg := testConfig(d.addr)
	rr := startRELPRelay(t, cfg)
	c := dialRELP(t, rr)
	c.sendMany("m", 0, 250)
	waitFor(t, "two batches at the destination", func() bool { return d.count() >= 2 }) // two full batches are at the destination
	c.nothingWithin(300 * time.Millisecond)
	close(d.hold)
	waitFor(t, "250 delivered", func() bool { return rr.Stats().Delivered == 250 })
	got := c.answers(250)
	if want := wantAnswers(2, 250, 200); !slices.Equal(got, want) {
		t.Fatalf("answers %v..., want %v...", got[:3], want[:3])
	}
	tx := c.send("close", "")
	if f := c.next(5 * time.Second); f.Command != wire.RELPRsp || f.Txnr != tx || len(f.Data) != 0 {
		t.Fatalf("close answered %s %d %q", f.Name, f.Txnr, f.Data)
	}
	checkExactlyOnce(t, d, "m", 250)
	st := rr.Stats().RELP
	if st.AnsweredOK != 250 || st.Writes > 10 || st.SessionsTotal != 1 {
		t.Fatalf("RELP stats %+v: want 250 answered in at most 10 writes", st)
	}
}

// reorderSink settles the batches it takes in reverse order, in pairs,
// and refuses every message containing "bad": the answers still go out in
// TXNR order, the refused ones as 500.
type reorderSink struct{}

func (reorderSink) String() string { return "reorder://" }
func (reorderSink) Run(ctx context.Context, f *Feed) error {
	var held *Batch
	settle := func(b *Batch) {
		var o Outcome
		for i, m := range b.All() {
			if strings.Contains(string(m.Data), "bad") {
				o.Rejected = append(o.Rejected, i)
			}
		}
		f.Settle(b, o)
	}
	for {
		wait := ctx
		cancel := context.CancelFunc(func() {})
		if held != nil {
			wait, cancel = context.WithTimeout(ctx, 50*time.Millisecond)
		}
		b, ok := f.Next(wait)
		cancel()
		switch {
		case ok && held != nil:
			settle(b) // the later batch first
			settle(held)
			held = nil
		case ok:
			held = b
		case held != nil:
			settle(held)
			held = nil
		}
		if !ok && ctx.Err() != nil {
			return ctx.Err()
		}
		if !ok && wait.Err() == nil {
			return nil // closed and drained
		}
	}
}

func TestRELPOutOfOrderSettleAndRejections(t *testing.T) {
	t.Parallel()
	cfg := testConfig("127.0.0.1:1")
	cfg.Sink = reorderSink{}
	cfg.BatchSize = 10
	cfg.FlushInterval = 50 * time.Millisecond
	rr := startRELPRelay(t, cfg)
	a, b := dialRELP(t, rr), dialRELP(t, rr)
	var want []string
	var msgs []byte
	for i := range 95 {
		text := fmt.Sprintf("a%03d", i)
		code := 200
		if i%7 == 3 {
			text, code = "bad"+text, 500
		}
		a.txnr = wire.NextTxnr(a.txnr)
		msgs = wire.AppendRELP(msgs, a.txnr, "syslog", []byte(text))
		want = append(want, fmt.Sprintf("%d %d", a.txnr, code))
	}
	a.nc.Write(msgs)
	b.sendMany("b", 0, 33)
	if got := a.answers(95); !slices.Equal(got, want) {
		t.Fatalf("a's answers\n%v\nwant\n%v", got, want)
	}
	if got := b.answers(33); !slices.Equal(got, wantAnswers(2, 33, 200)) {
		t.Fatalf("b's answers %v", got)
	}
	waitFor(t, "the answers counted", func() bool { st := rr.Stats().RELP; return st.AnsweredOK+st.AnsweredRefused == 128 })
	st := rr.Stats()
	if st.RELP.AnsweredRefused != 14 || st.SinkRejected != 14 || st.RELP.AnsweredOK != 95+33-14 {
		t.Fatalf("stats %+v sink rejected %d", st.RELP, st.SinkRejected)
	}
}

// Ingest rules: an over-long message, one with a line feed inside and an
// unknown command are answered 500 and counted; an empty message 200;
// one trailing LF is stripped; the session goes on.
func TestRELPIngestRules(t *testing.T) {
	t.Parallel()
	d := newTestDest(t)
	cfg := testConfig(d.addr)
	cfg.MaxLineBytes = 20
	cfg.FlushInterval = 20 * time.Millisecond
	rr := startRELPRelay(t, cfg)
	c := dialRELP(t, rr)
	c.send("syslog", "m000000")
	c.send("syslog", strings.Repeat("x", 21))
	c.send("syslog", "two\nlines")
	c.send("syslog", "")
	c.send("syslog", "m000001\n")
	c.send("starttls", "")
	c.send("syslog", strings.Repeat("y", 5000)) // over the limit from its header on
	c.send("syslog", "m000002")
	got := c.answers(8)
	want := []string{"2 200", "3 500", "4 500", "5 200", "6 200", "7 500", "8 500", "9 200"}
	if !slices.Equal(got, want) {
		t.Fatalf("answers %v, want %v", got, want)
	}
	checkExactlyOnce(t, d, "m", 3)
	// The answer counters move after the answers' write, which the client
	// may read first.
	waitFor(t, "4 refused answers counted", func() bool { return rr.Stats().RELP.AnsweredRefused == 4 })
	st := rr.Stats()
	if st.Rejected[RejectTooLong] != 2 || st.Rejected[RejectNewline] != 1 || st.RELP.AnsweredRefused != 4 {
		t.Fatalf("rejected %v, RELP %+v", st.Rejected, st.RELP)
	}
}

// A syslog command before open, or a malformed frame, ends the session.
func TestRELPProtocolErrors(t *testing.T) {
	t.Parallel()
	cfg := testConfig(newTestDest(t).addr)
	rr := startRELPRelay(t, cfg)
	for _, in := range []string{"1 syslog 3 abc\n", "1 open 0\n", "x\n", "1 open 30 relp_version=0\ncommands=eventlog\n"} {
		nc, err := net.Dial("tcp", rr.RELPAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		nc.Write([]byte(in))
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		var buf [64]byte
		if n, err := nc.Read(buf[:]); err == nil {
			t.Errorf("%q: got %q, want the connection closed", in, buf[:n])
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("%q: connection still open", in)
		}
		nc.Close()
	}
	waitFor(t, "4 protocol errors", func() bool { return rr.Stats().RELP.ProtocolErrors == 4 })
}

// A client that never reads its answers fills its window and is no
// longer read; the relay and another client are not held up.
func TestRELPStalledReaderDoesNotBlock(t *testing.T) {
	t.Parallel()
	d := newTestDest(t)
	cfg := testConfig(d.addr)
	cfg.RELPWindow = 64
	cfg.FlushInterval = 20 * time.Millisecond
	rr := startRELPRelay(t, cfg)
	stalled := dialRELP(t, rr)
	stalled.nc.(*net.TCPConn).SetReadBuffer(4096)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // writes far more than its window and never reads
		defer wg.Done()
		for i := 0; i < 200; i++ {
			var b []byte
			for j := range 500 {
				b = wire.AppendRELP(b, uint32(2+i*500+j), "syslog", fmt.Appendf(nil, "s%06d", i*500+j))
			}
			stalled.nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
			if _, err := stalled.nc.Write(b); err != nil {
				return // the relay stopped reading: its buffers are full
			}
		}
	}()
	waitFor(t, "a full window", func() bool { return rr.Stats().RELP.WindowFull > 0 })
	other := dialRELP(t, rr)
	other.sendMany("o", 0, 300)
	if got := other.answers(300); !slices.Equal(got, wantAnswers(2, 300, 200)) {
		t.Fatalf("other client's answers %v...", got[:3])
	}
	wg.Wait()
	// Shutdown is not held up by the writer blocked on the stalled client.
	start := time.Now()
	rr.stop()
	if el := time.Since(start); el > 4*time.Second {
		t.Fatalf("shutdown took %v with a client that does not read", el)
	}
	// Beyond its window, only what the kernel buffers of its unread
	// answers absorb was read of the 100,000 it tried to send.
	if n := rr.Stats().Received; n > 50_000 {
		t.Fatalf("received %d: the stalled client was read as if it read its answers", n)
	}
}

// Shutdown answers what was delivered, then sends serverclose; a message
// not delivered by the shutdown timeout gets no answer.
func TestRELPShutdown(t *testing.T) {
	t.Parallel()
	t.Run("delivered", func(t *testing.T) {
		t.Parallel()
		d := newTestDest(t)
		cfg := testConfig(d.addr)
		cfg.FlushInterval = time.Hour // only shutdown flushes
		rr := startRELPRelay(t, cfg)
		c := dialRELP(t, rr)
		c.sendMany("m", 0, 30)
		waitFor(t, "30 received", func() bool { return rr.Stats().Received == 30 })
		done := make(chan error, 1)
		go func() { done <- rr.stop() }()
		if got := c.answers(30); !slices.Equal(got, wantAnswers(2, 30, 200)) {
			t.Fatalf("answers %v", got)
		}
		if f := c.next(5 * time.Second); f.Command != wire.RELPServerClose || f.Txnr != 0 {
			t.Fatalf("got %s %d, want serverclose", f.Name, f.Txnr)
		}
		if err := <-done; err != nil {
			t.Fatalf("stop: %v", err)
		}
		checkExactlyOnce(t, d, "m", 30)
	})
	t.Run("undelivered", func(t *testing.T) {
		t.Parallel()
		d := newTestDest(t)
		d.hold = make(chan struct{}) // never acknowledges before the timeout
		t.Cleanup(func() { close(d.hold) })
		cfg := testConfig(d.addr)
		cfg.FlushInterval = 20 * time.Millisecond
		cfg.ShutdownTimeout = 200 * time.Millisecond
		rr := startRELPRelay(t, cfg)
		c := dialRELP(t, rr)
		c.sendMany("m", 0, 30)
		waitFor(t, "a batch at the destination", func() bool { return d.count() >= 1 })
		go rr.stop()
		if f := c.next(5 * time.Second); f.Command != wire.RELPServerClose {
			t.Fatalf("got %s %d %q, want serverclose and no answer", f.Name, f.Txnr, f.Data)
		}
	})
}

// TestRELPBigMessage: a message longer than a read chunk (MaxLineBytes
// above 128 KiB) is read whole, delivered and answered 200.
func TestRELPBigMessage(t *testing.T) {
	d := newTestDest(t)
	cfg := testConfig(d.addr)
	cfg.MaxLineBytes = 300_000
	cfg.FlushInterval = 50 * time.Millisecond
	rr := startRELPRelay(t, cfg)
	c := dialRELP(t, rr)
	c.send("syslog", strings.Repeat("x", 200_000))
	if got := c.answers(1); !slices.Equal(got, []string{"2 200"}) {
		t.Fatalf("answers %v, want [2 200]", got)
	}
	waitFor(t, "the message delivered", func() bool { return rr.Stats().Delivered == 1 })
}

// TestRELPTooLongHeaderSplit: an over-long command whose header arrives cut
// inside DATALEN is refused with 500 once the header has ended, and the
// session goes on.
func TestRELPTooLongHeaderSplit(t *testing.T) {
	d := newTestDest(t)
	cfg := testConfig(d.addr)
	cfg.FlushInterval = 50 * time.Millisecond
	rr := startRELPRelay(t, cfg)
	c := dialRELP(t, rr)
	c.nc.Write([]byte("2 syslog 100000"))
	time.Sleep(100 * time.Millisecond) // the relay reads the cut header alone
	c.nc.Write([]byte(" " + strings.Repeat("x", 100_000) + "\n"))
	c.txnr = 2
	c.send("syslog", "after")
	if got := c.answers(2); !slices.Equal(got, []string{"2 500", "3 200"}) {
		t.Fatalf("answers %v, want [2 500 3 200]", got)
	}
}
