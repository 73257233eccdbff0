//go:build timing && !race

// Timing of the read-bandwidth cap, with tolerances for a machine that is
// not also running the race detector. CI runs them alone:
//
//	go test -tags timing -count 1 -run 'Timing' ./internal/mockdest/
package mockdest

import (
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

// TestReadBandwidthTiming: frames sent at once to a server capped at
// 200 kB/s are read at that rate: after the first bucketful (50 ms of
// bandwidth), within −10% and +20% of the cap's time.
func TestReadBandwidthTiming(t *testing.T) {
	t.Parallel()
	const bps = 200_000
	s := startServer(t, Config{ReadBytesPerSec: bps})
	c := dial(t, s)
	var all []byte
	for i := range 80 {
		all = append(all, frame(wire.Header{Seq: uint64(i + 1)}, seqMsgs(0, uint64(i*10+1), uint64(i*10+10))...)...)
	}
	start := time.Now()
	write(t, c, all)
	readAcks(t, c, 80)
	el := time.Since(start)
	want := time.Duration(float64(len(all)-bps/20) / bps * float64(time.Second))
	if el < want*9/10 || el > want*12/10 {
		t.Errorf("%d bytes at %d B/s read in %v, want %v (−10%%, +20%%)", len(all), bps, el, want)
	}
}

// TestAckDelayTiming: every acknowledgement arrives its delay (plus up to
// the jitter) after its frame, so frames written together are acknowledged
// together.
func TestAckDelayTiming(t *testing.T) {
	t.Parallel()
	const delay, jitter, n = 80 * time.Millisecond, 20 * time.Millisecond, 30
	s := startServer(t, Config{AckDelay: delay, AckJitter: jitter, Seed: 5})
	c := dial(t, s)
	var all []byte
	for i := range n {
		all = append(all, frame(wire.Header{Seq: uint64(i + 1)}, seqMsgs(0, uint64(i+1), uint64(i+1))...)...)
	}
	start := time.Now()
	write(t, c, all)
	readAcks(t, c, 1)
	first := time.Since(start)
	readAcks(t, c, n-1)
	last := time.Since(start)
	if first < delay || last > delay+jitter+30*time.Millisecond {
		t.Errorf("acks of %d frames written at once arrived after %v to %v, want within [%v, %v]",
			n, first, last, delay, delay+jitter+30*time.Millisecond)
	}
}
