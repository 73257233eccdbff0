package relay

import (
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// writeSlowly writes s in pieces of n bytes.
func writeSlowly(t *testing.T, c net.Conn, s string, n int) {
	t.Helper()
	for len(s) > 0 {
		k := min(n, len(s))
		if _, err := c.Write([]byte(s[:k])); err != nil {
			t.Fatal(err)
		}
		s = s[k:]
	}
}

// TestLongLinesInSmallWrites sends lines far longer than a read in 4 KiB
// writes (so they are read into the growing carry and handed off in chunks
// of their own), one over the limit among them and a long last line ended
// by EOF, and checks what arrives: with the default limits, and with room
// for one message at a time, so chunks holding a long line are split.
func TestLongLinesInSmallWrites(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                  string
		batchSize, maxPending int
	}{
		{"defaults", 100, 100_000},
		{"one at a time", 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := newTestDest(t)
			cfg := testConfig(d.addr)
			cfg.MaxLineBytes = 1 << 20
			cfg.BatchSize, cfg.MaxPending = tc.batchSize, tc.maxPending
			r := startRelay(t, cfg)
			c := dial(t, r)
			long := strings.Repeat("a", 600<<10)
			tooLong := strings.Repeat("b", 1<<20+1)
			last := strings.Repeat("z", 200<<10)
			writeSlowly(t, c, "first\n"+long+"\nafter\n"+tooLong+"\r\nok\n"+long[:70<<10]+"\r\nx\ny\n"+last, 4<<10)
			c.CloseWrite()
			want := []string{"first", long, "after", "ok", long[:70<<10], "x", "y", last}
			waitFor(t, "every message", func() bool { return r.Stats().Delivered == uint64(len(want)) })
			var got []string
			for _, f := range d.received() {
				got = append(got, f.msgs...)
			}
			if len(got) != len(want) {
				t.Fatalf("got %d messages, want %d", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("message %d: %d bytes %.20q…, want %d bytes %.20q…", i, len(got[i]), got[i], len(want[i]), want[i])
				}
			}
			if st := r.Stats(); st.Rejected[RejectTooLong] != 1 || st.RejectedTotal() != 1 {
				t.Errorf("rejected %v, want one too long", st.Rejected)
			}
		})
	}
}

// TestLineTimeout: a connection dribbling a line that never ends is closed
// once the line is older than LineTimeout, its bytes dropped and counted;
// a connection whose lines each end in time stays open.
func TestLineTimeout(t *testing.T) {
	t.Parallel()
	d := newTestDest(t)
	cfg := testConfig(d.addr)
	cfg.LineTimeout = time.Second // 10× the ok connection's gap: margin for a loaded machine
	r := startRelay(t, cfg)
	hog, ok := dial(t, r), dial(t, r)
	if _, err := hog.Write([]byte("complete\npartial")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		for range 100 { // a byte every 50 ms: 5 s unless closed
			time.Sleep(50 * time.Millisecond)
			if _, err := hog.Write([]byte("x")); err != nil {
				break
			}
		}
		closed <- time.Since(start)
	}()
	for range 8 { // lines of 100 ms each, halves 100 ms apart: 1.6 s in all
		ok.Write([]byte("ha"))
		time.Sleep(100 * time.Millisecond)
		ok.Write([]byte("lf\n"))
	}
	waitFor(t, "the hog closed", func() bool { return r.Stats().LineTimeouts >= 1 })
	if el := time.Since(start); el < cfg.LineTimeout {
		t.Errorf("closed after %v, before the line timeout %v", el, cfg.LineTimeout)
	}
	waitFor(t, "delivery", func() bool { return r.Stats().Delivered == 9 })
	st := r.Stats()
	if st.LineTimeouts != 1 || st.Rejected[RejectTruncated] != 1 || st.ConnsOpen != 1 {
		t.Errorf("line timeouts %d, truncated %d, open %d; want 1, 1, 1", st.LineTimeouts, st.Rejected[RejectTruncated], st.ConnsOpen)
	}
	hog.Close()
	<-closed
}

// TestShutdownCountsUnread: bytes a client sent that the relay had not
// read when it shut down (reading was paused at the pending limit) are
// counted, with their connection, and are not counted as received.
func TestShutdownCountsUnread(t *testing.T) {
	t.Parallel()
	d := newTestDest(t)
	d.hold = make(chan struct{})
	cfg := testConfig(d.addr)
	cfg.MaxPending = 200
	cfg.ShutdownTimeout = 100 * time.Millisecond
	r := startRelay(t, cfg)
	c := dial(t, r)
	line := strings.Repeat("u", 99) + "\n"
	payload := strings.Repeat(line, 5000)
	go c.Write([]byte(payload)) // ends when the relay closes the connection
	waitFor(t, "the pending limit", func() bool { return r.Stats().Pending == int64(cfg.MaxPending) })
	time.Sleep(20 * time.Millisecond) // the rest reaches the relay's socket
	r.stop()
	close(d.hold)
	st := r.Stats()
	if st.UnreadConns != 1 || st.UnreadBytes == 0 || st.Bytes+st.UnreadBytes > uint64(len(payload)) {
		t.Fatalf("unread: %d connections, %d bytes; read %d of %d sent; want 1 connection, the bytes not read",
			st.UnreadConns, st.UnreadBytes, st.Bytes, len(payload))
	}
	t.Logf("read %d bytes, %d unread in the socket at shutdown, of %d sent", st.Bytes, st.UnreadBytes, len(payload))
}

// TestCarryBudget: a partial line that would take the partial lines held
// over MaxCarryBytes is dropped and counted, the rest of it skipped; the
// line held within the budget and the lines after the dropped one arrive;
// the budget is given back when connections end.
func TestCarryBudget(t *testing.T) {
	t.Parallel()
	d := newTestDest(t)
	cfg := testConfig(d.addr)
	cfg.MaxLineBytes = 4 << 20
	cfg.MaxCarryBytes = 1 << 20
	r := startRelay(t, cfg)
	a, b := dial(t, r), dial(t, r)
	held := strings.Repeat("a", 300<<10)
	writeSlowly(t, a, held, 4<<10)
	waitFor(t, "the first partial line read", func() bool { return r.Stats().Bytes >= uint64(len(held)) })
	writeSlowly(t, b, strings.Repeat("b", 2<<20), 4<<10)
	waitFor(t, "the second line dropped", func() bool { return r.Stats().Rejected[RejectCarryBudget] == 1 })
	writeSlowly(t, b, "\nafter\n", 4<<10)
	writeSlowly(t, a, "\n", 1)
	waitFor(t, "2 messages", func() bool { return r.Stats().Delivered == 2 })
	var got []string
	for _, f := range d.received() {
		got = append(got, f.msgs...)
	}
	slices.Sort(got)
	if len(got) != 2 || got[0] != held || got[1] != "after" {
		t.Errorf("got %d messages (%d bytes first), want the %d-byte held line and \"after\"", len(got), len(got[0]), len(held))
	}
	a.Close()
	b.Close()
	waitFor(t, "the budget given back", func() bool { return r.readers.carried.Load() == 0 })
	if st := r.Stats(); st.RejectedTotal() != 1 {
		t.Errorf("rejected %v, want only the one over the budget", st.Rejected)
	}
}
