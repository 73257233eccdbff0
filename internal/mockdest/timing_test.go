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
