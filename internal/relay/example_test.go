package relay_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/logrelay/logrelay/internal/relay"
	"github.com/logrelay/logrelay/internal/wire"
)

// A destination acknowledges each frame; the relay flushes what it holds
// when its context is cancelled.
func ExampleRelay_Serve() {
	dest, _ := net.Listen("tcp", "127.0.0.1:0")
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := dest.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := wire.NewReader(c, 0)
		for {
			h, payload, err := r.ReadFrame()
			if err != nil {
				return
			}
			fmt.Printf("batch %d: %d messages, reason %v\n", h.Seq, h.Count, h.Reason)
			wire.ForEachMessage(payload, func(m []byte) { fmt.Printf("  %s\n", m) })
			c.Write(wire.AppendAck(nil, wire.Ack{Seq: h.Seq, Status: wire.AckOK}))
		}
	}()

	cfg := relay.DefaultConfig()
	cfg.Sink = relay.NewTCPSink(dest.Addr().String())
	cfg.FlushInterval = time.Hour
	r, err := relay.New(cfg)
	if err != nil {
		panic(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error)
	go func() { served <- r.Serve(ctx, ln) }()
	<-r.Ready()

	c, _ := net.Dial("tcp", r.Addr().String())
	fmt.Fprint(c, "first\r\nsecond\n\nthird\n")
	c.Close()
	for r.Stats().Received < 3 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	fmt.Println("serve:", <-served)
	dest.Close()
	<-done
	// Output:
	// batch 1: 3 messages, reason shutdown
	//   first
	//   second
	//   third
	// serve: <nil>
}
