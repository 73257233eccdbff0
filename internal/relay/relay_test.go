package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

// testConfig returns a config for tests: loopback, no admin, short timers.
func testConfig(sink string) Config {
	c := DefaultConfig()
	c.Listen, c.Admin, c.Sink = "127.0.0.1:0", "", NewTCPSink(sink)
	c.FlushInterval = 200 * time.Millisecond
	c.RetryBase, c.RetryMax = 5*time.Millisecond, 50*time.Millisecond
	c.SendTimeout = 2 * time.Second
	c.ShutdownTimeout = 5 * time.Second
	return c
}

type runningRelay struct {
	*Relay
	cancel context.CancelFunc
	done   chan error
}

// startRelay serves cfg on 127.0.0.1:0 until the test ends.
func startRelay(t *testing.T, cfg Config) *runningRelay {
	t.Helper()
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rr := &runningRelay{Relay: r, cancel: cancel, done: make(chan error, 1)}
	go func() { rr.done <- r.Serve(ctx, ln) }()
	<-r.Ready()
	t.Cleanup(func() { rr.stop() })
	return rr
}

// stop shuts the relay down and returns Serve's result.
func (rr *runningRelay) stop() error {
	rr.cancel()
	err, ok := <-rr.done
	if ok {
		close(rr.done)
	}
	return err
}

func dial(t *testing.T, r *runningRelay) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", r.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// TestManyConnections sends 10,000 messages over 20 connections and checks
// that each arrives once, in per-connection order, in batches of at most
// 100, each flushed for the right reason.
func TestManyConnections(t *testing.T) {
	t.Parallel()
	d := newTestDest(t)
	cfg := testConfig(d.addr)
	r := startRelay(t, cfg)
	const conns, per = 20, 500
	var wg sync.WaitGroup
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc, err := net.Dial("tcp", r.Addr().String())
			if err != nil {
				t.Error(err)
				return
			}
			defer nc.Close()
			var b strings.Builder
			for i := range per {
				fmt.Fprintf(&b, "conn%02d msg%04d padding-padding\n", c, i)
				if i%37 == 36 { // vary the write boundaries
					if _, err := io.WriteString(nc, b.String()); err != nil {
						t.Error(err)
						return
					}
					b.Reset()
				}
			}
			if _, err := io.WriteString(nc, b.String()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	waitFor(t, "every message delivered", func() bool { return r.Stats().Delivered == conns*per })
	if err := r.stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}

	next := make([]int, conns)
	for _, m := range d.distinct() {
		var c, i int
		if _, err := fmt.Sscanf(m, "conn%02d msg%04d", &c, &i); err != nil {
			t.Fatalf("bad message %q: %v", m, err)
		}
		if i != next[c] {
			t.Fatalf("conn %d: got msg %d want %d (lost, duplicated or reordered)", c, i, next[c])
		}
		next[c]++
	}
	for c, n := range next {
		if n != per {
			t.Errorf("conn %d: got %d messages want %d", c, n, per)
		}
	}
	var lastSeq uint64
	for _, f := range d.received() {
		h := f.h
		if h.Seq != lastSeq+1 {
			t.Errorf("seq %d after %d: want consecutive seqs", h.Seq, lastSeq)
		}
		lastSeq = h.Seq
		age := time.Duration(h.FlushNs - h.OldestNs)
		switch {
		case h.Count > 100:
			t.Errorf("batch %d: %d messages, over the batch size", h.Seq, h.Count)
		case h.Reason == wire.ReasonSize && h.Count != 100:
			t.Errorf("batch %d: reason size with %d messages", h.Seq, h.Count)
		case h.Reason == wire.ReasonAge && (age < cfg.FlushInterval || age > cfg.FlushInterval+time.Second):
			t.Errorf("batch %d: reason age after %v, want about %v", h.Seq, age, cfg.FlushInterval)
		case h.Reason == wire.ReasonAge && h.Count == 100, h.Reason == wire.ReasonBytes, h.Reason == wire.ReasonShutdown:
			t.Errorf("batch %d: unexpected reason %v with %d messages", h.Seq, h.Reason, h.Count)
		}
	}
	st := r.Stats()
	if st.Received != conns*per || st.ConnsTotal != conns || st.RejectedTotal() != 0 || st.Pending != 0 {
		t.Errorf("stats: %+v", st)
	}
}

