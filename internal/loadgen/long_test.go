//go:build long && !race

// The long, timing-heavy measurements quoted in docs/performance.md. Run them alone:
//
//	go test -tags long -run Long -v -count 1 ./internal/loadgen/
package loadgen

import (
	"bufio"
	"context"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLongDiscardHelper is not a test: started by discardProcess in a
// child process, it serves a discarding listener until stdin closes.
func TestLongDiscardHelper(t *testing.T) {
	if os.Getenv("LOADGEN_DISCARD_HELPER") != "1" {
		t.Skip("helper process only")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString(ln.Addr().String() + "\n")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	_, _ = io.Copy(io.Discard, os.Stdin)
	ln.Close()
}

// discardProcess starts a discarding listener in a child process, so that
// the receiver's CPU and memory are not the generator's.
func discardProcess(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLongDiscardHelper$")
	cmd.Env = append(os.Environ(), "LOADGEN_DISCARD_HELPER=1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(addr)
}

// peakRSS returns this process's peak resident set (VmHWM) in bytes.
func peakRSS(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// TestLongThroughput: one process sends ≥ 2,000,000 messages/s of 200
// bytes over 50 connections into a discarding listener.
func TestLongThroughput(t *testing.T) {
	addr := discardProcess(t)
	g, err := New(Config{Addr: addr, Conns: 50, Size: 200, Duration: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := g.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("unpaced: %.0f msgs/s, %.0f MB/s", rep.AchievedRate, float64(rep.Bytes)/rep.End.Sub(rep.Start).Seconds()/1e6)
	if rep.AchievedRate < 2e6 {
		t.Errorf("achieved %.0f msgs/s want ≥ 2,000,000", rep.AchievedRate)
	}
}

// TestLongPaced2M: a paced 2,000,000 messages/s schedule is held.
func TestLongPaced2M(t *testing.T) {
	addr := discardProcess(t)
	rep := runLong(t, Config{Addr: addr, Conns: 50, Size: 200, Rate: 2e6, Duration: 5 * time.Second})
	if math.Abs(rep.AchievedRate/2e6-1) > 0.01 {
		t.Errorf("achieved %.0f msgs/s want 2,000,000 ±1%%", rep.AchievedRate)
	}
}

// TestLongRate100k: 100,000 messages/s held within ±1% over 10 s.
func TestLongRate100k(t *testing.T) {
	addr := discardProcess(t)
	rep := runLong(t, Config{Addr: addr, Conns: 50, Size: 200, Rate: 100_000, Duration: 10 * time.Second})
	if math.Abs(float64(rep.Sent)/1e6-1) > 0.01 || math.Abs(rep.AchievedRate/1e5-1) > 0.01 {
		t.Errorf("sent %d (%.0f/s) in 10 s want 1,000,000 ±1%%", rep.Sent, rep.AchievedRate)
	}
}

// TestLong10kConns: 10,000 connections at a low rate under 300 MiB RSS.
func TestLong10kConns(t *testing.T) {
	addr := discardProcess(t)
	rep := runLong(t, Config{Addr: addr, Conns: 10_000, Size: 200, Rate: 5000, Duration: 10 * time.Second,
		ConnectRate: 5000})
	rss := peakRSS(t)
	t.Logf("10,000 conns: peak RSS %.1f MiB, connects %d, failures %d", float64(rss)/(1<<20), rep.ConnectAttempts, rep.ConnectFailures)
	if rss > 300<<20 {
		t.Errorf("peak RSS %d MiB want < 300 MiB", rss>>20)
	}
	if rep.Reconnects != 0 || rep.ConnectAttempts-rep.ConnectFailures != 10_000 {
		t.Errorf("connects %d failures %d reconnects %d want 10,000 connections", rep.ConnectAttempts, rep.ConnectFailures, rep.Reconnects)
	}
}

func runLong(t *testing.T, cfg Config) *Report {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := g.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	_ = rep.WriteText(&b)
	t.Log("\n" + b.String())
	return rep
}
