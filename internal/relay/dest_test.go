package relay

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/logrelay/logrelay/internal/wire"
)

// testDest is a destination speaking the wire protocol, for tests. Per
// connection, one goroutine reads frames and records each as it arrives,
// and another acknowledges them in arrival order, so frames keep arriving
// while an acknowledgement is held. It can be stopped and restarted on the
// same address, told to nack, to stay silent, to acknowledge a wrong seq,
// or to hold its acknowledgements. Like a destination that keeps order, it
// stores nothing more on a connection after a nack: the relay resends
// those frames after the nacked one anyway.
type testDest struct {
	t    testing.TB
	addr string

	nacks   atomic.Int64  // nack this many more frames
	silent  atomic.Int64  // this many more connections get no acknowledgement at all
	badAcks atomic.Int64  // acknowledge this many more frames with a wrong seq
	hold    chan struct{} // when not nil, acks wait until it is closed
	// holdFirst, when not nil, holds the acknowledgement of the first frame
	// of the first connection until it is closed (or that connection ends).
	holdFirst chan struct{}

	mu       sync.Mutex
	ln       net.Listener
	conns    map[net.Conn]struct{}
	frames   []recvFrame // every frame acknowledged with status ok, in order
	arrived  []recvFrame // every frame read, resends included, in arrival order
	accepted int
	wg       sync.WaitGroup
}

type recvFrame struct {
	h    wire.Header
	msgs []string
}

func newTestDest(t testing.TB) *testDest {
	d := &testDest{t: t, conns: map[net.Conn]struct{}{}}
	d.start("127.0.0.1:0")
	t.Cleanup(d.stop)
	return d
}

func (d *testDest) start(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		d.t.Fatalf("test destination: %v", err)
	}
	d.mu.Lock()
	d.ln, d.addr = ln, ln.Addr().String()
	d.mu.Unlock()
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			d.mu.Lock()
			d.conns[c] = struct{}{}
			d.accepted++
			first := d.accepted == 1
			d.mu.Unlock()
			d.wg.Add(1)
			go func() { defer d.wg.Done(); d.serve(c, first) }()
		}
	}()
}

// stop closes the listener and every connection, and waits for them.
func (d *testDest) stop() {
	d.mu.Lock()
	if d.ln != nil {
		d.ln.Close()
		d.ln = nil
	}
	for c := range d.conns {
		c.Close()
	}
	d.mu.Unlock()
	d.wg.Wait()
}

func (d *testDest) serve(c net.Conn, first bool) {
	defer func() {
		d.mu.Lock()
		delete(d.conns, c)
		d.mu.Unlock()
		c.Close()
	}()
	silent := d.silent.Add(-1) >= 0
	in := make(chan recvFrame, 1024)
	readDone := make(chan struct{})
	d.wg.Add(1)
	go func() { defer d.wg.Done(); d.acknowledge(c, in, readDone, first && !silent) }()
	defer close(in)
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
		if !silent {
			in <- f
		}
	}
}

// acknowledge answers the frames of one connection in arrival order until
// in is closed or the reader is done.
func (d *testDest) acknowledge(c net.Conn, in <-chan recvFrame, readDone <-chan struct{}, first bool) {
	var ack []byte
	nacked := false
	waitFor := func(ch chan struct{}) bool {
		if ch == nil {
			return true
		}
		select {
		case <-ch:
			return true
		case <-readDone:
			return false
		}
	}
	for f := range in {
		if nacked {
			continue // the relay is closing this session and will resend
		}
		if first && !waitFor(d.holdFirst) {
			return
		}
		first = false
		if !waitFor(d.hold) {
			return
		}

		a := wire.Ack{Seq: f.h.Seq, Status: wire.AckOK}
		if d.nacks.Add(-1) >= 0 {
			a.Status, nacked = wire.AckNack, true
		} else {
			d.mu.Lock()
			d.frames = append(d.frames, f)
			d.mu.Unlock()
		}
		if d.badAcks.Add(-1) >= 0 {
			a.Seq += 1000
		}
		ack = wire.AppendAck(ack[:0], a)
		if _, err := c.Write(ack); err != nil {
			return
		}
	}
}

// received returns the acknowledged frames so far.
func (d *testDest) received() []recvFrame {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]recvFrame(nil), d.frames...)
}

// count returns the number of frames that have arrived, resends included.
func (d *testDest) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.arrived)
}

// distinct returns the messages of every acknowledged frame, counting each
// seq once, in first-arrival order.
func (d *testDest) distinct() []string {
	seen := map[uint64]bool{}
	var out []string
	for _, f := range d.received() {
		if seen[f.h.Seq] {
			continue
		}
		seen[f.h.Seq] = true
		out = append(out, f.msgs...)
	}
	return out
}

// checkInOrder checks that, among every frame that arrived, the first
// arrivals of the seqs are 1, 2, … in that order and carry "m%06d"
// messages 0 to n-1.
func (d *testDest) checkInOrder(t *testing.T, n int) {
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
