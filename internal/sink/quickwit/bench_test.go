package quickwit

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/logrelay/logrelay/internal/relay"
	"github.com/logrelay/logrelay/internal/sink/sinktest"
	"github.com/logrelay/logrelay/internal/wire"
)

// BenchmarkDeliver100 delivers a batch of 100 200-byte JSON lines through
// one worker to an in-process server answering as Quickwit does with
// detailed_response=true; ns/op is per batch, server included.
func BenchmarkDeliver100(b *testing.B) {
	answer := []byte("{\n  \"num_docs_for_processing\": 100,\n  \"num_ingested_docs\": 100,\n  \"num_rejected_docs\": 0,\n  \"parse_failures\": []\n}")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write(answer)
	}))
	defer srv.Close()
	s := newSink(b, strings.TrimPrefix(srv.URL, "http://"), nil)
	p := relay.Policy{Concurrency: 1, SendTimeout: 10e9, RetryBase: 1e9, RetryMax: 1e9}
	w := s.NewWorker(s.newEngine(), sinktest.Hooks{}, sinktest.Clock{}, nil, &p)
	sinktest.BenchDeliver100(b, func(ctx context.Context, bh wire.Header, msgs [][]byte, recvs []int64) error {
		_, err := w.Deliver(ctx, bh, msgs, recvs)
		return err
	})
}
