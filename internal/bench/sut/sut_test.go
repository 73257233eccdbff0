package sut

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/bench/dest"
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
# TYPE logrelay_sink_send_seconds histogram
logrelay_sink_send_seconds_bucket{le="0.001"} 5
logrelay_sink_send_seconds_bucket{le="0.002"} 8
logrelay_sink_send_seconds_bucket{le="+Inf"} 9
logrelay_sink_send_seconds_sum 0.02
logrelay_sink_send_seconds_count 9
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
	if len(s.Send) < 3 || s.Send[0] != (Bucket{Le: 0.001, Count: 5}) || s.Send[1] != (Bucket{Le: 0.002, Count: 8}) || s.Send[len(s.Send)-1].Count != 9 {
		t.Errorf("send buckets %+v want ≤1 ms 5, ≤2 ms 8, all 9", s.Send)
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

func TestRelayProcessThatExits(t *testing.T) {
	t.Parallel()
	s := &Starter{BatchSize: 100, FlushInterval: time.Second, Bin: "/bin/false"}
	defer s.Close()
	_, err := s.Start(context.Background(), Config{Sink: "tcp://127.0.0.1:1"}, Process)
	if err == nil || !strings.Contains(err.Error(), "exited at start") {
		t.Errorf("got %v want an \"exited at start\" error", err)
	}
	s.ExternalAddr = "127.0.0.1:1"
	ext, err := s.Start(context.Background(), Config{}, Process)
	if err != nil || ext.Kind() != External || ext.Addr() != "127.0.0.1:1" {
		t.Fatalf("external: got %v, %v want the external relay", ext, err)
	}
	if res := ext.Stop(context.Background()); !errors.Is(res.Err, ErrNotStarted) || res.Exited {
		t.Errorf("external Stop: got %+v want ErrNotStarted", res)
	}
	if _, err := ext.Stats(); !errors.Is(err, ErrNoCounters) {
		t.Errorf("external Stats without an admin address: got %v want ErrNoCounters", err)
	}
	start := time.Now()
	WaitIdle(context.Background(), ext, time.Minute) // no counters: returns at once
	if d := time.Since(start); d > time.Second {
		t.Errorf("WaitIdle without counters took %s", d)
	}
}

func TestKind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		k    Kind
		want string
	}{{InProcess, "in-process"}, {Process, "process"}, {External, "external"}, {0, "Kind(0)"}}
	for _, tt := range tests {
		if got := tt.k.String(); got != tt.want {
			t.Errorf("Kind(%d): got %q want %q", int(tt.k), got, tt.want)
		}
	}
	s := &Starter{}
	if got := s.KindFor(InProcess); got != InProcess {
		t.Errorf("KindFor(InProcess): got %v", got)
	}
	if got := s.KindFor(Process); got != Process {
		t.Errorf("KindFor(Process): got %v", got)
	}
	s.AllProcesses = true
	if got := s.KindFor(InProcess); got != Process {
		t.Errorf("AllProcesses: KindFor(InProcess): got %v want process", got)
	}
	s.ExternalAddr = "127.0.0.1:1"
	if got := s.KindFor(Process); got != External {
		t.Errorf("external: KindFor(Process): got %v want external", got)
	}
}

// TestInProcess: an in-process relay started for a mockdest's sink URL
// relays what it reads there, counts it, and stops gracefully.
func TestInProcess(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, err := dest.Start(ctx, dest.Config{Mode: "frames"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	s := &Starter{BatchSize: 10, FlushInterval: time.Second}
	defer s.Close()
	h, err := s.Start(ctx, Config{Sink: d.Sink(), MaxPending: 500}, InProcess)
	if err != nil {
		t.Fatal(err)
	}
	if h.Kind() != InProcess || h.PID() != os.Getpid() || h.MaxPending() != 500 {
		t.Errorf("kind %v, pid %d, max-pending %d want in-process, this process, 500", h.Kind(), h.PID(), h.MaxPending())
	}
	c, err := net.Dial("tcp", h.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(bytes.Repeat([]byte("a line\n"), 10)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for d.Progress().Messages < 10 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := d.Progress().Messages; got != 10 {
		t.Fatalf("mockdest got %d messages want 10", got)
	}
	st, err := h.Stats()
	if err != nil || st.Received != 10 || st.Batches["size"] != 1 {
		t.Errorf("Stats: got received %d, batches %v, %v want 10, one size batch", st.Received, st.Batches, err)
	}
	WaitIdle(ctx, h, time.Second)
	res := h.Stop(ctx)
	if !res.Exited || res.Err != nil || !res.Counted || res.Received != 10 {
		t.Errorf("Stop: got %+v want a clean exit having read 10", res)
	}
	if again := h.Stop(ctx); again != res {
		t.Errorf("second Stop: got %+v want %+v", again, res)
	}
}

// TestProcessKillRestart kills a relay process and restarts it on the
// same ports twice, then stops it with SIGTERM: each new process has its
// own PID, listens at the same addresses and delivers.
func TestProcessKillRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the relay")
	}
	d, err := dest.Start(context.Background(), dest.Config{Mode: "frames"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	s := &Starter{BatchSize: 10, FlushInterval: time.Second}
	defer s.Close()
	r, err := s.Start(context.Background(), Config{Sink: d.Sink()}, Process)
	if err != nil {
		t.Fatal(err)
	}
	h := r.(*ProcessRelay)
	addr, relpAddr, pid := h.Addr(), h.RELPAddr(), h.PID()
	if _, err := h.Restart(context.Background()); err == nil {
		t.Fatal("Restart of a running relay: no error")
	}
	for i := range 2 {
		h.Kill()
		if res := h.Stop(context.Background()); !errors.Is(res.Err, ErrKilled) || res.Exited {
			t.Fatalf("Stop after Kill: got %+v want ErrKilled", res)
		}
		if h, err = h.Restart(context.Background()); err != nil {
			t.Fatalf("restart %d: %v", i+1, err)
		}
		if h.Addr() != addr || h.RELPAddr() != relpAddr || h.PID() == pid {
			t.Fatalf("restart %d: %s %s pid %d, want %s %s and a new pid than %d", i+1, h.Addr(), h.RELPAddr(), h.PID(), addr, relpAddr, pid)
		}
		pid = h.PID()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("restart %d: %v", i+1, err)
		}
		c.Write([]byte(strings.Repeat("line\n", 10)))
		c.Close()
		want := uint64(10 * (i + 1))
		for deadline := time.Now().Add(10 * time.Second); d.Progress().Messages < want; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("restart %d: %d of %d lines arrived", i+1, d.Progress().Messages, want)
			}
		}
	}
	if res := h.Stop(context.Background()); res.Err != nil || !res.Exited || res.ExitCode != 0 {
		t.Fatalf("SIGTERM after the restarts: %+v", res)
	}
}
