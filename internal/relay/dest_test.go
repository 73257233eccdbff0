package relay

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/logrelay/logrelay/internal/wire"
)

// testDest is a destination speaking the wire protocol, for tests. It
// records every frame it acknowledges, and can be stopped and restarted on
// the same address, told to nack, or told to hold its acknowledgements.
// Like a destination that keeps order, it stores nothing more on a
// connection after a nack: the relay resends those frames after the nacked
// one anyway.
type testDest struct {
	t    testing.TB
	addr string

	nacks  atomic.Int64  // nack this many more frames
	silent atomic.Int64  // this many more connections get no acknowledgement at all
	hold   chan struct{} // when not nil, acks wait until it is closed

	mu       sync.Mutex
	ln       net.Listener
	conns    map[net.Conn]struct{}
	frames   []recvFrame
	seqs     map[uint64]int // times each seq was acknowledged
	accepted int
	wg       sync.WaitGroup
}

type recvFrame struct {
	h    wire.Header
	msgs []string
}

func newTestDest(t testing.TB) *testDest {
	d := &testDest{t: t, conns: map[net.Conn]struct{}{}, seqs: map[uint64]int{}}
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
			d.mu.Unlock()
			d.wg.Add(1)
			go func() { defer d.wg.Done(); d.serve(c) }()
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

func (d *testDest) serve(c net.Conn) {
	defer func() {
		d.mu.Lock()
		delete(d.conns, c)
		d.mu.Unlock()
		c.Close()
	}()
	r := wire.NewReader(c, 0)
	if d.silent.Add(-1) >= 0 {
		for {
			if _, _, err := r.ReadFrame(); err != nil {
				return
			}
		}
	}
	var ack []byte
	nacked := false
	for {
		h, p, err := r.ReadFrame()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				d.t.Logf("test destination: %v", err)
			}
			return
		}
		if nacked {
			continue // the relay is closing this session and will resend
		}
		if d.hold != nil {
			<-d.hold
		}
		status := wire.AckOK
		if d.nacks.Add(-1) >= 0 {
			status, nacked = wire.AckNack, true
		} else {
			f := recvFrame{h: h}
			wire.ForEachMessage(p, func(m []byte) { f.msgs = append(f.msgs, string(m)) })
			d.mu.Lock()
			d.frames = append(d.frames, f)
			d.seqs[h.Seq]++
			d.mu.Unlock()
		}
		ack = wire.AppendAck(ack[:0], wire.Ack{Seq: h.Seq, Status: status})
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
