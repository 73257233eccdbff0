package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

const metricsText = `# HELP logrelay_connections_open Client connections open.
# TYPE logrelay_connections_open gauge
logrelay_connections_open 3
# TYPE logrelay_connections_total counter
logrelay_connections_total 10
# TYPE logrelay_messages_received_total counter
logrelay_messages_received_total 1000
# TYPE logrelay_messages_delivered_total counter
logrelay_messages_delivered_total 900
# TYPE logrelay_messages_rejected_total counter
logrelay_messages_rejected_total{reason="too_long"} 2
logrelay_messages_rejected_total{reason="truncated"} 1
# TYPE logrelay_pending_messages gauge
logrelay_pending_messages 100
# TYPE logrelay_sink_retries_total counter
logrelay_sink_retries_total 4
# TYPE logrelay_sink_errors_total counter
logrelay_sink_errors_total 5
# TYPE logrelay_batches_flushed_total counter
logrelay_batches_flushed_total{reason="size"} 8
logrelay_batches_flushed_total{reason="age"} 1
# TYPE go_goroutines gauge
go_goroutines 17
# TYPE process_open_fds gauge
process_open_fds 12
`

func TestParseMetrics(t *testing.T) {
	t.Parallel()
	s, err := parseMetrics(strings.NewReader(metricsText))
	if err != nil {
		t.Fatal(err)
	}
	if s.ConnsOpen != 3 || s.Received != 1000 || s.Delivered != 900 || s.Rejected != 3 || s.Pending != 100 ||
		s.Retries != 4 || s.SinkErrors != 5 || s.Batches["size"] != 8 || s.Batches["age"] != 1 || s.Goroutines != 17 || s.FDs != 12 {
		t.Errorf("got %+v", s)
	}
	noFDs := strings.Replace(metricsText, "process_open_fds 12", "", 1)
	noFDs = strings.Replace(noFDs, "# TYPE process_open_fds gauge\n", "", 1)
	if _, err := parseMetrics(strings.NewReader(noFDs)); err == nil || !strings.Contains(err.Error(), "process_open_fds") {
		t.Errorf("missing metric: got %v want an error naming process_open_fds", err)
	}
	if _, err := parseMetrics(strings.NewReader("garbage {{{\n")); err == nil {
		t.Error("garbage: nil error")
	}
}

func TestTailBufferReceived(t *testing.T) {
	t.Parallel()
	var tb tailBuffer
	tb.Write([]byte(`{"level":"INFO","msg":"relay listening"}` + "\n" + `{"level":"INFO","msg":"relay st`))
	if _, ok := tb.received(); ok {
		t.Fatal("received before the final line: ok")
	}
	tb.Write([]byte(`opped","received":12345,"delivered":12345}` + "\n"))
	if n, ok := tb.received(); !ok || n != 12345 {
		t.Errorf("got %d, %v want 12345", n, ok)
	}
	if !strings.Contains(tb.lastError(), "relay stopped") {
		t.Errorf("lastError: %q", tb.lastError())
	}
}

func TestProgress(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	p := newProgress(&b, false)
	p.start("size", 5*time.Second)
	var n uint64 = 100
	p.track("size", "", func() uint64 { return n })
	n = 400
	p.draw()
	p.done("size")
	p.draw() // nothing running: nothing drawn
	if out := b.String(); !strings.HasPrefix(out, "[size]") || !strings.Contains(out, "/5 s") || !strings.Contains(out, "400 sent") || strings.Count(out, "\n") != 1 {
		t.Errorf("progress output: %q", out)
	}
	tty := newProgress(&b, true)
	tty.start("age", time.Second)
	b.Reset()
	tty.draw()
	tty.printf("done\n")
	if out := b.String(); !strings.Contains(out, "\r") || !strings.HasSuffix(out, "done\n") {
		t.Errorf("tty progress output: %q", out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tty.run(ctx) // returns at once on a done context
}

func TestRelayProcessThatExits(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.RelayBin = "/bin/false"
	e := newEnv(&cfg, nil)
	_, _, err := e.startRelay(context.Background(), relayConfig{Sink: "127.0.0.1:1"}, true)
	if err == nil || !strings.Contains(err.Error(), "exited at start") {
		t.Errorf("got %v want an \"exited at start\" error", err)
	}
	ext := &extRelay{addr: "127.0.0.1:1"}
	if res := ext.Stop(context.Background()); res.Err == nil || res.Exited {
		t.Errorf("external Stop: got %+v want ErrNotApplicable", res)
	}
	if _, err := ext.Stats(); err == nil {
		t.Error("external Stats without an admin address: nil error")
	}
}
