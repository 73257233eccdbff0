package docs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode"
)

// programs are the commands whose --help this package checks, each with the
// page that must mention every flag it prints.
var programs = []struct {
	bin  string   // binary built from ./<bin>
	args []string // subcommand before --help, if any
	page string   // page under docs/
}{
	{"relay", nil, "relay.md"},
	{"loadgen", nil, "loadgen.md"},
	{"loadgen", []string{"merge"}, "loadgen.md"},
	{"mockdest", nil, "mockdest.md"},
	{"bench", nil, "bench.md"},
	{"bench", []string{"pipe"}, "bench.md"},
	{"bench", []string{"compare-sinks"}, "bench.md"},
}

// TestFlagsDocumented fails when a flag that a program's --help prints is not
// in that program's page under docs/.
func TestFlagsDocumented(t *testing.T) {
	dir := binaries(t)
	for _, p := range programs {
		name := strings.Join(append([]string{p.bin}, p.args...), " ")
		t.Run(name, func(t *testing.T) {
			out, err := exec.Command(filepath.Join(dir, p.bin), append(p.args, "--help")...).CombinedOutput()
			if err != nil {
				t.Fatalf("%s --help: %v\n%s", name, err, out)
			}
			flags := helpFlags(string(out))
			if len(flags) == 0 {
				t.Fatalf("%s --help printed no flags:\n%s", name, out)
			}
			if missing := undocumentedFlags(flags, readPage(t, p.page)); len(missing) > 0 {
				t.Errorf("docs/%s does not mention %d flag(s) that `%s --help` prints: %s",
					p.page, len(missing), name, strings.Join(missing, ", "))
			}
		})
	}
}

// TestMetricsDocumented fails when a metric family the relay serves on
// /metrics is not in docs/relay.md. The relay runs as a process, forwards a
// few messages to mockdest, and is scraped once they are acknowledged, so
// that metrics which appear only after traffic are included.
func TestMetricsDocumented(t *testing.T) {
	dir := binaries(t)
	dest := startMockdest(t, dir)
	r := startRelay(t, dir, "tcp://"+dest, "--flush-interval", "50ms")
	send(t, r.listen, "a\nb\nc\n")
	waitMetric(t, r.admin, "logrelay_messages_delivered_total", 3)
	body := scrape(t, r.admin)
	families := metricFamilies(body)
	if !slices.Contains(families, "logrelay_messages_received_total") {
		t.Fatalf("/metrics has no logrelay_messages_received_total; families: %v", families)
	}
	if missing := undocumentedMetrics(families, readPage(t, "relay.md")); len(missing) > 0 {
		t.Errorf("docs/relay.md does not mention %d metric(s) the relay serves: %s",
			len(missing), strings.Join(missing, ", "))
	}
	r.stop(t)
}

// TestPythonDestination runs the Python destination of docs/wire.md against
// the relay and checks the output the page shows: 300 lines, three empty
// lines and 50 lines ending in \r\n, then SIGTERM, give three size batches
// of 100 and a shutdown batch of 50, and the relay exits 0.
func TestPythonDestination(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not on PATH")
	}
	dir := binaries(t)
	script := pythonBlock(t, readPage(t, "wire.md"))
	path := filepath.Join(t.TempDir(), "dest.py")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	dest := startProcess(t, python, path, port)
	destAddr := "127.0.0.1:" + port
	waitDial(t, destAddr, dest)

	r := startRelay(t, dir, "tcp://"+destAddr)
	var in strings.Builder
	for i := range 300 {
		fmt.Fprintf(&in, "line %d\n", i)
	}
	in.WriteString("\n\n\n")
	for i := range 50 {
		fmt.Fprintf(&in, "crlf %d\r\n", i)
	}
	send(t, r.listen, in.String())
	waitMetric(t, r.admin, "logrelay_messages_received_total", 350)
	waitMetric(t, r.admin, "logrelay_messages_delivered_total", 300)
	last := r.stop(t)
	for k, want := range map[string]float64{"received": 350, "delivered": 350, "batches": 4, "undelivered": 0} {
		if got, ok := last[k].(float64); !ok || got != want {
			t.Errorf("relay's last line: %s = %v, want %v (line %v)", k, last[k], want, last)
		}
	}

	lineRE := regexp.MustCompile(`(?m)^seq=(\d+) count=(\d+) reason=(\w+) wait_ms=[0-9.]+$`)
	want := []string{"1 100 size", "2 100 size", "3 100 size", "4 50 shutdown"}
	var got []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		got = got[:0]
		for _, m := range lineRE.FindAllStringSubmatch(dest.stdout.String(), -1) {
			got = append(got, m[1]+" "+m[2]+" "+m[3])
		}
		if len(got) >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !slices.Equal(got, want) {
		t.Errorf("destination printed batches %q, want %q\nstdout:\n%s\nstderr:\n%s",
			got, want, dest.stdout.String(), dest.stderr.String())
	}
}

