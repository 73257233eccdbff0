package mockdest

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

// benchBulkBodies builds benchRing _bulk bodies of benchBatch documents:
// loadgen's 200-byte JSON-object lines with the relay's "@timestamp" added
// first, as the bulk sink sends them, each after the action line action
// ("" = none, an ingest API body). Document j of body f belongs to stream
// j with seq f+1. It returns the bodies, the offsets of their stamps' seq
// fields, and each body's batch header.
func benchBulkBodies(action string) ([][]byte, [][]int, []wire.Header) {
	bodies := make([][]byte, benchRing)
	offs := make([][]int, benchRing)
	hdrs := make([]wire.Header, benchRing)
	now := time.Now().UnixNano()
	for f := range bodies {
		var b []byte
		for j := range benchBatch {
			m := msg(uint32(j), uint64(f+1), now, benchMsgSize)
			b = append(b, action...)
			b = append(b, "{\"@timestamp\":\"2026-12-01T19:30:52.123456789Z\","...)
			b = append(append(b, m[1:]...), '\n')
		}
		bodies[f] = b
		for i := 0; ; {
			k := bytes.Index(b[i:], []byte(wire.StampPrefix))
			if k < 0 {
				break
			}
			i += k
			offs[f] = append(offs[f], i+13)
			i += wire.StampLen
		}
		hdrs[f] = wire.Header{Seq: uint64(f + 1), Count: benchBatch, Reason: wire.ReasonSize, OldestNs: now - 1e6, FlushNs: now}
	}
	return bodies, offs, hdrs
}

func renumberBulk(bodies [][]byte, offs [][]int, hdrs []wire.Header) {
	for g := range bodies {
		for _, o := range offs[g] {
			addDecimal(bodies[g][o:o+16], benchRing)
		}
		hdrs[g].Seq += benchRing
	}
}

// discardWriter is an http.ResponseWriter that keeps nothing.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(s int)           { w.status = s }

// BenchmarkBulkHandler measures bulk mode's receive path in process, without
// the network: one op is one _bulk request of 100 documents (200-byte
// JSON-object lines, 100 in-order streams) read, checked, recorded and
// answered in full.
func BenchmarkBulkHandler(b *testing.B) {
	benchHandler(b, BulkConfig{}, "/logs/_bulk", "{\"create\":{}}\n")
}

// BenchmarkIngestHandler is BenchmarkBulkHandler for the quickwit
// flavour's ingest API: one op is one request of 100 documents to
// /api/v1/logs/ingest with detailed_response=true.
func BenchmarkIngestHandler(b *testing.B) {
	benchHandler(b, BulkConfig{Flavour: FlavourQuickwit}, "/api/v1/logs/ingest?detailed_response=true", "")
}

func benchHandler(b *testing.B, cfg BulkConfig, path, action string) {
	s, err := New(Config{Mode: ModeBulk, Bulk: cfg})
	if err != nil {
		b.Fatal(err)
	}
	bodies, offs, hdrs := benchBulkBodies(action)
	u, _ := url.Parse("http://127.0.0.1" + path)
	rd := bytes.NewReader(nil)
	req := &http.Request{Method: http.MethodPost, URL: u, Header: http.Header{}, Body: io.NopCloser(rd)}
	req.Header.Set("Content-Type", "application/x-ndjson")
	req = req.WithContext(b.Context())
	w := &discardWriter{h: http.Header{}}
	b.SetBytes(int64(len(bodies[0])))
	b.ReportAllocs()
	b.ResetTimer()
	f := 0
	for i := 0; i < b.N; i++ {
		if f == benchRing {
			b.StopTimer()
			renumberBulk(bodies, offs, hdrs)
			f = 0
			b.StartTimer()
		}
		rd.Reset(bodies[f])
		req.ContentLength = int64(len(bodies[f]))
		wire.SetBatchHeaders(req.Header, hdrs[f], benchBatch)
		w.status = 0
		s.serveBulkHTTP(w, req)
		if w.status != 0 && w.status != 200 {
			b.Fatalf("status %d", w.status)
		}
		f++
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)*benchBatch/b.Elapsed().Seconds(), "docs/s")
	if snap := s.Snapshot(); snap.Streams.Missing != 0 || snap.Streams.Duplicates != 0 || snap.Streams.Distinct != uint64(b.N)*benchBatch {
		b.Fatalf("benchmark input not recorded in order: %+v", snap.Streams)
	}
}

// BenchmarkBulkLoopback measures bulk mode end to end: one client over
// loopback POSTs _bulk requests of 100 documents and reads every answer
// (filter_path as Beats sends it). allocs/op counts the client too.
func BenchmarkBulkLoopback(b *testing.B) {
	benchLoopback(b, BulkConfig{}, "/logs/_bulk?filter_path=errors,items.*.status,items.*.error", "{\"create\":{}}\n", `"errors":true`)
}

// BenchmarkIngestLoopback is BenchmarkBulkLoopback for the quickwit
// flavour's ingest API (detailed_response=true).
func BenchmarkIngestLoopback(b *testing.B) {
	benchLoopback(b, BulkConfig{Flavour: FlavourQuickwit}, "/api/v1/logs/ingest?detailed_response=true", "", `"reason"`)
}

// benchLoopback posts benchBulkBodies(action) to path, failing on an
// answer that is not 200 or holds bad.
func benchLoopback(b *testing.B, cfg BulkConfig, path, action, bad string) {
	c := startBulk(b, Config{Bulk: cfg})
	bodies, offs, hdrs := benchBulkBodies(action)
	endpoint := "http://" + c.s.Addr().String() + path
	rd := bytes.NewReader(nil)
	var out bytes.Buffer
	b.SetBytes(int64(len(bodies[0])))
	b.ReportAllocs()
	b.ResetTimer()
	f := 0
	for i := 0; i < b.N; i++ {
		if f == benchRing {
			b.StopTimer()
			renumberBulk(bodies, offs, hdrs)
			f = 0
			b.StartTimer()
		}
		rd.Reset(bodies[f])
		req, _ := http.NewRequest(http.MethodPost, endpoint, rd)
		req.Header.Set("Content-Type", "application/x-ndjson")
		wire.SetBatchHeaders(req.Header, hdrs[f], benchBatch)
		resp, err := c.hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		out.Reset()
		_, _ = out.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || bytes.Contains(out.Bytes(), []byte(bad)) {
			b.Fatalf("status %d: %s", resp.StatusCode, out.Bytes())
		}
		f++
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)*benchBatch/b.Elapsed().Seconds(), "docs/s")
	if snap := c.s.Snapshot(); snap.Streams.Missing != 0 || snap.Streams.Duplicates != 0 {
		b.Fatalf("benchmark input not recorded in order: %+v", snap.Streams)
	}
}
