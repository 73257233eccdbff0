package file

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/relay"
)

// startRelay runs a relay delivering to s on 127.0.0.1:0 and returns it
// and a function that stops it and returns Serve's error.
func startRelay(t *testing.T, s *Sink, mod func(*relay.Config)) (*relay.Relay, func() error) {
	t.Helper()
	c := relay.DefaultConfig()
	c.Sink, c.Admin = s, ""
	c.BatchSize, c.FlushInterval = 10, 20*time.Millisecond
	c.RetryBase, c.RetryMax = time.Millisecond, 10*time.Millisecond
	c.ShutdownTimeout = 5 * time.Second
	if mod != nil {
		mod(&c)
	}
	r, err := relay.New(c)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx, ln) }()
	<-r.Ready()
	var once sync.Once
	var serveErr error
	stop := func() error {
		once.Do(func() { cancel(); serveErr = <-done })
		return serveErr
	}
	t.Cleanup(func() { stop() })
	return r, stop
}

// lines returns n lines "PREFIX-0000" … of equal length.
func lines(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%04d", prefix, i)
	}
	return out
}

// send writes lines on one new connection and closes it.
func send(t *testing.T, addr net.Addr, ls []string) {
	t.Helper()
	wait := sendAsync(t, addr, ls)
	if err := wait(); err != nil {
		t.Fatal(err)
	}
}

// sendAsync writes lines on one new connection from a goroutine, and
// returns the function that waits for that write's error. The connection
// is closed (ending a blocked write) at cleanup.
func sendAsync(t *testing.T, addr net.Addr, ls []string) (wait func() error) {
	t.Helper()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := io.WriteString(c, strings.Join(ls, "\n")+"\n")
		c.Close()
		done <- err
	}()
	var once sync.Once
	var werr error
	wait = func() error { once.Do(func() { werr = <-done }); return werr }
	t.Cleanup(func() { c.Close(); wait() })
	return wait
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 {
		return nil
	}
	if b[len(b)-1] != '\n' {
		t.Errorf("%s does not end in a newline: a batch was split or cut", path)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func newSink(t *testing.T, c Config) *Sink {
	t.Helper()
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkSame reports a difference between the lines got and want.
func checkSame(t *testing.T, what string, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	t.Errorf("%s: got %d lines want %d; first difference at line %d: got %q want %q",
		what, len(got), len(want), i, at(got, i), at(want, i))
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return "<none>"
}

// TestRelayToFile: lines from several connections reach the file exactly
// once, each connection's in order, with fsync on and off.
func TestRelayToFile(t *testing.T) {
	t.Parallel()
	for _, fsync := range []bool{true, false} {
		t.Run(fmt.Sprint("fsync=", fsync), func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "out.log")
			s := newSink(t, Config{Path: path, Fsync: fsync})
			r, stop := startRelay(t, s, nil)
			const conns, per = 4, 500
			var waits []func() error
			for c := range conns {
				waits = append(waits, sendAsync(t, r.Addr(), lines(fmt.Sprint("c", c), per)))
			}
			for _, wait := range waits {
				if err := wait(); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, "all delivered", func() bool { return r.Stats().Delivered == conns*per })
			if err := stop(); err != nil {
				t.Fatalf("Serve: %v", err)
			}
			byConn := map[string][]string{}
			for _, l := range readLines(t, path) {
				c, _, _ := strings.Cut(l, "-")
				byConn[c] = append(byConn[c], l)
			}
			for c := range conns {
				name := fmt.Sprint("c", c)
				checkSame(t, name, byConn[name], lines(name, per))
			}
			if got := s.m.fsyncs.Load(); (got > 0) != fsync {
				t.Errorf("fsyncs %d with fsync %v", got, fsync)
			}
			if fi, _ := os.Stat(path); s.m.bytes.Load() != uint64(fi.Size()) {
				t.Errorf("bytes written %d, file size %d", s.m.bytes.Load(), fi.Size())
			}
			rec := httptest.NewRecorder()
			r.AdminHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
			if want := fmt.Sprintf("logrelay_file_bytes_written_total %d\n", s.m.bytes.Load()); !strings.Contains(rec.Body.String(), want) {
				t.Errorf("/metrics does not show the sink's metrics: want a line %q", want)
			}
		})
	}
}

