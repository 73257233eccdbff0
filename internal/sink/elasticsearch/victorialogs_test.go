package elasticsearch

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/loadgen"
	"github.com/logrelay/logrelay/internal/relay"
	"github.com/logrelay/logrelay/internal/victorialogs"
)

// vlBinary returns the victoria-logs binary or skips the test, saying
// how to get it. CI installs it (scripts/install-victorialogs.sh), so
// these tests skip only on a machine without it.
func vlBinary(t *testing.T) string {
	t.Helper()
	bin, err := victorialogs.Binary()
	if err != nil {
		t.Skipf("SKIP: needs VictoriaLogs %s: %v", victorialogs.Version, err)
	}
	return bin
}

func startVL(t *testing.T, ctx context.Context, bin string, extra ...string) *victorialogs.Node {
	t.Helper()
	n, err := victorialogs.Start(ctx, bin, filepath.Join(t.TempDir(), "vl"), extra...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	return n
}

// vlSink returns a _bulk sink posting to a VictoriaLogs node at addr,
// with loadgen's JSON fields mapped: msg is the message, the relay's
// @timestamp the time, host the stream.
func vlSink(t *testing.T, addr string, ids string) *Sink {
	t.Helper()
	u, _ := url.Parse("http://" + addr + "/insert/elasticsearch/_bulk?_msg_field=msg&_time_field=@timestamp&_stream_fields=host")
	s, err := New(Config{URL: u, FilterPath: true, IDs: ids, Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// load sends count stamped JSON messages through conns connections at
// rate (0 = as fast as possible) to addr.
func load(t *testing.T, ctx context.Context, addr string, count int64, conns int, rate float64) *loadgen.Report {
	t.Helper()
	g, err := loadgen.New(loadgen.Config{Addr: addr, Conns: conns, Count: count, Rate: rate, Format: "json", Size: 200})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := g.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sent != uint64(count) {
		t.Fatalf("loadgen sent %d of %d", rep.Sent, count)
	}
	return rep
}

func waitDelivered(t *testing.T, r *relay.Relay, n uint64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		st := r.Stats()
		if st.Delivered+st.SinkRejected >= n {
			if st.SinkRejected != 0 {
				t.Fatalf("%d messages rejected by the engine", st.SinkRejected)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: delivered %d of %d (pending %d, sink errors %d)", within, st.Delivered, n, st.Pending, st.SinkErrors)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type counter interface {
	Stats(ctx context.Context, query, expr string) (int64, error)
}

// countBack returns count() and count_uniq(stamp) of the node's rows.
func countBack(t *testing.T, ctx context.Context, n counter) (rows, uniq int64) {
	t.Helper()
	rows, err := n.Stats(ctx, "*", "count()")
	if err != nil {
		t.Fatal(err)
	}
	uniq, err = n.Stats(ctx, "*", "count_uniq(stamp)")
	if err != nil {
		t.Fatal(err)
	}
	return rows, uniq
}

// TestVictoriaLogsOneNode: 100,000 stamped messages through the relay's
// _bulk sink into one VictoriaLogs node are all there, each once.
func TestVictoriaLogsOneNode(t *testing.T) {
	bin := vlBinary(t)
	if testing.Short() {
		t.Skip("SKIP in -short: 100,000 messages through a real VictoriaLogs")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	vl := startVL(t, ctx, bin)
	r, stop := startRelay(t, vlSink(t, vl.Addr(), IDNone), func(c *relay.Config) {
		c.BatchSize, c.FlushInterval = 100, 100*time.Millisecond
	})
	const sent = 100_000
	load(t, ctx, r.Addr().String(), sent, 4, 0)
	waitDelivered(t, r, sent, time.Minute)
	if err := stop(); err != nil {
		t.Fatalf("relay: %v", err)
	}
	if err := vl.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
	rows, uniq := countBack(t, ctx, vl)
	if rows != sent || uniq != sent {
		t.Errorf("VictoriaLogs holds %d rows, %d distinct stamps; want %d and %d", rows, uniq, sent, sent)
	}
}

// TestVictoriaLogsNeedsContentType: VictoriaLogs answers 200 to a _bulk
// body sent as application/x-www-form-urlencoded (curl's default, Go's
// PostForm) and stores nothing, with an "items" list shorter than the
// request; the classifier takes that answer for what it is (malformed:
// resend), and the sink, which always sends application/x-ndjson, gets
// every row stored.
func TestVictoriaLogsNeedsContentType(t *testing.T) {
	bin := vlBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	vl := startVL(t, ctx, bin)
	body := `{"create":{}}` + "\n" + `{"@timestamp":"` + time.Now().UTC().Format(time.RFC3339Nano) + `","msg":"x","stamp":"s"}` + "\n"
	resp, err := http.Post(vl.URL("/insert/elasticsearch/_bulk?_msg_field=msg&_time_field=@timestamp"),
		"application/x-www-form-urlencoded", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	vl.ForceFlush(ctx)
	if rows, _ := countBack(t, ctx, vl); resp.StatusCode != 200 || rows != 0 {
		t.Fatalf("a form-encoded _bulk: VictoriaLogs answered %d and stored %d rows; this test expects 200 and 0 (the trap the sink avoids)", resp.StatusCode, rows)
	}
	if v := classify(resp.StatusCode, resp.Header, answer, nil, nil, 1, time.Now()); v.act != actRetry {
		t.Errorf("VictoriaLogs' answer %s to a request it ignored: classified %v, want retry (malformed)", answer, v.act)
	}
	r, stop := startRelay(t, vlSink(t, vl.Addr(), IDNone), nil)
	load(t, ctx, r.Addr().String(), 500, 1, 0)
	waitDelivered(t, r, 500, 30*time.Second)
	stop()
	vl.ForceFlush(ctx)
	if rows, _ := countBack(t, ctx, vl); rows != 500 {
		t.Errorf("VictoriaLogs holds %d rows, want 500", rows)
	}
}
