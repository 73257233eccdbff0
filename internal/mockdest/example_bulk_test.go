package mockdest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/logrelay/logrelay/internal/mockdest"
	"github.com/logrelay/logrelay/internal/wire"
)

// Example_bulk runs mockdest's _bulk receiver in-process in the
// VictoriaLogs flavour, posts one batch of three documents as the relay's
// bulk sink would, and reads the answer and the recorded results.
func Example_bulk() {
	s, err := mockdest.New(mockdest.Config{Mode: mockdest.ModeBulk, Expect: 3,
		Bulk: mockdest.BulkConfig{Flavour: mockdest.FlavourVictoriaLogs}})
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

	var body []byte
	now := time.Now().UnixNano()
	for seq := uint64(1); seq <= 3; seq++ {
		line := "hello " + string(wire.AppendStamp(nil, wire.Stamp{Stream: 0, Seq: seq, SentNs: now}))
		doc, _ := json.Marshal(map[string]string{"@timestamp": time.Unix(0, now).UTC().Format(time.RFC3339Nano), "message": line})
		body = append(append(append(body, "{\"create\":{}}\n"...), doc...), '\n')
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.Addr().String()+"/insert/elasticsearch/_bulk", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-ndjson")
	wire.SetBatchHeaders(req.Header, wire.Header{Seq: 1, OldestNs: now, FlushNs: now, Reason: wire.ReasonAge}, 3)
	tr := &http.Transport{}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		panic(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tr.CloseIdleConnections()
	var r wire.BulkResponse
	_ = json.Unmarshal(answer, &r)
	fmt.Println("status:", resp.StatusCode, "errors:", r.Errors, "items:", len(r.Items), r.Items[0].Action, r.Items[0].Result.Status)

	cancel()
	fmt.Println("serve:", <-done)
	snap := s.Snapshot()
	fmt.Println("batches:", snap.Batches, "age batches of 3:", snap.BatchSizes["age"][3])
	fmt.Println("stored:", snap.Bulk.DocsStored, "distinct:", snap.Streams.Distinct)
	fmt.Println("check:", s.Check())
	// Output:
	// status: 200 errors: false items: 3 create 201
	// serve: <nil>
	// batches: 1 age batches of 3: 1
	// stored: 3 distinct: 3
	// check: <nil>
}
