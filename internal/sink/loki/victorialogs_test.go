package loki

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/loadgen"
	"github.com/logrelay/logrelay/internal/relay"
	"github.com/logrelay/logrelay/internal/sink/sinktest"
	"github.com/logrelay/logrelay/internal/victorialogs"
	"github.com/logrelay/logrelay/internal/wire"
)

// TestVictoriaLogsLokiPush: 100,000 stamped loadgen messages through the
// relay's Loki sink into a real VictoriaLogs (/insert/loki/api/v1/push,
// JSON lines parsed into fields, _msg from their msg field) are all
// there, each once, in the stream of the configured labels.
func TestVictoriaLogsLokiPush(t *testing.T) {
	bin, err := victorialogs.Binary()
	if err != nil {
		t.Skipf("SKIP: needs VictoriaLogs %s: %v", victorialogs.Version, err)
	}
	if testing.Short() {
		t.Skip("SKIP in -short: 100,000 messages through a real VictoriaLogs")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	vl, err := victorialogs.Start(ctx, bin, filepath.Join(t.TempDir(), "vl"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(vl.Stop)
	labels, err := wire.ParseLokiLabels("job=relay,env=it")
	if err != nil {
		t.Fatal(err)
	}
	s := newSink(t, vl.URL("/insert/loki/api/v1/push?_msg_field=msg"), func(c *Config) { c.Labels, c.Gzip = labels, true })
	r, stop := sinktest.StartRelay(t, s, func(c *relay.Config) { c.BatchSize, c.FlushInterval = 100, 100*time.Millisecond })
	const sent = 100_000
	g, err := loadgen.New(loadgen.Config{Addr: r.Addr().String(), Conns: 4, Count: sent, Format: "json", Size: 200})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := g.Run(ctx)
	if err != nil || rep.Sent != sent {
		t.Fatalf("loadgen: %v, sent %d", err, rep.Sent)
	}
	deadline := time.Now().Add(time.Minute)
	for st := r.Stats(); st.Delivered+st.SinkRejected < sent; st = r.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("delivered %d of %d (pending %d, sink errors %d)", st.Delivered, sent, st.Pending, st.SinkErrors)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatalf("relay: %v", err)
	}
	if st := r.Stats(); st.SinkRejected != 0 {
		t.Fatalf("%d rejected", st.SinkRejected)
	}
	if err := vl.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		query, expr string
		want        int64
	}{
		{"*", "count()", sent},
		{"*", "count_uniq(stamp)", sent},
		{`_stream:{env="it",job="relay"}`, "count()", sent},
		{`job:=relay env:=it`, "count()", sent},
		// VictoriaLogs' text for a row without _msg
		{`_msg:"missing _msg field"`, "count()", 0},
	} {
		n, err := vl.Stats(ctx, q.query, q.expr)
		if err != nil {
			t.Fatal(err)
		}
		if n != q.want {
			t.Errorf("%s | stats %s = %d, want %d", q.query, q.expr, n, q.want)
		}
	}
}
