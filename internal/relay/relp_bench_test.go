package relay

import (
	"context"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

// relpBlock is how many syslog commands a benchmark RELP client writes at
// once; it keeps at most relpBenchWindow unanswered.
const (
	relpBlock       = 256
	relpBenchWindow = 1024
)

// sendLoadRELP is sendLoad over RELP: benchConns sessions, each writing
// its share of 199-byte messages (the 200-byte lines without their
// newline) in blocks, at most relpBenchWindow unanswered, until every one
// is answered.
func sendLoadRELP(b *testing.B, addr string, total int) {
	lines := benchLines()
	var block []byte
	for i := 0; i < relpBlock; i++ {
		k := i % (len(lines) / benchLineSize)
		msg := lines[k*benchLineSize : (k+1)*benchLineSize-1]
		block = wire.AppendRELP(block, uint32(2+i), "syslog", msg) // the relay echoes TXNRs, whatever they are
	}
	onConns(b, addr, total, func(c net.Conn, n int) {
		c.Write(wire.AppendRELP(nil, 1, "open", []byte("relp_version=0\ncommands=syslog")))
		rd := wire.NewRELPReader(c, 1<<16)
		if _, err := rd.Next(); err != nil {
			b.Error(err)
			return
		}
		answered := make(chan int, 64)
		go func() {
			defer close(answered)
			got := 0
			for got < n {
				if _, err := rd.Next(); err != nil {
					b.Error(err)
					return
				}
				got++
				if got%relpBlock == 0 || got == n {
					answered <- got
				}
			}
		}()
		sent, acked := 0, 0
		for acked < n {
			for sent < n && sent-acked+relpBlock <= relpBenchWindow {
				k := min(n-sent, relpBlock)
				if _, err := c.Write(block[:frameEnd(block, k)]); err != nil {
					b.Error(err)
					return
				}
				sent += k
			}
			a, ok := <-answered
			if !ok {
				return
			}
			acked = a
		}
	})
}

// frameEnd returns the offset just past the first k frames of b.
func frameEnd(b []byte, k int) int {
	off := 0
	for range k {
		_, n, err := wire.ParseRELP(b[off:], 1<<20)
		if err != nil {
			panic(err)
		}
		off += n
	}
	return off
}

// BenchmarkIngestPlainVsRELP compares plain-line ingest with RELP ingest
// through the same relay path (50 connections, 200-byte messages, batches
// of 100, the TCP sink at concurrency 8, a destination that acknowledges
// at once). RELP's op includes waiting for every answer, which goes out
// only after the destination acknowledged the batch. Compare msgs/s of
// the two within one run (-count 5, medians).
func BenchmarkIngestPlainVsRELP(b *testing.B) {
	for _, mode := range []string{"plain", "relp"} {
		b.Run(mode, func(b *testing.B) {
			d := startBenchDest(b)
			cfg := DefaultConfig()
			cfg.Sink = NewTCPSink(d.ln.Addr().String())
			cfg.FlushInterval = 100 * time.Millisecond
			r, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			rln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- r.ServeRELP(ctx, ln, rln) }()
			<-r.Ready()
			b.SetBytes(benchLineSize)
			b.ReportAllocs()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			b.ResetTimer()
			start := time.Now()
			if mode == "plain" {
				sendLoad(b, r.Addr().String(), b.N)
			} else {
				sendLoadRELP(b, r.RELPAddr().String(), b.N)
			}
			for r.Stats().Delivered < uint64(b.N) {
				time.Sleep(50 * time.Microsecond)
			}
			el := time.Since(start)
			b.StopTimer()
			runtime.ReadMemStats(&m1)
			b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(b.N), "allocs/msg")
			b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
			if w := r.st.relpWrites.Load(); w > 0 {
				b.ReportMetric(float64(r.st.relpOK.Load())/float64(w), "answers/write")
			}
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}