// TestRotation: with batches of 10 lines of 10 bytes, a 250-byte limit
// rotates after every two batches, never splitting one; Keep files are
// kept, the oldest deleted, and together with the current file they hold
// the newest lines in order.
func TestRotation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "out.log")
	s := newSink(t, Config{Path: path, Fsync: true, MaxBytes: 250, Keep: 3})
	r, stop := startRelay(t, s, func(c *relay.Config) { c.FlushInterval = time.Minute })
	ls := lines("line", 200) // "line-0000\n": 10 bytes; 20 full batches
	send(t, r.Addr(), ls)
	waitFor(t, "all delivered", func() bool { return r.Stats().Delivered == 200 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := s.m.rotations.Load(); got != 9 {
		t.Errorf("rotations %d want 9 (10 files of 2 batches)", got)
	}
	var got []string
	for _, p := range []string{path + ".3", path + ".2", path + ".1", path} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != 200 {
			t.Errorf("%s: %d bytes want 200 (two whole batches)", p, fi.Size())
		}
		got = append(got, readLines(t, p)...)
	}
	if _, err := os.Stat(path + ".4"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s.4 exists beyond --file-keep 3 (%v)", path, err)
	}
	checkSame(t, "the kept files", got, ls[120:])
}

// TestRotationBigBatch: a batch larger than MaxBytes is not split: it
// gets a file of its own.
func TestRotationBigBatch(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "out.log")
	s := newSink(t, Config{Path: path, MaxBytes: 50, Keep: 10})
	r, stop := startRelay(t, s, func(c *relay.Config) { c.FlushInterval = time.Minute })
	ls := lines("line", 30)
	send(t, r.Addr(), ls)
	waitFor(t, "all delivered", func() bool { return r.Stats().Delivered == 30 })
	stop()
	var got []string
	for _, p := range []string{path + ".2", path + ".1", path} {
		l := readLines(t, p)
		if len(l) != 10 {
			t.Errorf("%s: %d lines want one batch of 10", p, len(l))
		}
		got = append(got, l...)
	}
	checkSame(t, "files", got, ls)
}

// TestReopen: after the file is moved away, Reopen (SIGHUP) makes the
// sink create a new file even while idle; a file deleted without a signal
// is noticed before the next batch. Nothing is lost or written twice.
func TestReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "out.log")
	s := newSink(t, Config{Path: path, Fsync: true})
	r, stop := startRelay(t, s, nil)
	a, b, c := lines("a", 100), lines("b", 100), lines("c", 100)
	send(t, r.Addr(), a)
	waitFor(t, "a delivered", func() bool { return r.Stats().Delivered == 100 })
	if err := os.Rename(path, path+".old"); err != nil {
		t.Fatal(err)
	}
	s.Reopen()
	waitFor(t, "the new file", func() bool { _, err := os.Stat(path); return err == nil })
	send(t, r.Addr(), b)
	waitFor(t, "b delivered", func() bool { return r.Stats().Delivered == 200 })
	checkSame(t, "moved file", readLines(t, path+".old"), a)
	checkSame(t, "new file", readLines(t, path), b)

	if err := os.Rename(path, path+".old2"); err != nil { // no signal
		t.Fatal(err)
	}
	send(t, r.Addr(), c)
	waitFor(t, "c delivered", func() bool { return r.Stats().Delivered == 300 })
	stop()
	checkSame(t, "second moved file", readLines(t, path+".old2"), b)
	checkSame(t, "third file", readLines(t, path), c)
	if sig, p := s.m.reopens[reopenSignal].Load(), s.m.reopens[reopenPath].Load(); sig != 1 || p != 1 {
		t.Errorf("reopens: signal %d path %d want 1 and 1", sig, p)
	}
}

// failingCase checks backpressure and recovery: while the file fails,
// the relay holds at most MaxPending messages, delivers none and reads no
// more; after fix, everything arrives exactly once, in order, in final.
func failingCase(t *testing.T, s *Sink, fix func(), final string) {
	t.Helper()
	r, stop := startRelay(t, s, func(c *relay.Config) { c.MaxPending = 100 })
	ls := lines("line", 1000)
	sendAsync(t, r.Addr(), ls)
	waitFor(t, "reads held at --max-pending", func() bool {
		st := r.Stats()
		return st.ReadsHeld > 0 && st.SinkErrors >= 5
	})
	if st := r.Stats(); st.Delivered != 0 || st.Received > 100 || st.Pending > 100 {
		t.Errorf("while failing: delivered %d received %d pending %d want 0, ≤100, ≤100",
			st.Delivered, st.Received, st.Pending)
	}
	fix()
	waitFor(t, "all delivered", func() bool { return r.Stats().Delivered == 1000 })
	if err := stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	checkSame(t, final, readLines(t, final), ls)
}

