package relay

import (
	"sync"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

// newHoldDest returns a test destination that holds the acknowledgement
// of the first frame of its first connection until releaseFirst.
func newHoldDest(t testing.TB) (*testDest, func()) {
	d := newTestDest(t)
	d.holdFirst = make(chan struct{})
	var once sync.Once
	return d, func() { once.Do(func() { close(d.holdFirst) }) }
}

// TestSendWhileAckOutstanding holds the destination's acknowledgement of
// the first batch: a batch flushed meanwhile must be sent at once while
// the window has room, and not before it has.
func TestSendWhileAckOutstanding(t *testing.T) {
	t.Parallel()
	d, releaseFirst := newHoldDest(t)
	cfg := testConfig(d.addr)
	cfg.SinkConcurrency = 2
	cfg.SendTimeout = time.Minute
	cfg.FlushInterval = time.Hour // only full batches (100 messages) are flushed
	r := startRelay(t, cfg)
	c := dial(t, r)
	sendLines(t, c, "m", 0, 100)
	waitFor(t, "batch 1 at the destination", func() bool { return d.count() == 1 })
	sendLines(t, c, "m", 100, 100)
	waitFor(t, "batch 2 at the destination while batch 1 is unacknowledged", func() bool { return d.count() == 2 })

	// The window (2) is full: batch 3 must wait for an acknowledgement.
	sendLines(t, c, "m", 200, 100)
	waitFor(t, "batch 3 flushed", func() bool { return r.Stats().Batches[wire.ReasonSize] == 3 })
	time.Sleep(20 * time.Millisecond)
	if got := d.count(); got != 2 {
		t.Fatalf("%d batches at the destination with a window of 2 and no acknowledgement: want 2", got)
	}
	if st := r.Stats(); st.Delivered != 0 {
		t.Fatalf("delivered %d before any acknowledgement", st.Delivered)
	}

	releaseFirst()
	waitFor(t, "delivery", func() bool { return r.Stats().Delivered == 300 })
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	d.checkInOrder(t, 300)
	if st := r.Stats(); st.Retries != 0 || st.SinkErrors != 0 || d.count() != 3 {
		t.Errorf("retries %d, sink errors %d, frames %d: want 0, 0, 3", st.Retries, st.SinkErrors, d.count())
	}
}

// TestSendTimeoutWithRoom holds the first acknowledgement while the
// window has room, so the sender waits for it and for new batches at once:
// the send timeout must still end the session, and the batch be resent.
func TestSendTimeoutWithRoom(t *testing.T) {
	t.Parallel()
	d, _ := newHoldDest(t)
	cfg := testConfig(d.addr)
	cfg.SinkConcurrency = 4
	cfg.SendTimeout = 100 * time.Millisecond
	cfg.FlushInterval = time.Hour
	r := startRelay(t, cfg)
	sendLines(t, dial(t, r), "m", 0, 100)
	waitFor(t, "delivery after the timeout", func() bool { return r.Stats().Delivered == 100 })
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	d.checkInOrder(t, 100)
	if st := r.Stats(); st.SinkErrors != 1 || st.Retries != 1 || d.count() != 2 {
		t.Errorf("sink errors %d, retries %d, frames %d: want 1 timeout, 1 resend, 2 frames", st.SinkErrors, st.Retries, d.count())
	}
}

// TestAckOutOfOrder gives the relay a destination that acknowledges a seq
// other than the oldest in flight: the relay must end the session,
// reconnect and resend.
func TestAckOutOfOrder(t *testing.T) {
	t.Parallel()
	d := newTestDest(t)
	d.badAcks.Store(1)
	cfg := testConfig(d.addr)
	cfg.SinkConcurrency = 3
	cfg.FlushInterval = 20 * time.Millisecond
	r := startRelay(t, cfg)
	sendLines(t, dial(t, r), "m", 0, 1000)
	waitFor(t, "delivery", func() bool { return r.Stats().Delivered == 1000 })
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	d.checkInOrder(t, 1000)
	if st := r.Stats(); st.SinkErrors != 1 || st.Retries < 1 {
		t.Errorf("sink errors %d, retries %d: want 1 and at least 1", st.SinkErrors, st.Retries)
	}
}
