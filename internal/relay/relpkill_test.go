package relay

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/loadgen"
	"github.com/logrelay/logrelay/internal/mockdest"
)

// relayProc is a relay binary run by a test, stopped by its PID.
type relayProc struct {
	cmd *exec.Cmd
	out strings.Builder
	mu  sync.Mutex
}

func (p *relayProc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

// buildRelay builds the relay command into dir.
func buildRelay(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "relay")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/logrelay/logrelay/relay").CombinedOutput()
	if err != nil {
		t.Fatalf("build relay: %v\n%s", err, out)
	}
	return bin
}

// startRelayProc runs the relay binary with RELP on relpAddr, delivering
// to sink, and waits until the RELP port accepts connections.
func startRelayProc(t *testing.T, bin, relpAddr, sink string) *relayProc {
	t.Helper()
	p := &relayProc{}
	p.cmd = exec.Command(bin, "--listen", "127.0.0.1:0", "--admin", "", "--relp-listen", relpAddr,
		"--sink", "tcp://"+sink, "--flush-interval", "100ms", "--log-level", "warn")
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start relay: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", relpAddr, time.Second)
		if err == nil {
			c.Close() // a session that never opens: the relay drops it
			return p
		}
		if time.Now().After(deadline) {
			p.kill()
			t.Fatalf("relay not listening on %s: %v\n%s", relpAddr, err, p.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *relayProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// kill sends SIGKILL and reaps the process.
func (p *relayProc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
}

// stop sends SIGTERM and waits (bounded) for the process to exit.
func (p *relayProc) stop(t *testing.T) {
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-done
		t.Errorf("relay did not stop on SIGTERM")
	}
}

// TestRsyslogRELPSurvivesRelayRestarts: rsyslog (imfile in, omrelp out)
// → relay binary (RELP) → mockdest. The relay is stopped in mid-stream,
// while it holds messages it has not delivered, and restarted on the same
// port: SIGKILLed once, SIGKILLed twice, SIGTERMed. rsyslog resends what
// the stopped relay never answered. Every message arrives: zero missing;
// duplicates are counted, at most rsyslog's window per stop.
func TestRsyslogRELPSurvivesRelayRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("runs rsyslogd and the relay binary")
	}
	if _, err := exec.LookPath("rsyslogd"); err != nil {
		t.Skip("rsyslogd not installed (scripts/install-rsyslog.sh)")
	}
	bin := buildRelay(t, t.TempDir())
	for _, tc := range []struct {
		name  string
		stops []syscall.Signal
	}{
		{"sigkill", []syscall.Signal{syscall.SIGKILL}},
		{"sigkill-twice", []syscall.Signal{syscall.SIGKILL, syscall.SIGKILL}},
		{"sigterm", []syscall.Signal{syscall.SIGTERM}},
	} {
		t.Run(tc.name, func(t *testing.T) { rsyslogRestarts(t, bin, tc.stops) })
	}
}

