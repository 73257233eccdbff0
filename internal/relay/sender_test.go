package relay

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

// holdDest is a destination speaking the wire protocol, for the sender's
// tests. It records every frame when it arrives, before acknowledging it,
// and acknowledges in arrival order from a goroutine of its own, so frames
// keep arriving while an acknowledgement is held. The first frame of its
// first connection is acknowledged only once release is closed (or that
// connection ends).
type holdDest struct {
	t       testing.TB
	addr    string
	ln      net.Listener
	release chan struct{}
	badAcks atomic.Int64 // acknowledge this many more frames with a wrong seq

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	arrived []recvFrame // every frame read, resends included, in arrival order
	wg      sync.WaitGroup
	once    sync.Once
}

func newHoldDest(t testing.TB) *holdDest {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("test destination: %v", err)
	}
	d := &holdDest{t: t, addr: ln.Addr().String(), ln: ln, release: make(chan struct{}),
		conns: map[net.Conn]struct{}{}}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		for first := true; ; first = false {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			d.mu.Lock()
			d.conns[c] = struct{}{}
			d.mu.Unlock()
			d.wg.Add(1)
			go func() { defer d.wg.Done(); d.serve(c, first) }()
		}
	}()
	t.Cleanup(d.stop)
	return d
}

// releaseFirst lets the held acknowledgement go.
func (d *holdDest) releaseFirst() { d.once.Do(func() { close(d.release) }) }

// stop releases the held acknowledgement, closes the listener and every
// connection, and waits for them.
func (d *holdDest) stop() {
	d.releaseFirst()
	d.ln.Close()
	d.mu.Lock()
	for c := range d.conns {
		c.Close()
	}
	d.mu.Unlock()
	d.wg.Wait()
}

func (d *holdDest) serve(c net.Conn, first bool) {
	defer func() {
		d.mu.Lock()
		delete(d.conns, c)
		d.mu.Unlock()
		c.Close()
	}()
	seqs := make(chan uint64, 1024)
	readDone := make(chan struct{})
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		var ack []byte
		hold := first
		for seq := range seqs {
			if hold {
				select {
				case <-d.release:
				case <-readDone:
					return
				}
				hold = false
			}
			if d.badAcks.Add(-1) >= 0 {
				seq += 1000
			}
			ack = wire.AppendAck(ack[:0], wire.Ack{Seq: seq, Status: wire.AckOK})
			if _, err := c.Write(ack); err != nil {
				return
			}
		}
	}()
	defer close(seqs)
	defer close(readDone)
	r := wire.NewReader(c, 0)
	for {
		h, p, err := r.ReadFrame()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				d.t.Logf("test destination: %v", err)
			}
			return
		}
		f := recvFrame{h: h}
		wire.ForEachMessage(p, func(m []byte) { f.msgs = append(f.msgs, string(m)) })
		d.mu.Lock()
		d.arrived = append(d.arrived, f)
		d.mu.Unlock()
		seqs <- h.Seq
	}
}

// count returns the number of frames that have arrived, resends included.
func (d *holdDest) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.arrived)
}

// checkInOrder checks that the first arrivals of the seqs are 1, 2, … in
// that order and carry "m%06d" messages 0 to n-1.
func (d *holdDest) checkInOrder(t *testing.T, n int) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	var last uint64
	i := 0
	for _, f := range d.arrived {
		if f.h.Seq <= last {
			continue // a resend
		}
		if f.h.Seq != last+1 {
			t.Fatalf("seq %d arrived first after %d: want consecutive seqs", f.h.Seq, last)
		}
		last = f.h.Seq
		for _, m := range f.msgs {
			if want := fmt.Sprintf("m%06d", i); m != want {
				t.Fatalf("message %d: got %q want %q", i, m, want)
			}
			i++
		}
	}
	if i != n {
		t.Fatalf("got %d distinct-batch messages want %d", i, n)
	}
}

// TestSendWhileAckOutstanding holds the destination's acknowledgement of
// the first batch: a batch flushed meanwhile must be sent at once while
// the window has room, and not before it has.
func TestSendWhileAckOutstanding(t *testing.T) {
	t.Parallel()
	d := newHoldDest(t)
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

	d.releaseFirst()
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
	d := newHoldDest(t)
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
	d := newHoldDest(t)
	d.releaseFirst()
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