// TestDevFull: writes to /dev/full fail with ENOSPC; the relay holds its
// clients back until the path (a symlink) is pointed at a real file.
func TestDevFull(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "out.log")
	if err := os.Symlink("/dev/full", path); err != nil {
		t.Fatal(err)
	}
	s := newSink(t, Config{Path: path, Fsync: true})
	real := filepath.Join(dir, "real.log")
	failingCase(t, s, func() {
		if got := s.m.errors[opWrite].Load(); got == 0 {
			t.Errorf("write errors %d, want some", got)
		}
		os.Remove(path)
		if err := os.Symlink(real, path); err != nil {
			t.Fatal(err)
		}
	}, real)
}

// TestRemovedDirectory: with the directory gone, the sink retries the
// open until the directory is back.
func TestRemovedDirectory(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "logs")
	path := filepath.Join(dir, "out.log")
	s := newSink(t, Config{Path: path, Fsync: true})
	failingCase(t, s, func() {
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}, path)
	if got := s.m.errors[opOpen].Load(); got == 0 {
		t.Errorf("open errors %d, want some", got)
	}
}

// TestDirectoryRemovedWhileOpen: a directory removed under the open file
// is noticed before the next batch (the sink does not write into the
// unlinked file), and the batches wait until it is recreated.
func TestDirectoryRemovedWhileOpen(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "logs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "out.log")
	s := newSink(t, Config{Path: path})
	r, stop := startRelay(t, s, nil)
	send(t, r.Addr(), lines("a", 10))
	waitFor(t, "a delivered", func() bool { return r.Stats().Delivered == 10 })
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	b := lines("b", 100)
	send(t, r.Addr(), b)
	waitFor(t, "failures", func() bool { return r.Stats().SinkErrors >= 3 })
	if got := r.Stats().Delivered; got != 10 {
		t.Errorf("delivered %d into a removed directory", got-10)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b delivered", func() bool { return r.Stats().Delivered == 110 })
	stop()
	checkSame(t, "recreated file", readLines(t, path), b)
}

// TestPermission: an unwritable directory is retried until it is made
// writable. Root bypasses permission checks, so as root the test runs on
// a read-only tmpfs instead (EROFS), which fails the same open.
func TestPermission(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "logs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	lock, unlock := func() error { return os.Chmod(dir, 0o555) }, func() error { return os.Chmod(dir, 0o755) }
	if os.Geteuid() == 0 {
		mountTmpfs(t, dir, "1m")
		lock = func() error { return exec.Command("mount", "-o", "remount,ro", dir).Run() }
		unlock = func() error { return exec.Command("mount", "-o", "remount,rw", dir).Run() }
	}
	if err := lock(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "out.log")
	s := newSink(t, Config{Path: path, Fsync: true, Mode: 0o600})
	failingCase(t, s, func() {
		if err := unlock(); err != nil {
			t.Fatal(err)
		}
	}, path)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm()&^0o600 != 0 {
		t.Errorf("file mode %v (%v) want at most 0600", fi.Mode(), err)
	}
}

// mountTmpfs mounts a tmpfs of size on dir, unmounted at cleanup, or
// skips the test when it cannot (no privilege).
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (%v: %s): the test needs root with CAP_SYS_ADMIN", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
}

// TestFullFileSystem: on a 64 KiB tmpfs nearly filled by another file,
// writes fail part-way (ENOSPC); each failed batch is truncated away
// before its retry, so once room is made every line is in the file
// exactly once, none cut.
func TestFullFileSystem(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "fs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	mountTmpfs(t, dir, "64k")
	filler := filepath.Join(dir, "filler")
	// Leave two pages: 19 batches of 410 bytes fit, the 20th is cut short.
	fill(t, filler, dir, 8192)
	path := filepath.Join(dir, "out.log")
	s := newSink(t, Config{Path: path, Fsync: true})
	r, stop := startRelay(t, s, func(c *relay.Config) { c.MaxPending = 1000 })
	ls := lines("a-long-enough-line-to-fill-the-disk", 1000) // 41 bytes each
	sendAsync(t, r.Addr(), ls)
	waitFor(t, "write failures", func() bool { return s.m.errors[opWrite].Load() >= 3 })
	st := r.Stats()
	if st.Delivered == 0 || st.Delivered >= 1000 {
		t.Errorf("delivered %d before the disk filled, want some, not all", st.Delivered)
	}
	if got := s.m.errors[opTruncate].Load(); got != 0 {
		t.Errorf("truncate errors %d", got)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "all delivered", func() bool { return r.Stats().Delivered == 1000 })
	if err := stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	checkSame(t, "file", readLines(t, path), ls)
}

