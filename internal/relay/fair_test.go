package relay

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

// slowSink is an in-process destination that acknowledges every batch a
// fixed delay after it was sent, so it is slower than clients that write as
// fast as they can; onAck sees each payload as it is acknowledged.
type slowSink struct {
	delay time.Duration
	onAck func(payload []byte, at time.Time)
}

func (s *slowSink) String() string { return "slow-sink" }

func (s *slowSink) Open(context.Context) (SinkConn, error) {
	return &slowConn{s: s, q: make(chan slowSent, 256), done: make(chan struct{})}, nil
}

type slowSent struct {
	seq     uint64
	due     time.Time
	payload []byte
}

type slowConn struct {
	s      *slowSink
	q      chan slowSent
	head   *slowSent // taken from q, not yet due at the last Recv's deadline
	done   chan struct{}
	closed sync.Once
}

func (c *slowConn) Send(b *Batch, _ time.Time) error {
	select {
	case c.q <- slowSent{b.hdr.Seq, time.Now().Add(c.s.delay), b.Frame()[wire.HeaderSize:]}:
		return nil
	case <-c.done:
		return net.ErrClosed
	}
}

func (c *slowConn) Recv(deadline time.Time) (wire.Ack, error) {
	if c.head == nil {
		select {
		case x := <-c.q:
			c.head = &x
		case <-c.done:
			return wire.Ack{}, net.ErrClosed
		case <-time.After(time.Until(deadline)):
			return wire.Ack{}, os.ErrDeadlineExceeded
		}
	}
	x := c.head
	at := x.due
	if deadline.Before(at) {
		at = deadline
	}
	select {
	case <-time.After(time.Until(at)):
	case <-c.done:
		return wire.Ack{}, net.ErrClosed
	}
	if deadline.Before(x.due) {
		return wire.Ack{}, os.ErrDeadlineExceeded
	}
	c.head = nil
	c.s.onAck(x.payload, time.Now())
	return wire.Ack{Seq: x.seq, Status: wire.AckOK}, nil
}

func (c *slowConn) Close() error {
	c.closed.Do(func() { close(c.done) })
	return nil
}

// jain returns Jain's fairness index of xs: (Σx)² / (n·Σx²), 1 when all
// are equal, 1/n when one has everything.
func jain(xs []float64) float64 {
	var sum, sq float64
	for _, x := range xs {
		sum += x
		sq += x * x
	}
	if sq == 0 {
		return 0
	}
	return sum * sum / (float64(len(xs)) * sq)
}

func TestJain(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		want float64
	}{
		{[]float64{1, 1, 1, 1}, 1},
		{[]float64{4, 0, 0, 0}, 0.25},
		{[]float64{2, 2, 0, 0}, 0.5},
	} {
		if got := jain(tc.xs); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("jain(%v) = %v, want %v", tc.xs, got, tc.want)
		}
	}
}

// TestOverloadFairness floods the relay from many connections that write
// as fast as they can into a destination slower than they are, so the
// pending limit is reached again and again, while a few quiet clients send
// ten lines a second each. Every flooder must get a fair share of what is
// delivered (Jain's index over a window of the run) and every quiet line
// must be delivered promptly.
func TestOverloadFairness(t *testing.T) {
	const (
		flooders   = 40
		quiet      = 4
		quietEvery = 100 * time.Millisecond
		run        = 4 * time.Second
		warmup     = time.Second
		lineLen    = 200
	)
	var perConn [flooders]atomic.Int64
	var quietMu sync.Mutex
	quietLat := map[string]time.Duration{} // "q<client>-<seq>" → delivery latency
	sink := &slowSink{delay: 5 * time.Millisecond, onAck: func(p []byte, at time.Time) {
		for len(p) > 0 {
			i := bytes.IndexByte(p, '\n')
			line := p[:i]
			p = p[i+1:]
			switch line[0] {
			case 'c':
				id, _ := strconv.Atoi(string(line[1:4]))
				perConn[id].Add(1)
			case 'q':
				f := strings.Fields(string(line))
				ns, _ := strconv.ParseInt(f[1], 10, 64)
				quietMu.Lock()
				quietLat[f[0]] = at.Sub(time.Unix(0, ns))
				quietMu.Unlock()
			}
		}
	}}
	cfg := testConfig("127.0.0.1:1")
	cfg.Sink = NewStreamSink(sink)
	cfg.MaxPending = 20_000
	cfg.SinkConcurrency = 8
	cfg.FlushInterval = 100 * time.Millisecond
	cfg.ShutdownTimeout = 10 * time.Second
	r := startRelay(t, cfg)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()
	for i := range flooders {
		c := dial(t, r)
		var b bytes.Buffer
		for b.Len() < 64<<10 {
			fmt.Fprintf(&b, "c%03d %s\n", i, strings.Repeat("x", lineLen-6))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			go func() { <-stop; c.Close() }()
			for {
				if _, err := c.Write(b.Bytes()); err != nil {
					return
				}
			}
		}()
	}
	var quietSent atomic.Int64
	start := time.Now()
	for q := range quiet {
		c := dial(t, r)
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(quietEvery)
			defer tick.Stop()
			for seq := 0; time.Since(start) < run-time.Second; seq++ {
				fmt.Fprintf(c, "q%d-%d %d\n", q, seq, time.Now().UnixNano())
				quietSent.Add(1)
				select {
				case <-tick.C:
				case <-stop:
					return
				}
			}
		}()
	}
	time.Sleep(warmup)
	var before [flooders]int64
	for i := range perConn {
		before[i] = perConn[i].Load()
	}
	time.Sleep(run - warmup)
	shares := make([]float64, flooders)
	starved := 0
	var total int64
	for i := range perConn {
		d := perConn[i].Load() - before[i]
		shares[i] = float64(d)
		total += d
		if d == 0 {
			starved++
		}
	}
	// The quiet lines sent up to a second before the end have had a
	// second to arrive.
	quietMu.Lock()
	got, worst := len(quietLat), time.Duration(0)
	for _, l := range quietLat {
		worst = max(worst, l)
	}
	quietMu.Unlock()
	idx := jain(shares)
	t.Logf("%d flooders over %v: %d messages delivered (%.0f/s), Jain's index %.3f, %d got nothing; quiet lines: %d of %d delivered, worst latency %v",
		flooders, run-warmup, total, float64(total)/(run-warmup).Seconds(), idx, starved, got, quietSent.Load(), worst)
	if total < int64(cfg.MaxPending) {
		t.Fatalf("only %d messages delivered: the destination was not the bottleneck, so this measured nothing", total)
	}
	if idx < 0.8 || starved > 0 {
		t.Errorf("Jain's index %.3f with %d of %d flooders starved; want ≥ 0.8 and none starved", idx, starved, flooders)
	}
	if n := quietSent.Load(); int64(got) < n || worst > 1500*time.Millisecond {
		t.Errorf("quiet lines: %d of %d delivered, worst latency %v; want all, within 1.5 s", got, n, worst)
	}
}
