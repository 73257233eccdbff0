package mockdest

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLines(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{Mode: ModeLines, MaxLineBytes: 1000})
	c := dial(t, s)
	now := time.Now().UnixNano()
	var all []byte
	for q := uint64(1); q <= 50; q++ {
		all = append(append(all, msg(2, q, now, 120)...), '\n')
	}
	all = append(all, "foreign line\n"...)
	// Send in pieces that split lines, waiting for each to be recorded.
	pieces := [][]byte{all[:10], all[10:300], all[300:]}
	var wantMsgs uint64
	for _, p := range pieces {
		write(t, c, p)
		wantMsgs += uint64(bytes.Count(p, []byte{'\n'}))
		waitFor(t, "piece recorded", func() bool { return s.Snapshot().Messages >= wantMsgs })
	}
	write(t, c, []byte(strings.Repeat("y", 2500)+"\nok line\n"))
	write(t, c, []byte("last line without newline"))
	_ = c.(*net.TCPConn).CloseWrite()
	waitFor(t, "connection done", func() bool { return s.Snapshot().ConnsOpen == 0 })

	snap := s.Snapshot()
	if snap.Mode != ModeLines || snap.Messages != 53 || snap.Streams.Distinct != 50 || snap.Streams.Foreign != 3 {
		t.Errorf("got mode %q messages %d distinct %d foreign %d, want lines 53 50 3",
			snap.Mode, snap.Messages, snap.Streams.Distinct, snap.Streams.Foreign)
	}
	if snap.LinesTooLong != 1 {
		t.Errorf("lines too long: got %d want 1", snap.LinesTooLong)
	}
	var batches, msgs uint64
	for n, c := range snap.BatchSizes[ReasonRead] {
		batches += c
		msgs += uint64(n) * c
	}
	if len(snap.BatchSizes) != 1 || msgs != 53 || batches != snap.Batches || batches < 4 {
		t.Errorf("batch sizes %v: want only %q, %d messages in ≥ 4 reads", snap.BatchSizes, ReasonRead, 53)
	}
	if snap.BatchAge[ReasonRead].TotalCount() != 0 {
		t.Error("lines mode recorded batch ages; it has no sender timestamps")
	}
	if snap.Latency.TotalCount() != 50 {
		t.Errorf("latency count: got %d want 50", snap.Latency.TotalCount())
	}

	// Lines carry no relay timestamps: no batch age in the reports.
	var text strings.Builder
	if err := snap.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(text.String(), "oldest message") || !strings.Contains(text.String(), "batch age needs frames mode") {
		t.Errorf("text report: got\n%s\nwant no batch-age section, only a line saying it needs frames mode", text.String())
	}
	js, err := json.Marshal(&snap)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(js, []byte(`"batch_age_us":{}`)) {
		t.Errorf("JSON report: want an empty batch_age_us in lines mode, got %s", js)
	}
	dir := t.TempDir()
	if err := WriteFiles(dir, &snap); err != nil {
		t.Fatal(err)
	}
	if ages, _ := filepath.Glob(filepath.Join(dir, "batch-age*")); len(ages) > 0 {
		t.Errorf("lines mode wrote %v; it has no batch ages", ages)
	}
	if _, err := os.Stat(filepath.Join(dir, "latency.hgrm")); err != nil {
		t.Errorf("latency.hgrm: %v", err)
	}
}

func TestLinesReadError(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{Mode: ModeLines})
	c := dial(t, s)
	write(t, c, []byte("one\ntwo\npartial"))
	waitFor(t, "two lines", func() bool { return s.Snapshot().Messages == 2 })
	_ = c.(*net.TCPConn).SetLinger(0)
	c.Close() // reset: the partial line is dropped
	waitFor(t, "connection done", func() bool { return s.Snapshot().ConnsOpen == 0 })
	if n := s.Snapshot().Messages; n != 2 {
		t.Errorf("messages: got %d want 2", n)
	}
}

func TestLinesCloseRate(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{Mode: ModeLines, CloseRate: 1})
	c := dial(t, s)
	write(t, c, []byte("one\ntwo\n"))
	expectClosed(t, c)
	snap := s.Snapshot()
	if snap.Misbehaviour.ConnsClosed != 1 || snap.Messages != 0 {
		t.Errorf("got conns closed %d messages %d, want 1 0", snap.Misbehaviour.ConnsClosed, snap.Messages)
	}
}
