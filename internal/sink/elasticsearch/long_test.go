//go:build long && !race

// The relay into a real VictoriaLogs against an ideal client of the same
// engine, in one run. Run it alone:
//
//	go test -tags long -run LongVictoriaLogsVsIdeal -v -count 1 ./internal/sink/elasticsearch/
//
// LOGRELAY_BENCH_CONC sets the concurrency (requests in flight, both
// sides; default 2), LOGRELAY_BENCH_ROUNDS the rounds (default 5) and
// LOGRELAY_BENCH_LINE_CONNS the connections the relay is fed over
// (default 4).
package elasticsearch

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/bench/ideal"
	"github.com/logrelay/logrelay/internal/bench/procstat"

	"github.com/logrelay/logrelay/internal/relay"
	"github.com/logrelay/logrelay/internal/wire"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestLongVictoriaLogsVsIdeal measures, in rounds that alternate, the
// rate at which VictoriaLogs stores documents (1) from an ideal client:
// the test POSTing prebuilt 100-document _bulk bodies of the same lines
// over keep-alive connections, conc requests in flight, no relay; (2) through the relay:
// loadgen (4 connections, unpaced) → relay (batch 100, --sink-concurrency
// conc) → the same node, from the first line written to the last batch
// settled, the lines (shaped like loadgen's JSON, 200 bytes, distinct
// stamps) prebuilt and written over 4 connections as fast as the relay
// reads them, so the sender costs little. It reports the medians and the
// relay's ratio to the ideal client. Both share the machine's 2 cores with
// VictoriaLogs.
func TestLongVictoriaLogsVsIdeal(t *testing.T) {
	bin := vlBinary(t)
	conc := envInt("LOGRELAY_BENCH_CONC", 2)
	rounds := envInt("LOGRELAY_BENCH_ROUNDS", 5)
	const perRound = 200_000
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	vl := startVL(t, ctx, bin)
	endpoint := "http://" + vl.Addr() + "/insert/elasticsearch/_bulk?_msg_field=msg&_time_field=@timestamp&_stream_fields=host"
	lines := ideal.Lines(perRound, envInt("LOGRELAY_BENCH_LINE_CONNS", 4))

	var idealRates, viaRelay, vlIdeal, vlRelay, selfIdeal, selfRelay []float64
	// cpu runs f and returns VictoriaLogs' and this process's CPU ns per
	// document meanwhile.
	cpu := func(f func()) (vlNs, selfNs float64) {
		v0, _ := procstat.Read(vl.PID())
		s0, _ := procstat.Read(0)
		f()
		v1, _ := procstat.Read(vl.PID())
		s1, _ := procstat.Read(0)
		return (v1.CPUSeconds - v0.CPUSeconds) * 1e9 / perRound, (s1.CPUSeconds - s0.CPUSeconds) * 1e9 / perRound
	}
	for i := range rounds {
		bodies := ideal.Bodies(lines, 100, wire.BulkFormat{}) // this round's receive times, as the relay's are
		var rate float64
		v, sf := cpu(func() {
			res, err := ideal.Post(ctx, ideal.Config{Endpoint: endpoint, Bodies: bodies, Concurrency: conc})
			if err != nil {
				t.Fatal(err)
			}
			rate = res.Rate()
		})
		idealRates, vlIdeal, selfIdeal = append(idealRates, rate), append(vlIdeal, v), append(selfIdeal, sf)
		v, sf = cpu(func() { rate = relayRate(t, ctx, vl.Addr(), conc, lines, perRound) })
		viaRelay, vlRelay, selfRelay = append(viaRelay, rate), append(vlRelay, v), append(selfRelay, sf)
		t.Logf("round %d: ideal client %.0f docs/s, relay %.0f docs/s (%.0f%%)", i+1, idealRates[i], viaRelay[i], 100*viaRelay[i]/idealRates[i])
	}
	t.Logf("CPU per document, medians: VictoriaLogs %.0f ns fed by the ideal client, %.0f ns fed by the relay; "+
		"this process (the ideal client; the relay and its sender) %.0f ns and %.0f ns",
		median(vlIdeal), median(vlRelay), median(selfIdeal), median(selfRelay))
	mi, mr := median(idealRates), median(viaRelay)
	ratios := make([]float64, rounds)
	for i := range ratios {
		ratios[i] = viaRelay[i] / idealRates[i]
	}
	t.Logf("medians over %d rounds of %d documents, batch 100, concurrency %d: ideal client %.0f docs/s, relay %.0f docs/s; "+
		"relay/ideal ratio median %.2f (per round %v)", rounds, perRound, conc, mi, mr, median(ratios), fmtRatios(ratios))
	vl.ForceFlush(ctx)
	if rows, _ := countBack(t, ctx, vl); rows != int64(2*rounds*perRound) {
		t.Errorf("VictoriaLogs holds %d rows, want %d", rows, 2*rounds*perRound)
	}
}

