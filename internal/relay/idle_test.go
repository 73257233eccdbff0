//go:build idlemem

package relay

import (
	"bufio"
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
func rss(t *testing.T, pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		var kb int64
		if _, err := fmt.Sscanf(s.Text(), "VmRSS: %d kB", &kb); err == nil {
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}
