package ideal

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/bench/inproc"
	"github.com/logrelay/logrelay/internal/mockdest"
	"github.com/logrelay/logrelay/internal/wire"
)

func TestLines(t *testing.T) {
	t.Parallel()
	ls := Lines(10, 3)
	if len(ls) != 3 {
		t.Fatalf("got %d buffers want 3", len(ls))
	}
	total := 0
	for c, buf := range ls {
		for i, l := range bytes.Split(bytes.TrimSuffix(buf, []byte{'\n'}), []byte{'\n'}) {
			total++
			if len(l) != LineSize {
				t.Errorf("line %q: %d bytes want %d", l, len(l), LineSize)
			}
			st, ok := wire.ParseStamp(l)
			if !ok || st.Stream != uint32(c) || st.Seq != uint64(i+1) {
				t.Errorf("buffer %d line %d: stamp %+v %v want stream %d seq %d", c, i, st, ok, c, i+1)
			}
		}
	}
	if total != 10 {
		t.Errorf("got %d lines want 10", total)
	}
}

func TestBodies(t *testing.T) {
	t.Parallel()
	bs := Bodies(Lines(250, 4), 100, wire.BulkFormat{})
	var docs []int
	for _, b := range bs {
		docs = append(docs, bytes.Count(b, []byte{'\n'})/2)
		if !bytes.HasPrefix(b, []byte(`{"create":`)) || !bytes.Contains(b, []byte(`"@timestamp":`)) {
			t.Errorf("body starts %.80q: want a create action and documents with @timestamp", b)
		}
	}
	if len(docs) != 3 || docs[0] != 100 || docs[1] != 100 || docs[2] != 50 {
		t.Errorf("documents per body %v want [100 100 50]", docs)
	}
}

// TestBodiesStep: step 0 gives every document of a body the body's time;
// a step gives each document its own.
func TestBodiesStep(t *testing.T) {
	t.Parallel()
	times := func(b []byte) map[string]bool {
		m := map[string]bool{}
		for _, l := range bytes.Split(b, []byte{'\n'}) {
			if i := bytes.Index(l, []byte(`"@timestamp":"`)); i >= 0 {
				m[string(l[i:i+40])] = true
			}
		}
		return m
	}
	lines := Lines(200, 2)
	shared := BodiesStep(lines, 100, wire.BulkFormat{}, 0)
	if len(shared) != 2 || len(times(shared[0])) != 1 || len(times(shared[1])) != 1 {
		t.Errorf("step 0: %d bodies with %d and %d distinct times, want 2 bodies of 1", len(shared), len(times(shared[0])), len(times(shared[1])))
	}
	if each := Bodies(lines, 100, wire.BulkFormat{}); len(times(each[0])) != 100 {
		t.Errorf("1 µs apart: %d distinct times in a body of 100", len(times(each[0])))
	}
}

// startBulk runs a mockdest _bulk receiver of flavour with bc's failures.
func startBulk(t *testing.T, bc mockdest.BulkConfig) (*mockdest.Server, string) {
	t.Helper()
	mc := mockdest.DefaultConfig()
	mc.Mode, mc.Bulk = mockdest.ModeBulk, bc
	srv, err := mockdest.New(mc)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	run, err := inproc.Serve(context.Background(), srv, ln)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run.Stop(context.Background()) })
	return srv, ln.Addr().String()
}

// TestPost: every request is answered and stored once, the documents
// counted, each request's latency recorded, concurrency honoured.
func TestPost(t *testing.T) {
	t.Parallel()
	srv, addr := startBulk(t, mockdest.BulkConfig{Flavour: mockdest.FlavourVictoriaLogs})
	bodies := Bodies(Lines(1000, 4), 100, wire.BulkFormat{})
	res, err := Post(context.Background(), Config{Endpoint: "http://" + addr + "/insert/elasticsearch/_bulk?_msg_field=stamp",
		Bodies: bodies, Concurrency: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 10 || res.Docs != 1000 || res.Latency.TotalCount() != 10 || res.Rate() <= 0 || res.Bytes < 1000*LineSize {
		t.Errorf("got %d requests, %d docs, %d latencies, %.0f docs/s, %d bytes; want 10, 1000, 10, > 0, ≥ %d",
			res.Requests, res.Docs, res.Latency.TotalCount(), res.Rate(), res.Bytes, 1000*LineSize)
	}
	snap := srv.Snapshot()
	if snap.Streams.Distinct != 1000 || snap.Streams.Duplicates != 0 || snap.Bulk.Requests != 10 {
		t.Errorf("engine holds %d distinct (%d duplicates) from %d requests; want 1000, 0, 10", snap.Streams.Distinct, snap.Streams.Duplicates, snap.Bulk.Requests)
	}

	if snap.Bulk.NoBatchHeaders != 10 {
		t.Errorf("without BatchHeaders: %d requests without batch headers want 10", snap.Bulk.NoBatchHeaders)
	}

	// Cycling: more requests than bodies resend them.
	res, err = Post(context.Background(), Config{Endpoint: "http://" + addr + "/_bulk", Bodies: bodies[:2], Requests: 5})
	if err != nil || res.Docs != 500 {
		t.Errorf("cycling: %d docs, %v want 500, nil", res.Docs, err)
	}

	// Batch headers and a gap: mockdest joins each request into its own
	// size batch; the gap slows the senders down.
	srv2, addr2 := startBulk(t, mockdest.BulkConfig{})
	res, err = Post(context.Background(), Config{Endpoint: "http://" + addr2 + "/logs/_bulk", Bodies: bodies[:4],
		BatchHeaders: true, Gap: 20 * time.Millisecond})
	if err != nil || res.Elapsed < 60*time.Millisecond {
		t.Errorf("gap: %v, elapsed %v want ≥ 60 ms for 4 requests", err, res.Elapsed)
	}
	snap = srv2.Snapshot()
	if snap.Bulk.NoBatchHeaders != 0 || snap.Bulk.BadBatchHeaders != 0 || snap.BatchSizes["size"][100] != 4 {
		t.Errorf("batch headers: %d without, %d bad, size batches of 100: %d; want 0, 0, 4",
			snap.Bulk.NoBatchHeaders, snap.Bulk.BadBatchHeaders, snap.BatchSizes["size"][100])
	}
}

// TestPostEngineError: an error answer stops the client with ErrEngine
// and the answer's text.
func TestPostEngineError(t *testing.T) {
	t.Parallel()
	_, addr := startBulk(t, mockdest.BulkConfig{ServerErrorRate: 1})
	_, err := Post(context.Background(), Config{Endpoint: "http://" + addr + "/logs/_bulk",
		Bodies: Bodies(Lines(300, 1), 100, wire.BulkFormat{}), Concurrency: 2})
	if !errors.Is(err, ErrEngine) || !strings.Contains(err.Error(), "HTTP 500") {
		t.Errorf("got %v want ErrEngine with HTTP 500", err)
	}
	if _, err := Post(context.Background(), Config{Endpoint: "http://" + addr + "/logs/_bulk"}); err == nil {
		t.Error("no bodies: nil error")
	}
}

// TestFeed: every buffer arrives whole on its own connection.
func TestFeed(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan int, 4)
	go func() {
		for range 3 {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var b bytes.Buffer
				b.ReadFrom(c)
				got <- bytes.Count(b.Bytes(), []byte{'\n'})
			}()
		}
	}()
	if err := Feed(context.Background(), ln.Addr().String(), Lines(30, 3)); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		select {
		case n := <-got:
			if n != 10 {
				t.Errorf("a connection carried %d lines want 10", n)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("timeout")
		}
	}
}