// TestLongVictoriaLogsRequestVariants sends the ideal client's bodies to
// one VictoriaLogs node with one difference to the relay's requests at a
// time, in rounds that rotate the order, and reports VictoriaLogs' CPU per
// document for each (medians): the experiment that finds which of the
// relay's request traits costs the engine. Variants: ideal (as
// TestLongVictoriaLogsVsIdeal's ideal client: no filter_path, no batch
// headers, distinct times 1 µs apart); filter_path (the sink's default
// query parameter); batch headers (the X-Logrelay-* headers); shared times
// (every document of a body has one time, as the relay's messages of one
// read share its receive time); relay-like (all three); paced (the ideal
// requests, each sender pausing 400 µs after each answer, which feeds the
// engine at about the relay's rate).
// LOGRELAY_BENCH_DOCS sets the documents per variant and round (default
// 100,000; VictoriaLogs' CPU time comes in 10 ms ticks, 100 ns a document
// at the default).
//
//	go test -tags long -run LongVictoriaLogsRequestVariants -v -count 1 ./internal/sink/elasticsearch/
func TestLongVictoriaLogsRequestVariants(t *testing.T) {
	bin := vlBinary(t)
	conc := envInt("LOGRELAY_BENCH_CONC", 2)
	rounds := envInt("LOGRELAY_BENCH_ROUNDS", 5)
	perRound := envInt("LOGRELAY_BENCH_DOCS", 100_000) / 100 * 100
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	vl := startVL(t, ctx, bin)
	base := "http://" + vl.Addr() + "/insert/elasticsearch/_bulk?_msg_field=msg&_time_field=@timestamp&_stream_fields=host"
	withFP := base + "&filter_path=" + url.QueryEscape("errors,items.*.status,items.*.error")
	lines := ideal.Lines(perRound, 4)
	type variant struct {
		name     string
		endpoint string
		shared   bool
		headers  bool
		gap      time.Duration
	}
	variants := []variant{
		{"ideal", base, false, false, 0}, {"filter_path", withFP, false, false, 0}, {"batch headers", base, false, true, 0},
		{"shared times", base, true, false, 0}, {"relay-like", withFP, true, true, 0}, {"paced", base, false, false, 400 * time.Microsecond},
	}
	vlNs := make([][]float64, len(variants))
	rates := make([][]float64, len(variants))
	for r := range rounds {
		for k := range variants {
			j := (k + r) % len(variants)
			v := variants[j]
			step := int64(1000)
			if v.shared {
				step = 0
			}
			bodies := ideal.BodiesStep(lines, 100, wire.BulkFormat{}, step)
			v0, _ := procstat.Read(vl.PID())
			rate := postRate(t, ctx, ideal.Config{Endpoint: v.endpoint, Bodies: bodies, Concurrency: conc,
				Requests: perRound / 100, BatchHeaders: v.headers, Gap: v.gap})
			rates[j] = append(rates[j], rate)
			v1, _ := procstat.Read(vl.PID())
			vlNs[j] = append(vlNs[j], (v1.CPUSeconds-v0.CPUSeconds)*1e9/float64(perRound))
		}
	}
	for j, v := range variants {
		var each []string
		for _, ns := range vlNs[j] {
			each = append(each, fmt.Sprintf("%.0f", ns))
		}
		t.Logf("%-14s %6.0f docs/s; VictoriaLogs CPU per document: median %.0f ns (rounds %s)",
			v.name, median(rates[j]), median(vlNs[j]), strings.Join(each, " "))
	}
}