// TestHeadlineFigures fails when a figure or command of the README's
// headline table is not, word for word, in docs/performance.md, so the two
// pages cannot give different numbers for one measurement.
func TestHeadlineFigures(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(root(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := tableRows(string(readme), "## Headline figures")
	if len(rows) < 2 {
		t.Fatalf("README.md: no table under \"## Headline figures\" (rows %q)", rows)
	}
	perf := readPage(t, "performance.md")
	for _, row := range rows[1:] { // rows[0] is the header
		if len(row) != 3 {
			t.Errorf("README.md headline row %q: want 3 cells (what, figure, command)", row)
			continue
		}
		for _, cell := range row[1:] {
			if !strings.Contains(perf, cell) {
				t.Errorf("README.md headline %q: %q is not in docs/performance.md", row[0], cell)
			}
		}
	}
}

// tableRows returns the cells of the first Markdown table after the line
// heading, without its |---| line. An escaped \| stays inside its cell.
func tableRows(doc, heading string) [][]string {
	_, rest, ok := strings.Cut(doc, "\n"+heading+"\n")
	if !ok {
		return nil
	}
	var rows [][]string
	for _, line := range strings.Split(rest, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			if len(rows) > 0 || strings.HasPrefix(line, "#") {
				break
			}
			continue
		}
		line = strings.ReplaceAll(strings.Trim(line, "|"), `\|`, "\x00")
		var cells []string
		for _, c := range strings.Split(line, "|") {
			cells = append(cells, strings.ReplaceAll(strings.TrimSpace(c), "\x00", `\|`))
		}
		if strings.Trim(strings.Join(cells, ""), "-: ") == "" {
			continue // the |---| line
		}
		rows = append(rows, cells)
	}
	return rows
}

// TestLinks fails when a relative link in README.md or a page under docs/
// points at a file that does not exist or at a heading the file lacks.
// docs/notes-*.md (a branch's notes, waiting to be folded into the pages)
// are not checked.
func TestLinks(t *testing.T) {
	dir := root(t)
	all, err := filepath.Glob(filepath.Join(dir, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	var pages []string
	for _, p := range all {
		if !strings.HasPrefix(filepath.Base(p), "notes-") {
			pages = append(pages, p)
		}
	}
	pages = append(pages, filepath.Join(dir, "README.md"))
	linkRE := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	checked := 0
	for _, page := range pages {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, page)
		for _, m := range linkRE.FindAllStringSubmatch(outsideCode(string(b)), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, frag, _ := strings.Cut(target, "#")
			path := page
			if file != "" {
				path = filepath.Join(filepath.Dir(page), file)
			}
			checked++
			tb, err := os.ReadFile(path)
			if err != nil {
				if fi, serr := os.Stat(path); serr == nil && fi.IsDir() && frag == "" {
					continue
				}
				t.Errorf("%s: link %q: %v", rel, target, err)
				continue
			}
			if frag != "" && !slices.Contains(anchors(string(tb)), frag) {
				t.Errorf("%s: link %q: no heading with anchor #%s in %s", rel, target, frag, file)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no relative links found")
	}
}

// outsideCode returns doc without its fenced code blocks.
func outsideCode(doc string) string {
	var b strings.Builder
	in := false
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			in = !in
			continue
		}
		if !in {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// anchors returns the GitHub anchors of doc's headings: lower case, only
// letters, digits, spaces, hyphens and underscores kept, spaces as hyphens,
// and -1, -2, … on repeats.
func anchors(doc string) []string {
	var out []string
	seen := map[string]int{}
	for _, line := range strings.Split(outsideCode(doc), "\n") {
		text, ok := strings.CutPrefix(line, "#")
		if !ok {
			continue
		}
		text = strings.TrimLeft(text, "#")
		if !strings.HasPrefix(text, " ") {
			continue
		}
		var a strings.Builder
		for _, r := range strings.ToLower(strings.TrimSpace(text)) {
			switch {
			case r == ' ':
				a.WriteByte('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				a.WriteRune(r)
			}
		}
		id := a.String()
		if n := seen[id]; n > 0 {
			out = append(out, fmt.Sprintf("%s-%d", id, n))
		} else {
			out = append(out, id)
		}
		seen[id]++
	}
	return out
}

// TestUndocumented checks the two matchers on made-up help and pages, so
// that the tests above can fail.
func TestUndocumented(t *testing.T) {
	help := "Usage of x:\n      --listen string   where (default \"a\")\n  -v, --verbose   talk\n" +
		"      --max-pending int   n\n      --max-pending-bytes int   b\n"
	flags := helpFlags(help)
	if want := []string{"listen", "verbose", "max-pending", "max-pending-bytes"}; !slices.Equal(flags, want) {
		t.Fatalf("helpFlags = %q, want %q", flags, want)
	}
	for _, tc := range []struct {
		page string
		want []string
	}{
		{"`--listen`, `--verbose`, `--max-pending`, `--max-pending-bytes`", nil},
		{"`--listen` `--verbose` `--max-pending-bytes`", []string{"--max-pending"}},
		{"`--listen` `--verbose` `--max-pending`", []string{"--max-pending-bytes"}},
		{"--listen-addr --verbose --max-pending --max-pending-bytes", []string{"--listen"}},
		{"", []string{"--listen", "--verbose", "--max-pending", "--max-pending-bytes"}},
	} {
		if got := undocumentedFlags(flags, tc.page); !slices.Equal(got, tc.want) {
			t.Errorf("undocumentedFlags(page %q) = %q, want %q", tc.page, got, tc.want)
		}
	}

	body := "# HELP logrelay_a_total A.\n# TYPE logrelay_a_total counter\nlogrelay_a_total 1\n" +
		"# HELP logrelay_b_seconds B.\n# TYPE logrelay_b_seconds histogram\nlogrelay_b_seconds_bucket{le=\"1\"} 0\n" +
		"# HELP go_goroutines G.\n# TYPE go_goroutines gauge\ngo_goroutines 7\n"
	families := metricFamilies(body)
	if want := []string{"logrelay_a_total", "logrelay_b_seconds", "go_goroutines"}; !slices.Equal(families, want) {
		t.Fatalf("metricFamilies = %q, want %q", families, want)
	}
	for _, tc := range []struct {
		page string
		want []string
	}{
		{"`logrelay_a_total` `logrelay_b_seconds` and the `go_*` metrics", nil},
		{"`logrelay_a_total` `logrelay_b_seconds` `go_goroutines`", nil},
		{"`logrelay_a_total_x` `logrelay_b_seconds` `go_*`", []string{"logrelay_a_total"}},
		{"`logrelay_a_total` `go_*`", []string{"logrelay_b_seconds"}},
		{"`logrelay_a_total` `logrelay_b_seconds` go_ metrics", []string{"go_goroutines"}},
	} {
		if got := undocumentedMetrics(families, tc.page); !slices.Equal(got, tc.want) {
			t.Errorf("undocumentedMetrics(page %q) = %q, want %q", tc.page, got, tc.want)
		}
	}

	doc := "# relay\n## Retries, ordering and delivery\n### tcp:// — framed TCP\n## scripts/\n```\n# not a heading\n```\n## Batching\n### Batching\n"
	if got, want := anchors(doc), []string{"relay", "retries-ordering-and-delivery", "tcp--framed-tcp", "scripts", "batching", "batching-1"}; !slices.Equal(got, want) {
		t.Errorf("anchors = %q, want %q", got, want)
	}
}

// helpFlags returns the long flag names a pflag usage text lists, in order.
func helpFlags(help string) []string {
	re := regexp.MustCompile(`(?m)^\s+(?:-[A-Za-z0-9], )?--([A-Za-z0-9][A-Za-z0-9-]*)`)
	var flags []string
	for _, m := range re.FindAllStringSubmatch(help, -1) {
		flags = append(flags, m[1])
	}
	return flags
}

// undocumentedFlags returns, as "--name", the flags that page never mentions
// as a whole word ("--max-pending" is not found in "--max-pending-bytes").
func undocumentedFlags(flags []string, page string) []string {
	var missing []string
	for _, f := range flags {
		re := regexp.MustCompile(`(^|[^A-Za-z0-9-])--` + regexp.QuoteMeta(f) + `($|[^A-Za-z0-9-])`)
		if !re.MatchString(page) {
			missing = append(missing, "--"+f)
		}
	}
	return missing
}

// metricFamilies returns the metric family names of a Prometheus text
// exposition (its "# HELP name" lines), in order.
func metricFamilies(body string) []string {
	re := regexp.MustCompile(`(?m)^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*)`)
	var names []string
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		names = append(names, m[1])
	}
	return names
}

// undocumentedMetrics returns the families that page never mentions as a
// whole word, except those covered by a prefix the page writes as `prefix_*`
// (the Go runtime's and the process collector's families).
func undocumentedMetrics(families []string, page string) []string {
	var prefixes []string
	for _, m := range regexp.MustCompile("`([a-zA-Z_:][a-zA-Z0-9_:]*_)\\*`").FindAllStringSubmatch(page, -1) {
		prefixes = append(prefixes, m[1])
	}
	var missing []string
	for _, f := range families {
		if slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(f, p) }) {
			continue
		}
		re := regexp.MustCompile(`(^|[^A-Za-z0-9_:])` + regexp.QuoteMeta(f) + `($|[^A-Za-z0-9_:])`)
		if !re.MatchString(page) {
			missing = append(missing, f)
		}
	}
	return missing
}

// pythonBlock returns the first ```python block of page.
func pythonBlock(t *testing.T, page string) string {
	t.Helper()
	_, rest, ok := strings.Cut(page, "```python\n")
	if !ok {
		t.Fatal("docs/wire.md has no ```python block")
	}
	block, _, ok := strings.Cut(rest, "\n```")
	if !ok {
		t.Fatal("docs/wire.md: the ```python block does not end")
	}
	return block + "\n"
}

// root is the module's root directory.
func root(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("module root: %v", err)
	}
	return dir
}

func readPage(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root(t), "docs", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var build struct {
	once sync.Once
	dir  string
	err  error
}

// binaries builds the four programs once per test binary and returns their
// directory (removed by TestMain's cleanup).
func binaries(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		build.dir, build.err = os.MkdirTemp("", "logrelay-docs-")
		if build.err != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", build.dir+string(filepath.Separator),
			"./relay", "./loadgen", "./mockdest", "./bench")
		cmd.Dir = root(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.dir
}

func removeBinaries() {
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
}

// syncBuffer is a bytes.Buffer a process writes to while the test reads it.
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

// proc is a process a test started; the test's cleanup kills it by its pid
// if it is still running.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{}
	err            error // Wait's result, set when done is closed
}

func startProcess(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(name, args...), stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}

// waitDial waits until addr accepts a connection (then closes it).
func waitDial(t *testing.T, addr string, p *proc) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s: %v\nstderr:\n%s", addr, err, p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func startMockdest(t *testing.T, dir string) string {
	t.Helper()
	addr := "127.0.0.1:" + freePort(t)
	p := startProcess(t, filepath.Join(dir, "mockdest"), "--listen", addr, "--log-level", "warn")
	waitDial(t, addr, p)
	return addr
}

// relayProc is a relay process with the addresses it serves.
type relayProc struct {
	*proc
	listen string // client address
	admin  string // admin HTTP base URL
}

// startRelay starts the relay binary forwarding to sink (a --sink value),
// with its admin endpoint on a free port and JSON logs, and waits until it
// serves. This is the one place that knows how the relay is started.
func startRelay(t *testing.T, dir, sink string, extra ...string) *relayProc {
	t.Helper()
	admin := "127.0.0.1:" + freePort(t)
	args := append([]string{"--listen", "127.0.0.1:0", "--admin", admin, "--sink", sink, "--log-format", "json"}, extra...)
	r := &relayProc{proc: startProcess(t, filepath.Join(dir, "relay"), args...), admin: "http://" + admin}
	deadline := time.Now().Add(10 * time.Second)
	for r.listen == "" {
		for _, l := range logLines(r.stderr.String()) {
			if l["msg"] == "relay listening" {
				r.listen, _ = l["addr"].(string)
			}
		}
		if r.listen != "" {
			break
		}
		if r.exited() || time.Now().After(deadline) {
			t.Fatalf("relay did not start listening\nstderr:\n%s", r.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for {
		resp, err := httpClient.Get(r.admin + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r
			}
		}
		if r.exited() || time.Now().After(deadline) {
			t.Fatalf("relay admin %s not serving: %v\nstderr:\n%s", r.admin, err, r.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop sends SIGTERM, requires exit status 0 within 10 s, and returns the
// relay's last log line ("relay stopped", with the totals).
func (r *relayProc) stop(t *testing.T) map[string]any {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("relay did not stop within 10 s of SIGTERM\nstderr:\n%s", r.stderr.String())
	}
	if r.err != nil {
		t.Fatalf("relay: %v\nstderr:\n%s", r.err, r.stderr.String())
	}
	lines := logLines(r.stderr.String())
	if len(lines) == 0 || lines[len(lines)-1]["msg"] != "relay stopped" {
		t.Fatalf("relay's last line is not \"relay stopped\"\nstderr:\n%s", r.stderr.String())
	}
	return lines[len(lines)-1]
}

// logLines decodes the JSON log lines of s, skipping any other line.
func logLines(s string) []map[string]any {
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			lines = append(lines, m)
		}
	}
	return lines
}

// send writes data on one connection to addr and closes it.
func send(t *testing.T, addr, data string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, data); err != nil {
		t.Fatal(err)
	}
}

// httpClient keeps no idle connections, so none outlives a test.
var httpClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}

func scrape(t *testing.T, admin string) string {
	t.Helper()
	resp, err := httpClient.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s\n%s", resp.Status, b)
	}
	return string(b)
}

// waitMetric waits up to 10 s until the unlabelled sample name reads want.
func waitMetric(t *testing.T, admin, name string, want float64) {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`)
	deadline := time.Now().Add(10 * time.Second)
	var last string
	for {
		if m := re.FindStringSubmatch(scrape(t, admin)); m != nil {
			last = m[1]
			if last == fmt.Sprint(want) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %q after 10 s, want %v", name, last, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