func sendLines(t *testing.T, c net.Conn, prefix string, from, n int) {
	t.Helper()
	var b strings.Builder
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&b, "%s%06d\n", prefix, i)
	}
	if _, err := io.WriteString(c, b.String()); err != nil {
		t.Fatal(err)
	}
}

// checkExactlyOnce checks that the destination has every "m%06d" message
// from 0 to n-1, counting each batch seq once.
func checkExactlyOnce(t *testing.T, d *testDest, prefix string, n int) {
	t.Helper()
	checkExactlyOncePadded(t, d, prefix, "", n)
}

// checkExactlyOncePadded is checkExactlyOnce for messages PREFIX%06dPAD.
func checkExactlyOncePadded(t *testing.T, d *testDest, prefix, pad string, n int) {
	t.Helper()
	got := d.distinct()
	if len(got) != n {
		t.Fatalf("got %d distinct-batch messages want %d", len(got), n)
	}
	for i, m := range got {
		if want := fmt.Sprintf("%s%06d%s", prefix, i, pad); m != want {
			t.Fatalf("message %d: got %q want %q", i, m, want)
		}
	}
}

// TestDestinationOutage stops the destination, keeps sending, restarts it
// on the same address and checks that nothing was lost.
func TestDestinationOutage(t *testing.T) {
	t.Parallel()
	d := newTestDest(t)
	cfg := testConfig(d.addr)
	cfg.FlushInterval = 20 * time.Millisecond
	cfg.SinkConcurrency = 4
	r := startRelay(t, cfg)
	c := dial(t, r)
	sendLines(t, c, "m", 0, 1000)
	waitFor(t, "first delivery", func() bool { return r.Stats().Delivered == 1000 })
	d.stop()
	sendLines(t, c, "m", 1000, 2000)
	waitFor(t, "failed reconnects", func() bool { return r.Stats().SinkErrors >= 3 })
	d.start(d.addr)
	waitFor(t, "delivery after the outage", func() bool { return r.Stats().Delivered == 3000 })
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, d, "m", 3000)
}

// TestNackAndResend makes the destination refuse batches; the relay must
// resend them in order.
func TestNackAndResend(t *testing.T) {
	t.Parallel()
	d := newTestDest(t)
	d.nacks.Store(3)
	cfg := testConfig(d.addr)
	cfg.SinkConcurrency = 3
	r := startRelay(t, cfg)
	sendLines(t, dial(t, r), "m", 0, 1000)
	waitFor(t, "delivery", func() bool { return r.Stats().Delivered == 1000 })
	// Each batch is released once, resends or not (the ack that counts a
	// batch delivered releases it a moment later).
	waitFor(t, "nothing pending", func() bool { st := r.Stats(); return st.Pending == 0 && st.PendingBytes == 0 })
	st := r.Stats()
	// The first nack ends the session that carried all three refused
	// batches; they are all resent on the next one.
	if st.Retries < 3 || st.SinkErrors < 1 {
		t.Errorf("retries %d, sink errors %d: want at least 3 and 1", st.Retries, st.SinkErrors)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, d, "m", 1000)
}

// TestSendTimeout gives the relay a destination that reads but never
// acknowledges on its first connection: the relay must time out, reconnect
// and resend.
func TestSendTimeout(t *testing.T) {
	t.Parallel()
	d := newTestDest(t)
	d.silent.Store(1)
	cfg := testConfig(d.addr)
	cfg.SendTimeout = 100 * time.Millisecond
	cfg.SinkConcurrency = 2
	r := startRelay(t, cfg)
	sendLines(t, dial(t, r), "m", 0, 500)
	waitFor(t, "delivery", func() bool { return r.Stats().Delivered == 500 })
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, d, "m", 500)
	if st := r.Stats(); st.SinkErrors != 1 || st.Retries < 1 {
		t.Errorf("sink errors %d, retries %d: want 1 timeout and at least 1 resend", st.SinkErrors, st.Retries)
	}
}

