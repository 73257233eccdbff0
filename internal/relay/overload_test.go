//go:build idlemem

package relay

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

// streamDest is a frame destination that acknowledges every batch a fixed
// delay after it arrived (acknowledgements pipelined, as mockdest
// --ack-delay does) and records, per loadgen stream, how many messages
// arrived when, and the latency of each from its stamp's send time.
type streamDest struct {
	ln    net.Listener
	delay time.Duration
	start time.Time

	mu      sync.Mutex
	first   map[uint32]time.Duration // stream → first arrival since start
	counts  map[uint32]int64         // stream → messages arrived
	lat     []time.Duration          // latencies of streams ≥ quietBase
	total   int64
	quietID uint32
	wg      sync.WaitGroup
}

func newStreamDest(t *testing.T, delay time.Duration, quietBase uint32) *streamDest {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &streamDest{ln: ln, delay: delay, first: map[uint32]time.Duration{}, counts: map[uint32]int64{}, quietID: quietBase}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			d.wg.Add(1)
			go func() { defer d.wg.Done(); d.serve(c) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); d.wg.Wait() })
	return d
}

func (d *streamDest) serve(c net.Conn) {
	defer c.Close()
	type due struct {
		seq uint64
		at  time.Time
	}
	q := make(chan due, 4096)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var b []byte
		for a := range q {
			time.Sleep(time.Until(a.at))
			b = wire.AppendAck(b[:0], wire.Ack{Seq: a.seq, Status: wire.AckOK})
			if _, err := c.Write(b); err != nil {
				for range q {
				}
				return
			}
		}
	}()
	defer func() { close(q); <-done }()
	r := wire.NewReader(c, wire.DefaultMaxPayload)
	for {
		h, payload, err := r.ReadFrame()
		if err != nil {
			return
		}
		now := time.Now()
		d.mu.Lock()
		if d.start.IsZero() {
			d.start = now
		}
		since := now.Sub(d.start)
		wire.ForEachMessage(payload, func(m []byte) {
			s, ok := wire.ParseStamp(m)
			if !ok {
				return
			}
			d.total++
			if _, seen := d.first[s.Stream]; !seen {
				d.first[s.Stream] = since
			}
			d.counts[s.Stream]++
			if s.Stream >= d.quietID {
				d.lat = append(d.lat, now.Sub(time.Unix(0, s.SentNs)))
			}
		})
		d.mu.Unlock()
		q <- due{h.Seq, now.Add(d.delay)}
	}
}

// TestOverloadStreams reproduces the overload of a destination slower
// than its clients: 200 loadgen connections sending as fast as they can
// and 5 quiet ones at 10 messages/s each, into a destination that
// acknowledges every batch 5 ms after it arrived, the relay at its
// defaults. It reports how many flooding streams had anything delivered
// after 5, 10 and 15 s, Jain's index of the flooders' deliveries in each
// 5 s window, the quiet messages' latencies and the throughput, and checks
// them against the fairness goals. LOGRELAY_RELAY_BIN runs another relay
// binary instead of this tree's, to compare; then nothing is checked. Run
// it with
//
//	go test -tags idlemem -run OverloadStreams -v ./internal/relay
func TestOverloadStreams(t *testing.T) {
	const flooders, quiet, quietBase = 200, 5, 1000
	const run = 15 * time.Second
	bins := build(t, "relay", "loadgen")
	relayBin, other := bins["relay"], os.Getenv("LOGRELAY_RELAY_BIN")
	if other != "" {
		relayBin = other
	}
	d := newStreamDest(t, 5*time.Millisecond, quietBase)
	cmd, addr, _ := startRelayProcess(t, relayBin, d.ln.Addr().String(), "--log-level", "error")
	ctx, cancel := context.WithTimeout(context.Background(), run+30*time.Second)
	defer cancel()
	loads := []*exec.Cmd{
		exec.CommandContext(ctx, bins["loadgen"], "--addr", addr, "--conns", fmt.Sprint(flooders),
			"--duration", run.String(), "--progress=false"),
		exec.CommandContext(ctx, bins["loadgen"], "--addr", addr, "--conns", fmt.Sprint(quiet),
			"--stream-base", fmt.Sprint(quietBase), "--rate", fmt.Sprint(10*quiet), "--duration", run.String(), "--progress=false"),
	}
	errs := make(chan error, len(loads))
	for _, lg := range loads {
		go func() {
			out, err := lg.CombinedOutput()
			if err != nil {
				err = fmt.Errorf("%v: %w\n%s", lg.Args, err, out)
			}
			errs <- err
		}()
	}
	start := time.Now()
	prev := map[uint32]int64{}
	var prevTotal int64
	var indexes []float64
	var anyAt []int
	for w := 1; w <= 3; w++ {
		time.Sleep(time.Until(start.Add(time.Duration(w) * 5 * time.Second)))
		d.mu.Lock()
		shares := make([]float64, flooders)
		delivered := 0
		for s := uint32(0); s < flooders; s++ {
			shares[s] = float64(d.counts[s] - prev[s])
			prev[s] = d.counts[s]
			if d.counts[s] > 0 {
				delivered++
			}
		}
		total := d.total - prevTotal
		prevTotal = d.total
		d.mu.Unlock()
		indexes = append(indexes, jain(shares))
		anyAt = append(anyAt, delivered)
		t.Logf("after %2ds: %3d of %d flooding streams had messages delivered; window Jain's index %.3f; %.0f msgs/s",
			w*5, delivered, flooders, indexes[w-1], float64(total)/5)
	}
	for range loads {
		if err := <-errs; err != nil {
			t.Fatalf("loadgen: %v", err)
		}
	}
	time.Sleep(2 * time.Second) // the last quiet messages' flush
	d.mu.Lock()
	lat := slices.Clone(d.lat)
	var quietGot int64
	for s := uint32(quietBase); s < quietBase+quiet; s++ {
		quietGot += d.counts[s]
	}
	d.mu.Unlock()
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return -1
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	t.Logf("quiet: %d messages delivered (of about %d sent), latency p50 %v, p99 %v, max %v",
		quietGot, int(run.Seconds())*10*quiet, pct(0.5).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), pct(1).Round(time.Millisecond))
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("relay exit: %v", err)
	}
	if other != "" {
		return
	}
	if anyAt[0] != flooders {
		t.Errorf("after 5 s only %d of %d flooding streams had anything delivered", anyAt[0], flooders)
	}
	for i, idx := range indexes[1:] {
		if idx < 0.9 {
			t.Errorf("window %d: Jain's index %.3f, want ≥ 0.9", i+2, idx)
		}
	}
	// A quiet message waits for its connection's turn (one round of every
	// flooder's read, about 200 × 64 KiB) and then behind what is pending
	// (up to --max-pending messages: about a second at this destination).
	if quietGot < int64(run.Seconds()-1)*10*quiet || pct(0.99) > 3*time.Second {
		t.Errorf("quiet clients: %d delivered, p99 latency %v; want all, p99 within 3 s", quietGot, pct(0.99))
	}
}
