//go:build idlemem

package relay

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/mockdest"
)

// TestIdleConnectionsRSS builds the relay binary, opens 10,000 client
// connections to it, sends one line on each and leaves them idle, then
// reads the relay process's resident memory. Run it with
//
//	go test -tags idlemem -run IdleConnectionsRSS -v ./internal/relay
//
// (needs ulimit -n above 10,000 for both processes).
func TestIdleConnectionsRSS(t *testing.T) {
	const conns = 10_000
	bins := build(t, "relay")
	d := newTestDest(t)
	cmd, addr, admin := startRelayProcess(t, bins["relay"], d.addr, "--log-level", "warn")
	base := rss(t, cmd.Process.Pid)
	var cs []net.Conn
	defer func() {
		for _, c := range cs {
			c.Close()
		}
	}()
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		fmt.Fprintf(c, "hello from %d\n", i)
		cs = append(cs, c)
	}
	waitFor(t, "every connection and line", func() bool {
		m := metrics(t, admin)
		return strings.Contains(m, fmt.Sprintf("logrelay_connections_open %d\n", conns)) &&
			strings.Contains(m, fmt.Sprintf("logrelay_messages_delivered_total %d\n", conns))
	})
	time.Sleep(3 * time.Second) // let the runtime settle (GC, stack shrinking)
	got := rss(t, cmd.Process.Pid)
	t.Logf("relay RSS: %.1f MiB before, %.1f MiB with %d idle connections (%.1f KiB per connection)",
		float64(base)/(1<<20), float64(got)/(1<<20), conns, float64(got-base)/conns/1024)
	if got > 200<<20 {
		t.Errorf("RSS %.1f MiB, over 200 MiB", float64(got)/(1<<20))
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("relay exit: %v", err)
	}
}

// build builds the named commands of the module (relay, loadgen, ...)
// into a temporary directory and returns their paths by name.
func build(t *testing.T, names ...string) map[string]string {
	t.Helper()
	dir, bins := t.TempDir(), map[string]string{}
	for _, name := range names {
		bins[name] = filepath.Join(dir, name)
		cmd := exec.Command("go", "build", "-o", bins[name], "github.com/logrelay/logrelay/"+name)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", name, err, out)
		}
	}
	return bins
}

// startRelayProcess starts the relay binary on free loopback addresses
// with its sink at dest and the extra flags, waits until it listens, and
// kills it when the test ends (a test that stops it itself first is fine).
func startRelayProcess(t *testing.T, bin, dest string, flags ...string) (cmd *exec.Cmd, addr, admin string) {
	t.Helper()
	addr, admin = freeAddr(t), freeAddr(t)
	cmd = exec.Command(bin, append([]string{"--listen", addr, "--admin", admin, "--sink", "tcp://" + dest}, flags...)...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	waitFor(t, "the relay to listen", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return cmd, addr, admin
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func metrics(t *testing.T, admin string) string {
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// rss returns a process's resident set size in bytes.
func rss(t *testing.T, pid int) int64 { return procStatus(t, pid, "VmRSS") }

// procStatus returns a memory field of /proc/PID/status (VmRSS, VmHWM) in
// bytes.
func procStatus(t *testing.T, pid int, field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		var kb int64
		if _, err := fmt.Sscanf(s.Text(), field+": %d kB", &kb); err == nil {
			return kb << 10
		}
	}
	t.Fatalf("no %s", field)
	return 0
}

// TestBackpressureRSS builds the relay and loadgen binaries and floods the
// relay from 5,000 connections (loadgen, as fast as it can) while its destination (mockdest)
// delays every acknowledgement by 5 ms, so the sink is far slower than the
// clients and --max-pending is reached again and again; then it reads the
// relay's peak resident memory and its held reads. Beyond the pending
// messages (100,000 of 200 bytes: 19 MiB of payload), what the relay holds
// then is what its readers hold: a reader that starts a read it cannot
// hand off keeps a 128 KiB read buffer until reading resumes. Run it with
//
//	go test -tags idlemem -run BackpressureRSS -v ./internal/relay
func TestBackpressureRSS(t *testing.T) {
	const conns, maxPending = 5_000, 100_000
	bins := build(t, "relay", "loadgen")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dest, err := mockdest.New(mockdest.Config{Listen: "127.0.0.1:0", AckDelay: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	destDone := make(chan error, 1)
	go func() { destDone <- dest.Run(ctx) }()
	<-dest.Ready()
	cmd, addr, admin := startRelayProcess(t, bins["relay"], dest.Addr().String(),
		"--log-level", "error", "--max-pending", fmt.Sprint(maxPending))
	base := rss(t, cmd.Process.Pid)
	// loadgen as its own process, as in production: in this test's process
	// it took CPU from the relay's readers and the effect was much smaller.
	lg := exec.Command(bins["loadgen"], "--addr", addr, "--conns", fmt.Sprint(conns), "--duration", "10s",
		"--connect-rate", "5000", "--progress=false")
	loadDone := make(chan error, 1)
	go func() {
		out, err := lg.CombinedOutput()
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, out)
		}
		loadDone <- err
	}()
	var pendingPeak, heldPeak float64
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		for _, l := range strings.Split(metrics(t, admin), "\n") {
			var v float64
			if _, err := fmt.Sscanf(l, "logrelay_pending_messages %g", &v); err == nil {
				pendingPeak = max(pendingPeak, v)
			}
			if _, err := fmt.Sscanf(l, "logrelay_reads_held %g", &v); err == nil {
				heldPeak = max(heldPeak, v)
			}
		}
	}
	if err := <-loadDone; err != nil {
		t.Fatalf("loadgen: %v", err)
	}
	peak := procStatus(t, cmd.Process.Pid, "VmHWM")
	t.Logf("relay RSS %.1f MiB idle; under backpressure from %d connections: peak %.1f MiB, pending peak %.0f of %d, held reads peak %.0f (sampled every 100 ms)",
		float64(base)/(1<<20), conns, float64(peak)/(1<<20), pendingPeak, maxPending, heldPeak)
	if pendingPeak < maxPending*3/4 {
		t.Errorf("pending peaked at %.0f: the limit was never approached, so this measured nothing", pendingPeak)
	}
	if peak > 160<<20 { // measured: 77-93 MiB; 299-303 MiB before readers paused at the limit
		t.Errorf("peak RSS %.1f MiB, over 160 MiB", float64(peak)/(1<<20))
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("relay exit: %v", err)
	}
	cancel()
	if err := <-destDone; err != nil {
		t.Errorf("mockdest: %v", err)
	}
}