// TestShutdownFlushes checks that cancelling the context flushes partial
// batches with reason shutdown and waits for their acknowledgements.
func TestShutdownFlushes(t *testing.T) {
	t.Parallel()
	d := newTestDest(t)
	cfg := testConfig(d.addr)
	cfg.FlushInterval = time.Hour
	r := startRelay(t, cfg)
	c := dial(t, r)
	sendLines(t, c, "m", 0, 250)
	const partial = "partial line without newline"
	io.WriteString(c, partial)
	// Wait for the bytes, not the messages: the partial line may come in a
	// read of its own after the 250 lines are counted.
	wantBytes := uint64(250*len("m000000\n") + len(partial))
	waitFor(t, "every byte read", func() bool { return r.Stats().Bytes == wantBytes })
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, f := range d.received() {
		reasons = append(reasons, fmt.Sprintf("%d/%v", f.h.Count, f.h.Reason))
	}
	if got, want := strings.Join(reasons, " "), "100/size 100/size 50/shutdown"; got != want {
		t.Errorf("batches: got %s want %s", got, want)
	}
	checkExactlyOnce(t, d, "m", 250)
	if st := r.Stats(); st.Rejected[RejectTruncated] != 1 || st.Delivered != 250 {
		t.Errorf("stats after shutdown: %+v; want 250 delivered, 1 truncated", st)
	}
}

// TestShutdownUndelivered checks that a destination that never comes back
// makes Serve report the undelivered messages after the timeout.
func TestShutdownUndelivered(t *testing.T) {
	t.Parallel()
	d := newTestDest(t)
	d.stop()
	cfg := testConfig(d.addr)
	cfg.ShutdownTimeout = 100 * time.Millisecond
	r := startRelay(t, cfg)
	sendLines(t, dial(t, r), "m", 0, 150)
	waitFor(t, "every line read", func() bool { return r.Stats().Received == 150 })
	err := r.stop()
	if !errors.Is(err, ErrUndelivered) || !strings.Contains(err.Error(), "150 of 150") {
		t.Errorf("got %v want ErrUndelivered for 150 of 150", err)
	}
}

// TestLines checks framing: '\r' stripped, empty lines skipped, opaque
// bytes kept, over-long lines dropped and counted while the connection
// continues, the final unterminated line at EOF kept.
func TestLines(t *testing.T) {
	t.Parallel()
	d := newTestDest(t)
	cfg := testConfig(d.addr)
	cfg.MaxLineBytes = 100
	cfg.FlushInterval = time.Hour
	r := startRelay(t, cfg)
	c := dial(t, r)
	long := strings.Repeat("x", 5000)
	writes := []string{
		"one\r\n", "\n\r\n", "two\x00\xff\xfe", "\n",
		long + "\n", "three\n",
		strings.Repeat("y", 60), strings.Repeat("y", 60) + "\n", // over the limit across reads
		strings.Repeat("z", 100) + "\r\n", // exactly the limit
		long[:3000], long[:3000], "\nfour\n",
		"last without newline",
	}
	for _, w := range writes {
		if _, err := io.WriteString(c, w); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // let writes arrive as separate reads
	}
	c.CloseWrite()
	want := []string{"one", "two\x00\xff\xfe", "three", strings.Repeat("z", 100), "four", "last without newline"}
	waitFor(t, "every line read", func() bool { return r.Stats().Received == uint64(len(want)) })
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if got := d.distinct(); fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if st := r.Stats(); st.Rejected[RejectTooLong] != 3 || st.Rejected[RejectTruncated] != 0 {
		t.Errorf("rejected: got %v want 3 too_long", st.Rejected)
	}
}

// TestResetDropsPartialLine checks that after a reset the unterminated
// line is dropped and counted.
func TestResetDropsPartialLine(t *testing.T) {
	t.Parallel()
	d := newTestDest(t)
	r := startRelay(t, testConfig(d.addr))
	c := dial(t, r)
	sendLines(t, c, "m", 0, 5)
	io.WriteString(c, "cut short")
	waitFor(t, "complete lines read", func() bool { return r.Stats().Received == 5 })
	c.SetLinger(0)
	c.Close()
	waitFor(t, "the partial line counted", func() bool { return r.Stats().Rejected[RejectTruncated] == 1 })
	waitFor(t, "delivery", func() bool { return r.Stats().Delivered == 5 })
}

