package dest

import (
	"fmt"
	"io"
	"net/http"

	"context"
	"github.com/logrelay/logrelay/internal/wire"
	"net"
	"strings"
	"testing"
	"time"
)

func TestStartStop(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, err := Start(ctx, Config{Mode: "lines"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(d.Sink(), "tcp://127.0.0.1:") || d.Sink() != "tcp://"+d.Addr() || d.Mode() != "lines" {
		t.Errorf("sink %q, addr %q, mode %q", d.Sink(), d.Addr(), d.Mode())
	}
	c, err := net.Dial("tcp", d.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("one line\nanother\n")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for d.Progress().Messages < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	d.WaitQuiet(ctx, 200*time.Millisecond)
	if d.WaitArrived(ctx, 1, 50*time.Millisecond) {
		t.Error("WaitArrived: unstamped lines counted as distinct stamped messages")
	}
	if n := d.WaitStream(ctx, 7, 1, 50*time.Millisecond); n != 0 {
		t.Errorf("WaitStream of a stream never sent: got %d", n)
	}
	snap, err := d.Stop()
	if err != nil || snap.Messages != 2 {
		t.Errorf("Stop: got %d messages, %v want 2, nil", snap.Messages, err)
	}
	if _, err := Start(ctx, Config{Mode: "nonsense"}); err == nil {
		t.Error("unknown mode: nil error")
	}
}

// TestElasticsearch: the _bulk receiver stores what is posted to its sink
// URL, and the acknowledgement failures asked for become HTTP failures.
func TestElasticsearch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	body := func(seqs ...uint64) string {
		var b strings.Builder
		for _, q := range seqs {
			line := wire.AppendStamp([]byte("msg "), wire.Stamp{Stream: 3, Seq: q, SentNs: time.Now().UnixNano()})
			fmt.Fprintf(&b, "{\"create\":{}}\n{\"@timestamp\":\"2026-01-01T00:00:00Z\",\"message\":%q}\n", line)
		}
		return b.String()
	}
	post := func(d *Dest, b string) int {
		t.Helper()
		u := strings.Replace(d.Sink(), "elasticsearch+http://", "http://", 1)
		resp, err := http.Post(u, "application/x-ndjson", strings.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}

	d, err := Start(ctx, Config{Sink: SinkElasticsearch})
	if err != nil {
		t.Fatal(err)
	}
	if want := "elasticsearch+http://" + d.Addr() + "/logs/_bulk"; d.Sink() != want || d.Mode() != "bulk" {
		t.Errorf("sink %q, mode %q; want %q, bulk", d.Sink(), d.Mode(), want)
	}
	if code := post(d, body(1, 2)); code != 200 {
		t.Errorf("POST: HTTP %d, want 200", code)
	}
	snap, err := d.Stop()
	if err != nil || snap.Bulk == nil || snap.Bulk.DocsStored != 2 || snap.Streams.Distinct != 2 {
		t.Errorf("Stop: %+v, %v; want 2 documents stored", snap.Bulk, err)
	}

	d, err = Start(ctx, Config{Sink: SinkElasticsearch, NackRate: 0.6, NoAckRate: 0.3})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 60 {
		var seqs []uint64
		for k := range 10 {
			seqs = append(seqs, uint64(10*i+k+1))
		}
		post(d, body(seqs...))
	}
	snap, _ = d.Stop()
	if in := snap.Bulk.Injected; in.ItemsRejected == 0 || in.RequestsRejected == 0 || in.ServerErrors == 0 || in.Broken == 0 {
		t.Errorf("failures injected: %+v; want items rejected, requests rejected, server errors and broken answers", in)
	}

	if _, err := Start(ctx, Config{Sink: SinkElasticsearch, Mode: "frames"}); err == nil {
		t.Error("elasticsearch sink into frames mode: nil error")
	}
	q, err := Start(ctx, Config{Sink: SinkQuickwit})
	if err != nil {
		t.Fatal(err)
	}
	if want := "quickwit+http://" + q.Addr() + "/logs"; q.Sink() != want {
		t.Errorf("quickwit sink %q want %q", q.Sink(), want)
	}
	q.Stop()
	if _, err := Start(ctx, Config{Sink: SinkQuickwit, NackRate: 0.1}); err == nil {
		t.Error("quickwit sink with nacks: nil error")
	}
	if _, err := Start(ctx, Config{Sink: "carrier-pigeon"}); err == nil {
		t.Error("unknown sink: nil error")
	}
}
