package file

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/relay"
)

const benchLineSize = 200 // bytes, newline included

// benchLines returns a write buffer of whole 200-byte JSON lines, about
// 64 KiB.
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

// benchSend writes total lines to addr over conns connections.
func benchSend(b *testing.B, addr string, conns, total int) {
	buf := benchLines()
	perWrite := len(buf) / benchLineSize
	var wg sync.WaitGroup
	for i := range conns {
		n := total / conns
		if i < total%conns {
			n++
		}
		wg.Go(func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Error(err)
				return
			}
			defer c.Close()
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
	wg.Wait()
}

// BenchmarkRelayToFile measures the whole relay into the file sink: 8
// client connections over loopback TCP → batches of 100 (the default) →
// one write per batch to a file in b.TempDir(), with and without fsync.
// One op is one 200-byte message, so allocs/op is allocations per message
// (allocs/msg counts every allocation in the process, with decimals).
func BenchmarkRelayToFile(b *testing.B) {
	for _, format := range []Format{Lines, JSON} {
		for _, fsync := range []bool{false, true} {
			b.Run(fmt.Sprintf("format=%v/fsync=%v", format, fsync), func(b *testing.B) {
				s, err := New(Config{Path: filepath.Join(b.TempDir(), "out.log"), Format: format, Fsync: fsync})
				if err != nil {
					b.Fatal(err)
				}
				cfg := relay.DefaultConfig()
				cfg.Sink, cfg.Admin = s, ""
				cfg.FlushInterval = 100 * time.Millisecond
				r, err := relay.New(cfg)
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
				benchSend(b, r.Addr().String(), 8, b.N)
				for r.Stats().Delivered < uint64(b.N) {
					time.Sleep(50 * time.Microsecond)
				}
				el := time.Since(start)
				b.StopTimer()
				runtime.ReadMemStats(&m1)
				b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(b.N), "allocs/msg")
				b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
				if n := s.m.fsyncs.Load(); n > 0 {
					b.ReportMetric(float64(b.N)/float64(n), "msgs/fsync")
				}
				cancel()
				if err := <-done; err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}