// postRate sends with the ideal client and returns documents per second.
func postRate(t *testing.T, ctx context.Context, c ideal.Config) float64 {
	t.Helper()
	res, err := ideal.Post(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	return res.Rate()
}

func fmtRatios(r []float64) string {
	var s []string
	for _, v := range r {
		s = append(s, fmt.Sprintf("%.2f", v))
	}
	return strings.Join(s, " ")
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// relayRate writes lines (one buffer per connection, total lines in all)
// through a fresh relay into the node at addr and returns messages per
// second, first write to last settled.
func relayRate(t *testing.T, ctx context.Context, addr string, conc int, lines [][]byte, total int) float64 {
	t.Helper()
	r, stop := startRelay(t, vlSink(t, addr, IDNone), func(c *relay.Config) {
		c.BatchSize, c.FlushInterval = 100, time.Second
		c.SinkConcurrency = conc
		c.RetryBase, c.RetryMax = 100*time.Millisecond, time.Second
	})
	defer stop()
	start := time.Now()
	var wg sync.WaitGroup
	for _, buf := range lines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", r.Addr().String())
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			if _, err := c.Write(buf); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	waitDelivered(t, r, uint64(total), 5*time.Minute)
	el := time.Since(start)
	if st := r.Stats(); st.SinkErrors != 0 {
		t.Logf("relay round: %d sink errors, %d retries", st.SinkErrors, st.Retries)
	}
	return float64(total) / el.Seconds()
}

// TestLongRelayCPUBulkVsTCP measures the relay process's CPU time per
// message (utime+stime from /proc) through the _bulk sink and through the
// TCP sink, in alternating rounds of the same run: the relay binary, batch
// 100, --sink-concurrency 2, 600,000 prebuilt 200-byte JSON lines over 4
// connections; the receivers run in the test process and cost the relay
// nothing (a frame reader that acks each frame; an HTTP server that counts
// the documents and answers as Elasticsearch does with filter_path, each
// item's status). It reports the medians and their ratio.
// LOGRELAY_BENCH_BATCH sets the batch size (default 100).
// LOGRELAY_BENCH_BASE_RELAY names another relay binary (e.g. one built from
// main) whose _bulk sink is measured in the same rounds, interleaved, for a
// before/after comparison. LOGRELAY_BENCH_PROFILE names a directory: each
// _bulk round of the binary under test then also writes a 2-second CPU
// profile of the relay (from its /debug/pprof/profile) there, and the
// rounds send 4 times as many lines so the profile covers the sending.
//
//	go test -tags long -run LongRelayCPUBulkVsTCP -v -count 1 ./internal/sink/elasticsearch/
func TestLongRelayCPUBulkVsTCP(t *testing.T) {
	rounds := envInt("LOGRELAY_BENCH_ROUNDS", 5)
	const total = 600_000
	bin := filepath.Join(t.TempDir(), "relay")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/logrelay/logrelay/relay").CombinedOutput(); err != nil {
		t.Fatalf("build the relay: %v\n%s", err, out)
	}
	profDir := os.Getenv("LOGRELAY_BENCH_PROFILE")
	n := total
	if profDir != "" {
		n = 4 * total
	}
	lines := ideal.Lines(n, 4)
	base := os.Getenv("LOGRELAY_BENCH_BASE_RELAY")
	kinds := []string{"tcp", "bulk"}
	if base != "" {
		kinds = append(kinds, "base")
	}
	var tcpNs, bulkNs, baseNs []float64
	for i := range rounds {
		order := slices.Clone(kinds)
		if i%2 == 1 {
			slices.Reverse(order)
		}
		for _, kind := range order {
			switch kind {
			case "tcp":
				tcpNs = append(tcpNs, relayCPUPerMessage(t, bin, "tcp", lines, n, ""))
			case "bulk":
				prof := ""
				if profDir != "" {
					prof = filepath.Join(profDir, fmt.Sprintf("bulk-%d.pprof", i+1))
				}
				bulkNs = append(bulkNs, relayCPUPerMessage(t, bin, "bulk", lines, n, prof))
			case "base":
				baseNs = append(baseNs, relayCPUPerMessage(t, base, "bulk", lines, n, ""))
			}
		}
		t.Logf("round %d: relay CPU per message: tcp %.0f ns, bulk %.0f ns (%.2fx)", i+1, tcpNs[i], bulkNs[i], bulkNs[i]/tcpNs[i])
		if base != "" {
			t.Logf("round %d: base relay's bulk %.0f ns (%.2fx tcp)", i+1, baseNs[i], baseNs[i]/tcpNs[i])
		}
	}
	ratio := func(a []float64) []float64 {
		r := make([]float64, rounds)
		for i := range r {
			r[i] = a[i] / tcpNs[i]
		}
		return r
	}
	ratios := ratio(bulkNs)
	t.Logf("medians over %d rounds of %d messages: relay CPU per message tcp %.0f ns, bulk %.0f ns; bulk/tcp ratio median %.2f (per round %s)",
		rounds, n, median(tcpNs), median(bulkNs), median(ratios), fmtRatios(ratios))
	if base != "" {
		br := ratio(baseNs)
		t.Logf("base relay %s: bulk %.0f ns; bulk/tcp ratio median %.2f (per round %s)", base, median(baseNs), median(br), fmtRatios(br))
	}
}

// relayCPUPerMessage runs the relay binary with a sink of kind ("tcp" or
// "bulk") into a receiver in this process, writes lines, waits for total
// messages at the receiver, and returns the relay's CPU ns per message.
// With prof set, it also writes a 2-second CPU profile of the relay there,
// taken from the start of the writing.
func relayCPUPerMessage(t *testing.T, bin, kind string, lines [][]byte, total int, prof string) float64 {
	t.Helper()
	var got atomic.Int64
	done := make(chan struct{})
	count := func(n int) {
		if got.Add(int64(n)) == int64(total) {
			close(done)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var sinkURL string
	switch kind {
	case "tcp":
		sinkURL = "tcp://" + ln.Addr().String()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					fr := wire.NewReader(bufio.NewReaderSize(c, 1<<20), 0)
					var ack []byte
					for {
						h, _, err := fr.ReadFrame()
						if err != nil {
							return
						}
						count(int(h.Count))
						ack = wire.AppendAck(ack[:0], wire.Ack{Seq: h.Seq, Status: wire.AckOK})
						if _, err := c.Write(ack); err != nil {
							return
						}
					}
				}()
			}
		}()
	case "bulk":
		sinkURL = "elasticsearch+http://" + ln.Addr().String()
		item := []byte(`{"create":{"status":201}}`)
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			n := bytes.Count(body, []byte("\n")) / 2
			out := append(make([]byte, 0, 40+n*26), `{"errors":false,"items":[`...)
			for i := range n {
				if i > 0 {
					out = append(out, ',')
				}
				out = append(out, item...)
			}
			w.Write(append(out, "]}"...))
			count(n)
		})}
		go srv.Serve(ln)
		defer srv.Close()
	}
	port, err := freeTCPPort()
	if err != nil {
		t.Fatal(err)
	}
	listen := "127.0.0.1:" + strconv.Itoa(port)
	admin := ""
	if prof != "" {
		ap, err := freeTCPPort()
		if err != nil {
			t.Fatal(err)
		}
		admin = "127.0.0.1:" + strconv.Itoa(ap)
	}
	cmd := exec.Command(bin, "--listen", listen, "--admin", admin, "--sink", sinkURL, "--batch-size", strconv.Itoa(envInt("LOGRELAY_BENCH_BATCH", 100)),
		"--flush-interval", "1s", "--sink-concurrency", "2", "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.Dial("tcp", listen)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay not listening on %s", listen)
		}
		time.Sleep(5 * time.Millisecond)
	}
	before, err := procstat.Read(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	if prof != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get("http://" + admin + "/debug/pprof/profile?seconds=2")
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			f, err := os.Create(prof)
			if err != nil {
				t.Error(err)
				return
			}
			defer f.Close()
			io.Copy(f, resp.Body)
		}()
	}
	for _, buf := range lines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", listen)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.Write(buf)
		}()
	}
	wg.Wait()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("%s: the receiver got %d of %d", kind, got.Load(), total)
	}
	after, err := procstat.Read(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return (after.CPUSeconds - before.CPUSeconds) * 1e9 / float64(total)
}

func freeTCPPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
