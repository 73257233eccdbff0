package mockdest_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/logrelay/logrelay/internal/mockdest"
	"github.com/logrelay/logrelay/internal/wire"
)

// Example runs mockdest in-process, sends it one framed batch as the relay
// would, and reads the results from a snapshot.
func Example() {
	s, err := mockdest.New(mockdest.Config{MaxBatch: 100, Expect: 3})
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

	var payload []byte
	now := time.Now().UnixNano()
	for seq := uint64(1); seq <= 3; seq++ {
		payload = append(payload, "hello "...)
		payload = wire.AppendStamp(payload, wire.Stamp{Stream: 0, Seq: seq, SentNs: now})
		payload = append(payload, '\n')
	}
	h := wire.Header{Seq: 1, Count: 3, PayloadLen: uint32(len(payload)), OldestNs: now, FlushNs: now, Reason: wire.ReasonAge}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	_, _ = c.Write(append(wire.AppendHeader(nil, h), payload...))
	var scratch [wire.AckSize]byte
	ack, err := wire.ReadAck(c, &scratch)
	c.Close()
	fmt.Println("ack:", ack.Seq, ack.Status == wire.AckOK, err)

	cancel()
	fmt.Println("serve:", <-done)
	snap := s.Snapshot()
	fmt.Println("batches:", snap.Batches, "age batches of 3:", snap.BatchSizes["age"][3])
	fmt.Println("distinct:", snap.Streams.Distinct, "missing:", s.MissingRanges(0, 5))
	fmt.Println("check:", s.Check())
	// Output:
	// ack: 1 true <nil>
	// serve: <nil>
	// batches: 1 age batches of 3: 1
	// distinct: 3 missing: [{4 5}]
	// check: <nil>
}
