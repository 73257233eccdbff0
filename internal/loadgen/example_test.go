package loadgen_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/logrelay/logrelay/internal/loadgen"
)

// Send 1,000 stamped JSON lines at 5,000 messages/s over 4 connections and
// check what the report says was sent.
func ExampleGenerator_Run() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c); c.Close() }()
		}
	}()

	g, err := loadgen.New(loadgen.Config{Addr: ln.Addr().String(), Conns: 4, Rate: 5000, Count: 1000,
		Duration: time.Minute})
	if err != nil {
		panic(err)
	}
	rep, err := g.Run(context.Background())
	if err != nil {
		panic(err)
	}
	fmt.Println("sent:", rep.Sent, "failed:", rep.WriteFailed, "at risk:", rep.AtRisk)
	for _, s := range rep.Streams {
		fmt.Printf("stream %d: seqs 1..%d\n", s.ID, s.LastSeq)
	}
	// Output:
	// sent: 1000 failed: 0 at risk: 0
	// stream 0: seqs 1..250
	// stream 1: seqs 1..250
	// stream 2: seqs 1..250
	// stream 3: seqs 1..250
}

// A step profile: 1,000/s, then 5,000/s, then 2,000/s, each for 10 s.
func ExampleStepPacer() {
	p := loadgen.NewStepPacer([]float64{1000, 5000, 2000}, 10*time.Second)
	for _, n := range []uint64{0, 9_999, 10_000, 60_000} {
		d, _ := p.Due(n)
		fmt.Printf("message %d is due at %v\n", n, d)
	}
	// Output:
	// message 0 is due at 0s
	// message 9999 is due at 9.999s
	// message 10000 is due at 10s
	// message 60000 is due at 20s
}
