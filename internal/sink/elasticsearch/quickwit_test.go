package elasticsearch

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/mockdest"
	"github.com/logrelay/logrelay/internal/relay"
	"github.com/logrelay/logrelay/internal/sink/sinktest"
	"github.com/logrelay/logrelay/internal/wire"
)

// TestQuickwitElasticBulk: the _bulk sink pointed at Quickwit's
// /api/v1/_elastic/_bulk (mockdest's quickwit flavour: items keyed
// "index", status 201, a 413 above 10 MiB) delivers every line once.
func TestQuickwitElasticBulk(t *testing.T) {
	t.Parallel()
	md := sinktest.StartMockdest(t, mockdest.BulkConfig{Flavour: mockdest.FlavourQuickwit, RejectRate: 0.1})
	u, _ := url.Parse("http://" + md.Addr().String() + "/api/v1/_elastic/_bulk")
	s, err := New(Config{URL: u, Format: wire.BulkFormat{Index: "logs"}, Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, stop := sinktest.StartRelay(t, s, nil)
	sinktest.SendLines(t, r.Addr(), sinktest.StampedLines("elastic", 2000))
	sinktest.WaitFor(t, "every line delivered", func() bool { return r.Stats().Delivered == 2000 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	snap := md.Snapshot()
	if st := r.Stats(); st.SinkRejected != 0 || snap.Streams.Distinct != 2000 || snap.Streams.Duplicates != 0 || snap.Bulk.RequestsByStatus["429"] == 0 {
		t.Errorf("rejected %d; mockdest %d distinct, %d duplicates, answers %v", st.SinkRejected, snap.Streams.Distinct, snap.Streams.Duplicates, snap.Bulk.RequestsByStatus)
	}
}

// TestQuickwitElasticBulkNoIndex: Quickwit's _bulk answers a missing
// index with item 404 index_not_found_exception inside a 200; the sink
// holds and resends those documents (never drops them) and /healthz says
// why.
func TestQuickwitElasticBulkNoIndex(t *testing.T) {
	t.Parallel()
	md := sinktest.StartMockdest(t, mockdest.BulkConfig{Flavour: mockdest.FlavourQuickwit})
	u, _ := url.Parse("http://" + md.Addr().String() + "/api/v1/_elastic/_bulk")
	s, err := New(Config{URL: u, Format: wire.BulkFormat{Index: "nope"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, stop := sinktest.StartRelay(t, s, func(c *relay.Config) { c.ShutdownTimeout = 50 * time.Millisecond })
	sinktest.SendLines(t, r.Addr(), sinktest.StampedLines("x", 3))
	h := r.AdminHandler()
	sinktest.WaitFor(t, "/healthz to fail", func() bool { code, _ := sinktest.Get(h, "/healthz"); return code == 503 })
	sinktest.WaitFor(t, "several resends", func() bool { return r.Stats().SinkErrors >= 5 })
	_, metrics := sinktest.Get(h, "/metrics")
	if !strings.Contains(metrics, `logrelay_bulk_items_total{class="4xx",outcome="retried"}`) {
		t.Errorf("/metrics: no 4xx retried items")
	}
	if st := r.Stats(); st.Delivered != 0 || st.SinkRejected != 0 || st.Pending != 3 {
		t.Errorf("delivered %d, rejected %d, pending %d: want 0, 0, 3", st.Delivered, st.SinkRejected, st.Pending)
	}
	if err := stop(); !errors.Is(err, relay.ErrUndelivered) {
		t.Errorf("Serve: %v, want ErrUndelivered", err)
	}
}
