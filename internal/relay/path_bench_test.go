package relay

import (
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

const (
	benchConns    = 50
	benchLineSize = 200 // bytes, newline included
)

// benchLines returns a write buffer of whole 200-byte lines, about 64 KiB.
func benchLines() []byte {
	var buf []byte
	for i := 0; len(buf)+benchLineSize <= 64000; i++ {
		line := fmt.Appendf(nil, `{"level":"info","ts":"2026-11-28T15:00:00Z","i":%08d,"msg":"`, i)
		for len(line) < benchLineSize-3 {
			line = append(line, 'x')
		}
		buf = append(append(buf, line...), '"', '}', '\n')
	}
	return buf
}

// sendLoad writes total lines to addr over benchConns connections, as fast
// as the receiver takes them.
func sendLoad(b *testing.B, addr string, total int) {
	buf := benchLines()
	perWrite := len(buf) / benchLineSize
	onConns(b, addr, total, func(c net.Conn, n int) {
		for n > 0 {
			k := min(n, perWrite)
			if _, err := c.Write(buf[:k*benchLineSize]); err != nil {
				b.Error(err)
				return
			}
			n -= k
		}
	})
}

// onConns spreads total messages over benchConns connections to addr, as
// evenly as they divide, and runs send on each connection with its share,
// all at once; it returns when every send has returned.
func onConns(b *testing.B, addr string, total int, send func(c net.Conn, n int)) {
	var wg sync.WaitGroup
	for i := range benchConns {
		n := total / benchConns
		if i < total%benchConns {
			n++
		}
		if n == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Error(err)
				return
			}
			defer c.Close()
			send(c, n)
		}()
	}
	wg.Wait()
}

// benchDest acknowledges every frame at once and counts messages.
type benchDest struct {
	ln   net.Listener
	msgs atomic.Int64
	wg   sync.WaitGroup
}

func startBenchDest(b *testing.B) *benchDest {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	d := &benchDest{ln: ln}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			d.wg.Add(1)
			go func() {
				defer d.wg.Done()
				defer c.Close()
				r := wire.NewReader(c, 0)
				var ack []byte
				for {
					h, _, err := r.ReadFrame()
					if err != nil {
						return
					}
					d.msgs.Add(int64(h.Count))
					ack = wire.AppendAck(ack[:0], wire.Ack{Seq: h.Seq})
					if _, err := c.Write(ack); err != nil {
						return
					}
				}
			}()
		}
	}()
	b.Cleanup(func() { ln.Close(); d.wg.Wait() })
	return d
}

// BenchmarkRelayLoopback measures the whole path in one process: 50
// client connections over loopback TCP → line parsing → hand-off →
// batching (100 messages) → framing → TCP sink → a destination that
// acknowledges at once. One op is one 200-byte message, so allocs/op is
// allocations per message.
func BenchmarkRelayLoopback(b *testing.B) {
	for _, conc := range []int{1, 8} {
		b.Run(fmt.Sprintf("sink-concurrency=%d", conc), func(b *testing.B) {
			d := startBenchDest(b)
			cfg := DefaultConfig()
			cfg.Sink = NewTCPSink(d.ln.Addr().String())
			cfg.SinkConcurrency = conc
			cfg.FlushInterval = 100 * time.Millisecond // only the last batch of a run is not full
			r, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- r.Serve(ctx, ln) }()
			<-r.Ready()
			b.SetBytes(benchLineSize)
			b.ReportAllocs()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			b.ResetTimer()
			start := time.Now()
			sendLoad(b, r.Addr().String(), b.N)
			for r.Stats().Delivered < uint64(b.N) {
				time.Sleep(50 * time.Microsecond)
			}
			el := time.Since(start)
			b.StopTimer()
			runtime.ReadMemStats(&m1)
			// Every allocation in the process (clients and destination
			// included), with decimals: allocs/op rounds to an integer.
			b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(b.N), "allocs/msg")
			b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
			b.ReportMetric(float64(r.st.bytes.Load())/float64(r.st.reads.Load()), "bytes/read")
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkIOCopyProxy is the ceiling for the same load: a bare TCP proxy
// that io.Copies each client connection to its own upstream connection
// (spliced by the kernel on Linux) into a destination that discards.
func BenchmarkIOCopyProxy(b *testing.B) {
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var got atomic.Int64
	var upWG, proxyWG sync.WaitGroup
	serve := func(ln net.Listener, wg *sync.WaitGroup, handle func(net.Conn)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				wg.Add(1)
				go func() { defer wg.Done(); defer c.Close(); handle(c) }()
			}
		}()
	}
	serve(up, &upWG, func(c net.Conn) {
		n, _ := io.Copy(io.Discard, c)
		got.Add(n)
	})
	proxy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	serve(proxy, &proxyWG, func(c net.Conn) {
		u, err := net.Dial("tcp", up.Addr().String())
		if err != nil {
			b.Error(err)
			return
		}
		io.Copy(u, c)
		u.Close()
	})
	b.SetBytes(benchLineSize)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	sendLoad(b, proxy.Addr().String(), b.N)
	for got.Load() < int64(b.N)*benchLineSize {
		time.Sleep(50 * time.Microsecond)
	}
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
	proxy.Close()
	proxyWG.Wait()
	up.Close()
	upWG.Wait()
}
