//go:build long

package mockdest

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

// TestLongFramesHelper is not a test: started by TestLongAbsorb in a child
// process, it sends MOCKDEST_SEND_FRAMES frames of 100 stamped 200-byte
// messages to MOCKDEST_SEND_ADDR over one connection and reads every
// acknowledgement.
func TestLongFramesHelper(t *testing.T) {
	addr := os.Getenv("MOCKDEST_SEND_ADDR")
	if addr == "" {
		t.Skip("helper process only")
	}
	n, err := strconv.Atoi(os.Getenv("MOCKDEST_SEND_FRAMES"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	acked := make(chan error, 1)
	go func() {
		_, err := io.CopyN(io.Discard, c, int64(n)*wire.AckSize)
		acked <- err
	}()
	frames, offs := benchFrames()
	for i, f := 0, 0; i < n; i, f = i+1, (f+1)%benchRing {
		if i >= benchRing {
			renumber(frames[f], offs[f], benchRing)
		}
		if _, err := c.Write(frames[f]); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-acked; err != nil {
		t.Fatal(err)
	}
}

// TestLongAbsorb measures mockdest with the process to itself: a child
// process sends 20 M messages (frames of 100 × 200 bytes, acknowledged)
// over one connection, and mockdest records them all. It reports the rate
// and mockdest's own CPU time per message, the figure to set against the
// relay's (the bench's throughput table gives the relay's).
func TestLongAbsorb(t *testing.T) {
	const frames = 200_000
	s := startServer(t, Config{})
	var ru0, ru1 syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru0); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLongFramesHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), "MOCKDEST_SEND_ADDR="+s.Addr().String(), fmt.Sprintf("MOCKDEST_SEND_FRAMES=%d", frames))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sender: %v\n%s", err, out)
	}
	el := time.Since(start)
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru1); err != nil {
		t.Fatal(err)
	}
	snap := s.Snapshot()
	msgs := float64(frames * benchBatch)
	if snap.Messages != uint64(msgs) || snap.Streams.Missing != 0 || snap.DuplicateBatches != 0 {
		t.Fatalf("got %d messages, %d missing, %d duplicate batches; want %v, 0, 0",
			snap.Messages, snap.Streams.Missing, snap.DuplicateBatches, msgs)
	}
	cpu := time.Duration(syscall.TimevalToNsec(ru1.Utime) - syscall.TimevalToNsec(ru0.Utime) +
		syscall.TimevalToNsec(ru1.Stime) - syscall.TimevalToNsec(ru0.Stime))
	t.Logf("absorbed %.2f M msgs/s (%v for %.0f M messages, child start-up included); mockdest CPU %.3f µs per message (%.2f cores)",
		msgs/el.Seconds()/1e6, el.Round(time.Millisecond), msgs/1e6, cpu.Seconds()/msgs*1e6, cpu.Seconds()/el.Seconds())
}
