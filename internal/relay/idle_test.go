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
	bin := filepath.Join(t.TempDir(), "relay")
	build := exec.Command("go", "build", "-o", bin, "github.com/logrelay/logrelay/relay")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	d := newTestDest(t)
	addr, admin := freeAddr(t), freeAddr(t)
	cmd := exec.Command(bin, "--listen", addr, "--admin", admin, "--sink", "tcp://"+d.addr, "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitFor(t, "the relay to listen", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
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
	dir := t.TempDir()
	bin, lgBin := filepath.Join(dir, "relay"), filepath.Join(dir, "loadgen")
	for _, b := range [][2]string{{bin, "relay"}, {lgBin, "loadgen"}} {
		build := exec.Command("go", "build", "-o", b[0], "github.com/logrelay/logrelay/"+b[1])
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b[1], err, out)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dest, err := mockdest.New(mockdest.Config{Listen: "127.0.0.1:0", AckDelay: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	destDone := make(chan error, 1)
	go func() { destDone <- dest.Run(ctx) }()
	<-dest.Ready()
	addr, admin := freeAddr(t), freeAddr(t)
	cmd := exec.Command(bin, "--listen", addr, "--admin", admin, "--sink", "tcp://"+dest.Addr().String(),
		"--log-level", "error", "--max-pending", fmt.Sprint(maxPending))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitFor(t, "the relay to listen", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	base := rss(t, cmd.Process.Pid)
	// loadgen as its own process, as in production: in this test's process
	// it took CPU from the relay's readers and the effect was much smaller.
	lg := exec.Command(lgBin, "--addr", addr, "--conns", fmt.Sprint(conns), "--duration", "10s",
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
	if peak > 160<<20 { // measured: 77-83 MiB; 299-303 MiB before readers paused at the limit
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
