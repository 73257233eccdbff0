package elasticsearch

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/bench/ideal"
	"github.com/logrelay/logrelay/internal/relay"
	"github.com/logrelay/logrelay/internal/wire"
)

// BenchmarkClassifyVL100 reads VictoriaLogs' answer to a 100-document
// request (it ignores filter_path, so every item comes back).
func BenchmarkClassifyVL100(b *testing.B) {
	body := []byte(`{"took":3,"errors":false,"items":[` + strings.TrimSuffix(strings.Repeat(`{"create":{"status":201}},`, 100), ",") + `]}`)
	b.ReportAllocs()
	for b.Loop() {
		v := classify(200, nil, body, nil, nil, 100, time.Time{})
		if !v.allOK {
			b.Fatal(v.reason)
		}
	}
}

// BenchmarkDeliver100 delivers a batch of 100 200-byte JSON lines through
// one worker to an in-process server that answers as Elasticsearch does
// with filter_path; ns/op is per batch, server included.
func BenchmarkDeliver100(b *testing.B) {
	item := `{"create":{"status":201}}`
	answer := []byte(`{"errors":false,"items":[` + strings.TrimSuffix(strings.Repeat(item+",", 100), ",") + `]}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write(answer)
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	s, err := New(Config{URL: u, FilterPath: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	w := s.newWorker(&testHooks{}, &fakeClock{}, slog.New(slog.DiscardHandler), relay.Policy{Concurrency: 1, SendTimeout: 10 * time.Second, RetryBase: time.Second, RetryMax: time.Second})
	for i := range 100 {
		w.msgs = append(w.msgs, ideal.Line(1, uint64(i+1), 1))
		w.recvs = append(w.recvs, 1)
	}
	h := wire.Header{Seq: 1, Count: 100}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := w.deliver(context.Background(), h); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/msg")
}