// TestBackpressure holds the destination's acknowledgements: the relay
// must stop at MaxPending, or at MaxPendingBytes, without dropping, then
// deliver everything once acknowledgements flow, its pending counts back
// at zero.
func TestBackpressure(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		messages int   // MaxPending
		bytes    int64 // MaxPendingBytes
		lineLen  int   // bytes per line, newline included
		maxLine  int
		total    int // lines sent, far more than the limits
	}{
		{"messages", 300, 256 << 20, 8, 64 << 10, 200_000},
		// 500-byte lines: 600 messages reach the byte limit, long before
		// the message limit.
		{"bytes", 100_000, 300_000, 500, 1000, 20_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := newTestDest(t)
			d.hold = make(chan struct{})
			var release sync.Once
			t.Cleanup(func() { release.Do(func() { close(d.hold) }) }) // runs before d.stop
			cfg := testConfig(d.addr)
			cfg.MaxPending, cfg.MaxPendingBytes, cfg.MaxLineBytes = tc.messages, tc.bytes, tc.maxLine
			cfg.SinkConcurrency = 2
			cfg.SendTimeout = time.Minute
			r := startRelay(t, cfg)
			c := dial(t, r)
			total := tc.total
			pad := strings.Repeat("p", tc.lineLen-8)
			sent := make(chan error, 1)
			go func() {
				var b strings.Builder
				for i := range total {
					fmt.Fprintf(&b, "m%06d%s\n", i, pad)
				}
				_, err := io.WriteString(c, b.String())
				sent <- err
			}()
			full := func(st Stats) bool {
				return st.Pending == int64(tc.messages) || st.PendingBytes > tc.bytes-int64(tc.lineLen)
			}
			waitFor(t, "a pending limit", func() bool { return full(r.Stats()) })
			// The relay must now stop reading: the bytes it has read stay
			// put while the client still has data to send.
			before := r.Stats()
			for range 20 {
				time.Sleep(5 * time.Millisecond)
				if st := r.Stats(); st.Pending > int64(tc.messages) || st.PendingBytes > tc.bytes || st.Delivered != 0 {
					t.Fatalf("over a limit: %+v", st)
				}
			}
			if after := r.Stats(); after.Bytes != before.Bytes || after.Bytes >= uint64(total*tc.lineLen) {
				t.Fatalf("relay read %d then %d of %d bytes while full: it did not stop reading", before.Bytes, after.Bytes, total*tc.lineLen)
			}
			if st := r.Stats(); st.PendingBytes != st.Pending*int64(tc.lineLen) {
				t.Fatalf("%d messages of %d bytes pending, counted as %d bytes", st.Pending, tc.lineLen, st.PendingBytes)
			}
			if held := r.Stats().ReadsHeld; held > 1 {
				t.Fatalf("%d reads held waiting for room with one connection, want at most 1", held)
			}
			release.Do(func() { close(d.hold) })
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
			waitFor(t, "delivery", func() bool { return r.Stats().Delivered == uint64(total) })
			waitFor(t, "nothing held or pending", func() bool {
				st := r.Stats()
				return st.ReadsHeld == 0 && st.Pending == 0 && st.PendingBytes == 0
			})
			if err := r.stop(); err != nil {
				t.Fatal(err)
			}
			checkExactlyOncePadded(t, d, "m", pad, total)
			if st := r.Stats(); st.RejectedTotal() != 0 {
				t.Errorf("rejected: %v", st.Rejected)
			}
		})
	}
}

