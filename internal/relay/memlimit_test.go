//go:build idlemem

package relay

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/mockdest"
)

// TestPeakRSSvsLimit runs the relay binary with --max-pending-bytes 128 MiB
// against a destination that acknowledges every batch 20 ms after it
// arrived, under loads that each reach the limit or hold memory outside
// it, and checks its peak resident memory against the limit:
//
//   - small: 1,000 loadgen connections of 200-byte lines, unpaced;
//   - 32k: 100 loadgen connections of 32 KiB lines, unpaced;
//   - partial: 2,000 connections each holding a 64 KiB unfinished line;
//   - partial-8m: 40 connections each holding an 8 MiB unfinished line,
//     at --max-line-bytes 8 MiB.
//
// Run it with
//
//	go test -tags idlemem -run PeakRSSvsLimit -v ./internal/relay
func TestPeakRSSvsLimit(t *testing.T) {
	const limit = 128 << 20
	bins := build(t, "relay", "loadgen")
	for _, tc := range []struct {
		name  string
		conns int
		size  int   // loadgen --size; 0: partial-line hogs
		bound int64 // peak RSS allowed
		hog   int   // partial-line hogs: bytes each holds
		flags []string
	}{
		// The relay's soft memory limit (SoftMemoryLimit: 256 MiB here)
		// with a quarter more for what the runtime does not count.
		{"small", 1000, 200, (limit + limit/2 + 64<<20) * 5 / 4, 0, nil},
		{"32k", 100, 32 << 10, (limit + limit/2 + 64<<20) * 5 / 4, 0, nil},
		// --max-carry-bytes (64 MiB) of partial lines, twice for the
		// garbage collector's headroom, and 96 MiB for the connections
		// and the chunks of their first reads (measured: 144-166 MiB).
		{"partial", 2000, 0, 2*64<<20 + 96<<20, 64 << 10, nil},
		// 8 MiB partial lines at --max-line-bytes 8 MiB: the same budget.
		{"partial-8m", 40, 0, 2*64<<20 + 96<<20, 8 << 20, []string{"--max-line-bytes", "8388608"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			dest, err := mockdest.New(mockdest.Config{Listen: "127.0.0.1:0", AckDelay: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			destDone := make(chan error, 1)
			go func() { destDone <- dest.Run(ctx) }()
			<-dest.Ready()
			cmd, addr, admin := startRelayProcess(t, bins["relay"], dest.Addr().String(),
				append([]string{"--log-level", "error", "--max-pending-bytes", fmt.Sprint(limit)}, tc.flags...)...)
			base := rss(t, cmd.Process.Pid)
			var pendingPeak float64
			sample := func(d time.Duration) {
				for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
					for _, l := range strings.Split(metrics(t, admin), "\n") {
						var v float64
						if _, err := fmt.Sscanf(l, "logrelay_pending_bytes %g", &v); err == nil {
							pendingPeak = max(pendingPeak, v)
						}
					}
				}
			}
			if tc.size > 0 {
				lg := exec.Command(bins["loadgen"], "--addr", addr, "--conns", fmt.Sprint(tc.conns), "--duration", "8s",
					"--size", fmt.Sprint(tc.size), "--connect-rate", "5000", "--progress=false")
				loadDone := make(chan error, 1)
				go func() {
					out, err := lg.CombinedOutput()
					if err != nil {
						err = fmt.Errorf("%w\n%s", err, out)
					}
					loadDone <- err
				}()
				sample(8 * time.Second)
				if err := <-loadDone; err != nil {
					t.Fatalf("loadgen: %v", err)
				}
			} else {
				line := []byte(strings.Repeat("p", tc.hog))
				var cs []net.Conn
				defer func() {
					for _, c := range cs {
						c.Close()
					}
				}()
				for i := range tc.conns {
					c, err := net.Dial("tcp", addr)
					if err != nil {
						t.Fatalf("connection %d: %v", i, err)
					}
					cs = append(cs, c)
					if _, err := c.Write(line); err != nil {
						t.Fatal(err)
					}
				}
				sample(4 * time.Second)
			}
			peak := procStatus(t, cmd.Process.Pid, "VmHWM")
			t.Logf("%s: %d connections; --max-pending-bytes %d MiB; pending bytes peak %.1f MiB; relay RSS %.1f MiB idle, peak %.1f MiB (%.2f× the limit)",
				tc.name, tc.conns, limit>>20, pendingPeak/(1<<20), float64(base)/(1<<20), float64(peak)/(1<<20), float64(peak)/limit)
			if peak > tc.bound {
				t.Errorf("peak RSS %.1f MiB, over %.1f MiB", float64(peak)/(1<<20), float64(tc.bound)/(1<<20))
			}
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
			cancel()
			<-destDone
		})
	}
}
