package relay

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

// rsyslogd is a foreground rsyslogd of a test: imfile reads the file In,
// omrelp sends every line as it is (%rawmsg%) to a RELP server, with an
// in-memory action queue retried forever. It never touches the system
// service: its config, PID file, state and queue files live in a temp dir.
type rsyslogd struct {
	In  string // the file it follows; append lines to it
	cmd *exec.Cmd
	out *strings.Builder
	mu  sync.Mutex
}

// startRsyslog starts rsyslogd sending to relpAddr, or skips the test when
// rsyslogd or omrelp is not installed (scripts/install-rsyslog.sh).
func startRsyslog(t *testing.T, relpAddr string) *rsyslogd {
	t.Helper()
	bin, err := exec.LookPath("rsyslogd")
	if err != nil {
		t.Skip("rsyslogd not installed (scripts/install-rsyslog.sh)")
	}
	if m, _ := filepath.Glob("/usr/lib/*/rsyslog/omrelp.so"); len(m) == 0 {
		t.Skip("omrelp not installed (scripts/install-rsyslog.sh)")
	}
	dir := t.TempDir()
	host, port, _ := net.SplitHostPort(relpAddr)
	in := filepath.Join(dir, "in.log")
	if err := os.WriteFile(in, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`global(workDirectory=%q maxMessageSize="64k")
module(load="imfile" mode="inotify")
module(load="omrelp")
template(name="raw" type="string" string="%%rawmsg%%")
input(type="imfile" file=%q tag="t" ruleset="out")
ruleset(name="out") {
  action(type="omrelp" target=%q port=%q template="raw" windowSize="1024"
         timeout="5" conn.timeout="2" rebindInterval="0"
         action.resumeRetryCount="-1" action.resumeInterval="1"
         queue.type="LinkedList" queue.size="100000" queue.dequeueBatchSize="128")
}
`, dir, in, host, port)
	cf := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &rsyslogd{In: in, out: &strings.Builder{}}
	r.cmd = exec.Command(bin, "-n", "-f", cf, "-i", filepath.Join(dir, "rsyslogd.pid"))
	r.cmd.Stdout, r.cmd.Stderr = lockedWriter{r}, lockedWriter{r}
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start rsyslogd: %v", err)
	}
	t.Cleanup(func() {
		r.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- r.cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			r.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("rsyslogd output:\n%s", r.output())
		}
	})
	return r
}

type lockedWriter struct{ r *rsyslogd }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.r.mu.Lock()
	defer w.r.mu.Unlock()
	return w.r.out.Write(p)
}

func (r *rsyslogd) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.String()
}

// appendLines appends lines to the followed file.
func (r *rsyslogd) appendLines(t *testing.T, lines []string) {
	t.Helper()
	f, err := os.OpenFile(r.In, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for _, l := range lines {
		w.WriteString(l)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// stampedLines returns n lines stamped stream 1, seqs from..from+n-1.
func stampedLines(from, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = string(wire.AppendStamp(nil, wire.Stamp{Stream: 1, Seq: uint64(from + i), SentNs: 1})) +
			" message " + strconv.Itoa(from+i)
	}
	return out
}

// TestRsyslogSpeaksWireRELP checks the wire package against librelp:
// rsyslog's omrelp opens a session with a server built on wire alone,
// sends every line as one syslog command, and accepts the rsp frames.
func TestRsyslogSpeaksWireRELP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1000)
	srvErr := make(chan error, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			srvErr <- err
			return
		}
		defer nc.Close()
		rd := wire.NewRELPReader(nc, 0)
		for {
			f, err := rd.Next()
			if err != nil {
				srvErr <- err
				return
			}
			var out []byte
			switch f.Command {
			case wire.RELPOpen:
				o, err := wire.ParseRELPOffers(f.Data)
				if err != nil || !o.HasCommand("syslog") {
					srvErr <- fmt.Errorf("offers %q: %v", f.Data, err)
					return
				}
				out = wire.AppendRELPRsp(nil, f.Txnr, 200, "OK",
					wire.AppendRELPOffers(nil, wire.RELPOffers{Version: "0", Software: "logrelay-test", Commands: []string{"syslog"}}))
			case wire.RELPSyslog:
				got <- string(f.Data)
				out = wire.AppendRELPOK(nil, f.Txnr)
			case wire.RELPClose:
				out = wire.AppendRELP(nil, f.Txnr, "rsp", nil)
			default:
				srvErr <- fmt.Errorf("unexpected command %q", f.Name)
				return
			}
			if _, err := nc.Write(out); err != nil {
				srvErr <- err
				return
			}
		}
	}()
	rs := startRsyslog(t, ln.Addr().String())
	lines := stampedLines(1, 50)
	rs.appendLines(t, lines)
	deadline := time.After(20 * time.Second)
	for i := 0; i < len(lines); i++ {
		select {
		case m := <-got:
			if m != lines[i] {
				t.Fatalf("message %d: %q, want %q", i, m, lines[i])
			}
		case err := <-srvErr:
			t.Fatalf("server: %v (after %d messages)", err, i)
		case <-deadline:
			t.Fatalf("%d of %d messages after 20 s", i, len(lines))
		}
	}
	if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Fatal(err)
	}
}