// fill writes filler until dir's file system has about free bytes left.
func fill(t *testing.T, filler, dir string, free int64) {
	t.Helper()
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1024)
	for {
		var st syscall.Statfs_t
		if err := syscall.Statfs(dir, &st); err != nil {
			t.Fatal(err)
		}
		avail := int64(st.Bavail) * st.Bsize
		if avail <= free {
			return
		}
		n := min(int64(len(buf)), avail-free)
		if _, err := f.Write(buf[:n]); err != nil {
			return
		}
		f.Sync()
	}
}

// TestFsyncFails: when fsync fails, the batches written since the last
// good fsync are in doubt: they are truncated away and written again, so
// the file holds every line once, in order; none is acknowledged before
// an fsync succeeded.
func TestFsyncFails(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "out.log")
	s := newSink(t, Config{Path: path, Fsync: true, MaxBytes: 3000, Keep: 100})
	var mu sync.Mutex
	calls := 0
	s.fsync = func(f *os.File) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls%3 != 0 { // two of three fail
			return syscall.EIO
		}
		return f.Sync()
	}
	r, stop := startRelay(t, s, nil)
	ls := lines("line", 2000)
	send(t, r.Addr(), ls)
	waitFor(t, "all delivered", func() bool { return r.Stats().Delivered == 2000 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := s.m.rotations.Load(); i > 0; i-- {
		got = append(got, readLines(t, fmt.Sprintf("%s.%d", path, i))...)
	}
	got = append(got, readLines(t, path)...)
	checkSame(t, "files", got, ls)
	if e, f := s.m.errors[opFsync].Load(), s.m.fsyncs.Load(); e == 0 || e >= f {
		t.Errorf("fsync errors %d of %d, want some, not all", e, f)
	}
	if s.m.rotations.Load() == 0 {
		t.Error("no rotation: the test wants fsyncs before rotations to fail too")
	}
}

// TestJSONFormat: --file-format json writes one NDJSON document a
// message, the _bulk sink's document: a JSON-object line as it is plus
// @timestamp (unless present), any other line as {"@timestamp","message"};
// no action lines.
func TestJSONFormat(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "out.log")
	s := newSink(t, Config{Path: path, Format: JSON, Fsync: true})
	r, stop := startRelay(t, s, nil)
	in := []string{
		`plain text`,
		`{"level":"info","msg":"hi"}`,
		`{"@timestamp":"2026-01-02T03:04:05Z","msg":"own time"}`,
		`  {"nested":{"a":[1,2,{"b":null}]}}  `,
		`say "hi" \ back\slash	tab`,
		"bad utf8 \xff here",
		`{"not json"`,
		`{}`,
	}
	before := time.Now()
	for range 30 { // several batches
		send(t, r.Addr(), in)
	}
	waitFor(t, "all delivered", func() bool { return r.Stats().Delivered == uint64(30*len(in)) })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	got := readLines(t, path)
	if len(got) != 30*len(in) {
		t.Fatalf("got %d documents want %d", len(got), 30*len(in))
	}
	for i, doc := range got {
		line := in[i%len(in)]
		var m map[string]any
		if err := json.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatalf("document %d %q: %v", i, doc, err)
		}
		ts, _ := m["@timestamp"].(string)
		when, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			t.Errorf("document %q: @timestamp %q: %v", doc, ts, err)
		}
		var want map[string]any
		if json.Unmarshal([]byte(line), &want) == nil {
			if _, ok := want["@timestamp"]; !ok {
				want["@timestamp"] = ts
				if when.Before(before.Add(-time.Second)) || when.After(time.Now()) {
					t.Errorf("document %q: receive time %v not during the test", doc, when)
				}
			}
		} else {
			want = map[string]any{"@timestamp": ts, "message": strings.ToValidUTF8(line, "\uFFFD")}
		}
		if !reflect.DeepEqual(m, want) {
			t.Errorf("line %q: got document %q, decoded %v want %v", line, doc, m, want)
		}
	}
}
