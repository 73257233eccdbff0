package dest

import (
	"context"
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

// The bulk receiver's sink URL is the relay's elasticsearch+http scheme,
// with the index in the path.
func TestBulkSink(t *testing.T) {
	t.Parallel()
	d, err := Start(context.Background(), Config{Mode: "bulk"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	if want := "elasticsearch+http://" + d.Addr() + "/" + BulkIndex + "/_bulk"; d.Sink() != want || d.Mode() != "bulk" {
		t.Errorf("sink %q mode %q, want %q bulk", d.Sink(), d.Mode(), want)
	}
}
