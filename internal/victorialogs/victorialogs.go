// Package victorialogs runs real VictoriaLogs processes for logrelay's
// tests and benchmarks: single nodes and a cluster (a front node with
// -storageNode and its storage nodes, the same binary), each on a free
// loopback port with its own data directory, stopped by PID. It also
// counts rows back with LogsQL and forces data to be queryable
// (/internal/force_flush) instead of waiting.
package victorialogs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Version is the VictoriaLogs release the project tests against;
// scripts/install-victorialogs.sh installs it.
const Version = "v1.52.1"

// EnvBinary names the environment variable that points at the
// victoria-logs binary.
const EnvBinary = "LOGRELAY_VICTORIALOGS"

// ErrNoBinary means no victoria-logs binary was found.
var ErrNoBinary = errors.New("victoria-logs binary not found")

// Binary returns the victoria-logs binary: $LOGRELAY_VICTORIALOGS, else
// the one scripts/install-victorialogs.sh installs
// ($XDG_CACHE_HOME or ~/.cache, then logrelay/bin/victoria-logs).
func Binary() (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%w: %s=%s: %v", ErrNoBinary, EnvBinary, p, err)
		}
		return p, nil
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoBinary, err)
	}
	p := filepath.Join(dir, "logrelay", "bin", "victoria-logs")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%w at %s (run scripts/install-victorialogs.sh, or set %s)", ErrNoBinary, p, EnvBinary)
	}
	return p, nil
}

// Node is one victoria-logs process.
type Node struct {
	bin  string
	addr string // 127.0.0.1:PORT
	dir  string
	args []string
	cmd  *exec.Cmd
	done chan struct{}
	log  *syncBuffer
}

// syncBuffer is the process's output, written by exec's copier and read
// by Output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Start starts a node with its data in dir on a free loopback port, with
// extra flags, and waits until /health answers OK.
func Start(ctx context.Context, bin, dir string, extra ...string) (*Node, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	n := &Node{bin: bin, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir, args: extra}
	return n, n.start(ctx)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (n *Node) start(ctx context.Context) error {
	args := append([]string{"-httpListenAddr=" + n.addr, "-storageDataPath=" + n.dir, "-loggerLevel=WARN"}, n.args...)
	n.log = &syncBuffer{}
	n.cmd = exec.Command(n.bin, args...)
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	if err := n.cmd.Start(); err != nil {
		return fmt.Errorf("start victoria-logs: %w", err)
	}
	n.done = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { c.Wait(); close(done) }(n.cmd, n.done)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := n.health(ctx); err == nil {
			return nil
		} else if time.Now().After(deadline) || ctx.Err() != nil {
			n.Kill()
			return fmt.Errorf("victoria-logs on %s not healthy: %v; its output: %s", n.addr, err, n.log)
		}
		select {
		case <-n.done:
			return fmt.Errorf("victoria-logs on %s exited: %s", n.addr, n.log)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (n *Node) health(ctx context.Context) error {
	body, err := n.get(ctx, "/health")
	if err != nil {
		return err
	}
	if strings.TrimSpace(string(body)) != "OK" {
		return fmt.Errorf("/health answered %q", body)
	}
	return nil
}

// Addr returns the node's HTTP address, 127.0.0.1:PORT.
func (n *Node) Addr() string { return n.addr }

// URL returns http://ADDR + path.
func (n *Node) URL(path string) string { return "http://" + n.addr + path }

// PID returns the process id of the running process.
func (n *Node) PID() int { return n.cmd.Process.Pid }

// Kill sends SIGKILL to the process (by its PID) and waits for it to exit.
func (n *Node) Kill() {
	n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.done
}

// Stop ends the process with SIGTERM (SIGKILL after 10 s) and waits.
func (n *Node) Stop() {
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(10 * time.Second):
		n.Kill()
	}
}

// Restart starts the process again on the same port and data directory,
// with extra flags replacing those Start was given when extra is not nil.
func (n *Node) Restart(ctx context.Context, extra []string) error {
	if extra != nil {
		n.args = extra
	}
	return n.start(ctx)
}

// Output returns what the process has written so far.
func (n *Node) Output() string { return n.log.String() }

// ForceFlush makes the node's ingested rows queryable at once.
func (n *Node) ForceFlush(ctx context.Context) error {
	_, err := n.get(ctx, "/internal/force_flush")
	return err
}

func (n *Node) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.URL(path), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("GET %s: HTTP %d: %s", path, resp.StatusCode, body)
	}
	return body, nil
}

// Stats runs "QUERY | stats EXPR as n" (EXPR e.g. "count()" or
// "count_uniq(stamp)") over all time and returns n.
func (n *Node) Stats(ctx context.Context, query, expr string) (int64, error) {
	q := query + " | stats " + expr + " as n"
	form := url.Values{"query": {q}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.URL("/select/logsql/query"), strings.NewReader(form.Encode()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("query %q: %w", q, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, fmt.Errorf("query %q: %w", q, err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("query %q: HTTP %d: %s", q, resp.StatusCode, body)
	}
	var row struct {
		N string `json:"n"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(body), &row); err != nil {
		return 0, fmt.Errorf("query %q: answer %q: %w", q, body, err)
	}
	v, err := strconv.ParseInt(row.N, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("query %q: answer %q: %w", q, body, err)
	}
	return v, nil
}

// Cluster is a front node (vlinsert and vlselect, started with
// -storageNode) and its storage nodes.
type Cluster struct {
	Front   *Node
	Storage []*Node
}

// StartCluster starts storage nodes with their data under dir, then the
// front node pointing at them, with extra flags for each kind.
func StartCluster(ctx context.Context, bin, dir string, storageNodes int, storageExtra, frontExtra []string) (*Cluster, error) {
	c := &Cluster{}
	var addrs []string
	for i := range storageNodes {
		n, err := Start(ctx, bin, filepath.Join(dir, "storage"+strconv.Itoa(i)), storageExtra...)
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.Storage = append(c.Storage, n)
		addrs = append(addrs, n.Addr())
	}
	front, err := Start(ctx, bin, filepath.Join(dir, "front"), append([]string{"-storageNode=" + strings.Join(addrs, ",")}, frontExtra...)...)
	if err != nil {
		c.Stop()
		return nil, err
	}
	c.Front = front
	return c, nil
}

// ForceFlush flushes the front node, then every storage node.
func (c *Cluster) ForceFlush(ctx context.Context) error {
	if err := c.Front.ForceFlush(ctx); err != nil {
		return err
	}
	for _, n := range c.Storage {
		if err := n.ForceFlush(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Stop stops every node.
func (c *Cluster) Stop() {
	if c.Front != nil {
		c.Front.Stop()
	}
	for _, n := range c.Storage {
		n.Stop()
	}
}
