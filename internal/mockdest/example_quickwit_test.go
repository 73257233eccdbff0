package mockdest_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/logrelay/logrelay/internal/mockdest"
	"github.com/logrelay/logrelay/internal/wire"
)

// Example_quickwitIngest runs the quickwit flavour in-process and posts one
// batch to its ingest API as a Quickwit sink would: two documents and a
// line that is not JSON, with detailed_response=true. The answer is
// Quickwit's, byte for byte; the rejected line is not stored.
func Example_quickwitIngest() {
	s, err := mockdest.New(mockdest.Config{Mode: mockdest.ModeBulk, Bulk: mockdest.BulkConfig{Flavour: mockdest.FlavourQuickwit}})
	if err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	<-s.Ready()

	now := time.Now().UnixNano()
	stamp := func(seq uint64) string {
		return string(wire.AppendStamp(nil, wire.Stamp{Stream: 0, Seq: seq, SentNs: now}))
	}
	body := []byte(`{"message":"hello ` + stamp(1) + "\"}\nnot json\n" + `{"message":"hello ` + stamp(2) + "\"}\n")
	url := "http://" + s.Addr().String() + wire.QuickwitIngestPath("logs") + "?commit=auto&detailed_response=true"
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	wire.SetBatchHeaders(req.Header, wire.Header{Seq: 1, OldestNs: now, FlushNs: now, Reason: wire.ReasonSize}, 3)
	tr := &http.Transport{}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		panic(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tr.CloseIdleConnections()
	fmt.Println(resp.StatusCode)
	fmt.Println(string(answer))

	cancel()
	fmt.Println("serve:", <-done)
	snap := s.Snapshot()
	fmt.Println("distinct:", snap.Streams.Distinct, "ingested:", snap.Bulk.QuickwitIngest.DocsIngested, "rejected:", snap.Bulk.QuickwitIngest.RejectedJSON)
	// Output:
	// 200
	// {
	//   "num_docs_for_processing": 3,
	//   "num_ingested_docs": 2,
	//   "num_rejected_docs": 1,
	//   "parse_failures": [
	//     {
	//       "message": "failed to parse JSON document",
	//       "document": "not json",
	//       "reason": "invalid_json"
	//     }
	//   ]
	// }
	// serve: <nil>
	// distinct: 2 ingested: 2 rejected: 1
}