func rsyslogRestarts(t *testing.T, bin string, stops []syscall.Signal) {
	md, err := mockdest.New(mockdest.Config{Listen: "127.0.0.1:0", Mode: mockdest.ModeFrames,
		AckDelay: 20 * time.Millisecond, FrameTimeout: mockdest.DefaultFrameTimeout, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	mdDone := make(chan error, 1)
	go func() { mdDone <- md.Serve(ctx, mln) }()
	defer func() { cancel(); <-mdDone }()
	<-md.Ready()

	// A free port for the RELP listener, reused by the restarted relay.
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	relpAddr := pl.Addr().String()
	pl.Close()
	relay := startRelayProc(t, bin, relpAddr, mln.Addr().String())
	defer func() {
		if t.Failed() {
			t.Logf("relay output:\n%s", relay.output())
		}
	}()

	rs := startRsyslog(t, relpAddr)
	const total, chunk = 30_000, 1_000
	distinct := func() uint64 { return md.Snapshot().Streams.Distinct }
	sent := 0
	write := func(upTo int) {
		for sent < upTo {
			rs.appendLines(t, stampedLines(sent+1, chunk))
			sent += chunk
			time.Sleep(5 * time.Millisecond)
		}
	}
	var recoveries []string
	for i, sig := range stops {
		write(total * (i + 1) / (len(stops) + 1))
		// Stop while messages are flowing: some are batched or awaiting
		// the destination's (delayed) acknowledgement, so unanswered.
		at := uint64(sent) * 2 / 3
		waitFor(t, "messages at mockdest", func() bool { return distinct() > at })
		before := distinct()
		stopped := time.Now()
		if sig == syscall.SIGKILL {
			relay.kill()
		} else {
			relay.stop(t)
		}
		relay = startRelayProc(t, bin, relpAddr, mln.Addr().String())
		waitFor(t, "recovery", func() bool { return distinct() >= uint64(sent) })
		recoveries = append(recoveries, fmt.Sprintf("%v with %d of %d at mockdest, all %d there %.1f s later",
			sig, before, sent, sent, time.Since(stopped).Seconds()))
	}
	write(total)
	deadline := time.Now().Add(60 * time.Second)
	for distinct() < total && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	relay.stop(t)
	snap := md.Snapshot()
	missing := md.MissingRanges(1, total)
	if snap.Streams.Distinct != total || len(missing) != 0 {
		t.Fatalf("mockdest has %d distinct of %d, missing %v (rsyslog:\n%s)", snap.Streams.Distinct, total,
			missing, rs.output())
	}
	// What a stopped relay held unanswered is at most rsyslog's window
	// (1024): only those are resent.
	if max := uint64(1024 * len(stops)); snap.Streams.Duplicates > max {
		t.Errorf("%d duplicates: more than rsyslog's window of 1024 per stop", snap.Streams.Duplicates)
	}
	t.Logf("zero missing, %d duplicates; %s", snap.Streams.Duplicates, strings.Join(recoveries, "; "))
}

// TestLoadgenRELPChaos: loadgen --relp with hundreds of chaos disconnects
// (graceful and abortive) through the relay to mockdest: every message
// acked, none unacked, zero missing at mockdest; duplicates only from
// resends of unanswered messages.
func TestLoadgenRELPChaos(t *testing.T) {
	t.Parallel()
	md, err := mockdest.New(mockdest.Config{Listen: "127.0.0.1:0", Mode: mockdest.ModeFrames,
		FrameTimeout: mockdest.DefaultFrameTimeout, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	mdDone := make(chan error, 1)
	go func() { mdDone <- md.Serve(ctx, mln) }()
	defer func() { cancel(); <-mdDone }()
	<-md.Ready()

	cfg := testConfig(mln.Addr().String())
	cfg.FlushInterval = 20 * time.Millisecond
	cfg.RELPWindow = 256
	rr := startRELPRelay(t, cfg)
	const count = 40_000
	g, err := loadgen.New(loadgen.Config{Addr: rr.RELPAddr().String(), Conns: 20, Count: count, Rate: 20_000,
		RELP: true, RELPWindow: 128, ChaosEvery: 5 * time.Millisecond, ChaosAbortive: 0.5,
		ReconnectBase: time.Millisecond, ReconnectMax: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer rcancel()
	rep, err := g.Run(rctx)
	if err != nil {
		t.Fatalf("loadgen: %v", err)
	}
	chaos := rep.Disconnects[loadgen.CauseChaosGraceful] + rep.Disconnects[loadgen.CauseChaosAbortive]
	if chaos < 100 || rep.Disconnects[loadgen.CauseChaosAbortive] == 0 {
		t.Fatalf("only %d chaos disconnects (%v): the test did not stress reconnects", chaos, rep.Disconnects)
	}
	if rep.RELP.Acked != count || rep.RELP.Unacked != 0 || rep.AtRisk != 0 {
		t.Fatalf("acked %d unacked %d at risk %d, want all %d acked", rep.RELP.Acked, rep.RELP.Unacked, rep.AtRisk, count)
	}
	snap := md.Snapshot()
	for _, s := range rep.Streams {
		if m := md.MissingRanges(s.ID, s.LastSeq); len(m) != 0 {
			t.Fatalf("stream %d: missing %v", s.ID, m)
		}
	}
	if snap.Streams.Distinct != count || snap.Streams.Duplicates > rep.RELP.Resent {
		t.Fatalf("distinct %d (want %d), duplicates %d > resent %d", snap.Streams.Distinct, count,
			snap.Streams.Duplicates, rep.RELP.Resent)
	}
	t.Logf("%d chaos disconnects %v, %d resent, %d duplicates at mockdest, zero missing", chaos,
		rep.Disconnects, rep.RELP.Resent, snap.Streams.Duplicates)
}