func TestIdleTimeoutAndMaxConns(t *testing.T) {
	t.Parallel()
	d := newTestDest(t)
	cfg := testConfig(d.addr)
	cfg.IdleTimeout = 50 * time.Millisecond
	cfg.MaxConns = 1
	r := startRelay(t, cfg)
	c1 := dial(t, r)
	waitFor(t, "the first connection", func() bool { return r.Stats().ConnsOpen == 1 })
	c2 := dial(t, r)
	c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c2.Read(make([]byte, 1)); err == nil {
		t.Error("second connection over --max-conns 1 was not closed")
	}
	c1.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c1.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("idle connection: got %v want EOF after the idle timeout", err)
	}
	waitFor(t, "the idle connection closed", func() bool { return r.Stats().ConnsOpen == 0 })
	if st := r.Stats(); st.ConnsRejected != 1 || st.ConnsTotal != 1 {
		t.Errorf("stats: %+v", st)
	}
}

func TestRunAdmin(t *testing.T) {
	t.Parallel()
	d := newTestDest(t)
	cfg := testConfig(d.addr)
	cfg.Admin = "127.0.0.1:0"
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	<-r.Ready()
	c, err := net.Dial("tcp", r.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sendLines(t, c, "m", 0, 10)
	c.Close()
	waitFor(t, "delivery", func() bool { return r.Stats().Delivered == 10 })
	get := func(path string) string {
		resp, err := http.Get("http://" + r.AdminAddr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Errorf("GET %s: %s", path, resp.Status)
		}
		return string(b)
	}
	metrics := get("/metrics")
	for _, name := range []string{
		"logrelay_connections_open", "logrelay_connections_total 1", "logrelay_messages_received_total 10",
		"logrelay_messages_delivered_total 10", `logrelay_messages_rejected_total{reason="too_long"} 0`,
		"logrelay_bytes_received_total 80", `logrelay_batches_flushed_total{reason="age"} 1`,
		`logrelay_batch_size_bucket{le="10"} 1`, "logrelay_pending_messages 0", "logrelay_reads_held 0", "logrelay_sink_send_seconds_count 1",
		"logrelay_sink_retries_total 0", "logrelay_sink_errors_total 0",
		"logrelay_messages_duplicate_total 0", "logrelay_messages_sink_rejected_total 0",
		"process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds", "go_goroutines",
	} {
		if !strings.Contains(metrics, name) {
			t.Errorf("/metrics lacks %q", name)
		}
	}
	if got := get("/healthz"); got != "ok\n" {
		t.Errorf("/healthz: got %q", got)
	}
	if got := get("/debug/pprof/"); !strings.Contains(got, "goroutine") {
		t.Errorf("/debug/pprof/: got %.100q", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for _, mod := range []func(*Config){
		func(c *Config) { c.BatchSize = 0 },
		func(c *Config) { c.FlushInterval = 0 },
		func(c *Config) { c.MaxPending = 10 },
		func(c *Config) { c.MaxPending = MaxPendingLimit + 1 },
		func(c *Config) { c.MaxPendingBytes = c.MaxBatchPayload() }, // one full batch would block reading for good
		func(c *Config) { c.MaxPendingBytes = MaxPendingBytesLimit + 1 },
		func(c *Config) { c.SinkConcurrency = 0 },
		func(c *Config) { c.RetryMax = time.Millisecond },
		func(c *Config) { c.MaxLineBytes = 0 },
		func(c *Config) { c.MaxLineBytes = wire.DefaultMaxPayload }, // line + '\n' would not fit a frame
		func(c *Config) { c.BatchBytes = wire.DefaultMaxPayload + 1 },
		func(c *Config) { c.BatchBytes = -1 },
		func(c *Config) { c.Sink = nil },
		func(c *Config) { c.Admin = "0.0.0.0:6060" },
		func(c *Config) { c.Admin = ":6060" },
		func(c *Config) { c.Admin = "[::]:6060" },
		func(c *Config) { c.Admin = "192.168.1.10:6060" },
		func(c *Config) { c.Admin = "example.com:6060" },
	} {
		c := DefaultConfig()
		c.Sink = NewTCPSink("127.0.0.1:1")
		mod(&c)
		if _, err := New(c); !errors.Is(err, ErrConfig) {
			t.Errorf("config %+v: got %v want ErrConfig", c, err)
		}
	}
}
