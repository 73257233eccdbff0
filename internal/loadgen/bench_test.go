package loadgen

import (
	"context"
	"testing"
	"time"
)

// BenchmarkThroughput sends b.N messages of 200 bytes as fast as possible
// over 50 connections into a discarding listener and reports msgs/s.
// Run with e.g. -benchtime 20000000x.
func BenchmarkThroughput(b *testing.B) {
	s := newSink(b, 0)
	s.discard = true
	s.start()
	g, err := New(Config{Addr: s.addr(), Conns: 50, Count: int64(b.N), Size: 200})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	rep, err := g.Run(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if rep.Sent != uint64(b.N) {
		b.Fatalf("sent %d want %d", rep.Sent, b.N)
	}
	waitFor(b, 10*time.Second, "the sink to read every byte", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.bytes == int64(rep.Bytes)
	})
	el := rep.End.Sub(rep.Start)
	b.ReportMetric(float64(rep.Sent)/el.Seconds(), "msgs/s")
	b.ReportMetric(float64(rep.Bytes)/el.Seconds()/1e6, "MB/s")
}

// BenchmarkAppendMessage measures formatting one message from its template.
func BenchmarkAppendMessage(b *testing.B) {
	p, err := newPayloads("json", 200, 1)
	if err != nil {
		b.Fatal(err)
	}
	head := stampHead(7)
	buf := make([]byte, 0, 64<<10)
	now := time.Now().UnixNano()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if len(buf)+200 > cap(buf) {
			buf = buf[:0]
		}
		buf = p.appendMessage(buf, uint64(i), &head, uint64(i+1), now+int64(i))
	}
}
