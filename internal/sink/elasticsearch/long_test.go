//go:build long && !race

// The relay into a real VictoriaLogs against an ideal client of the same
// engine, in one run. Run it alone:
//
//	go test -tags long -run LongVictoriaLogsVsIdeal -v -count 1 ./internal/sink/elasticsearch/
//
// LOGRELAY_BENCH_CONC sets the concurrency (requests in flight, both
// sides; default 2) and LOGRELAY_BENCH_ROUNDS the rounds (default 5).
package elasticsearch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
// the test POSTing prebuilt 100-document _bulk bodies over keep-alive
// connections, conc requests in flight, no relay; (2) through the relay:
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
	bodies := idealBodies(200)
	lines := relayLines(perRound, 4)

	var ideal, viaRelay []float64
	for i := range rounds {
		ideal = append(ideal, idealRate(t, ctx, endpoint, bodies, conc, perRound))
		viaRelay = append(viaRelay, relayRate(t, ctx, vl.Addr(), conc, lines, perRound))
		t.Logf("round %d: ideal client %.0f docs/s, relay %.0f docs/s (%.0f%%)", i+1, ideal[i], viaRelay[i], 100*viaRelay[i]/ideal[i])
	}
	mi, mr := median(ideal), median(viaRelay)
	ratios := make([]float64, rounds)
	for i := range ratios {
		ratios[i] = viaRelay[i] / ideal[i]
	}
	t.Logf("medians over %d rounds of %d documents, batch 100, concurrency %d: ideal client %.0f docs/s, relay %.0f docs/s; "+
		"relay/ideal ratio median %.2f (per round %v)", rounds, perRound, conc, mi, mr, median(ratios), fmtRatios(ratios))
	vl.ForceFlush(ctx)
	if rows, _ := countBack(t, ctx, vl); rows != int64(2*rounds*perRound) {
		t.Errorf("VictoriaLogs holds %d rows, want %d", rows, 2*rounds*perRound)
	}
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

// jsonLine is a 200-byte line shaped like loadgen's JSON format, with a
// stamp of stream and seq.
func jsonLine(stream uint32, seq uint64, sentNs int64) []byte {
	var st [wire.StampLen]byte
	wire.PutStamp(st[:], wire.Stamp{Stream: stream, Seq: seq, SentNs: sentNs})
	line := fmt.Sprintf(`{"ts":"2026-12-01T19:00:00.000Z","level":"info","service":"checkout","host":"web-0%d","trace":"%016x","stamp":"%s","msg":"`,
		seq%6, uint64(stream)<<32|seq, st[:])
	line += strings.Repeat("request completed ", 10)[:199-len(line)-2] + `"}`
	return []byte(line)
}

// relayLines returns total lines split over conns buffers, one per
// connection, each line followed by '\n'.
func relayLines(total, conns int) [][]byte {
	out := make([][]byte, conns)
	now := time.Now().UnixNano()
	for i := range total {
		c := i % conns
		out[c] = append(append(out[c], jsonLine(uint32(c), uint64(i/conns+1), now)...), '\n')
	}
	return out
}

// idealBodies returns n _bulk bodies of 100 documents each, encoded as the
// relay encodes them, from 200-byte JSON lines shaped like loadgen's
// (ts, level, service, host, trace, stamp, msg), with distinct stamps.
func idealBodies(n int) [][]byte {
	enc := wire.NewBulkEncoder(wire.BulkFormat{})
	now := time.Now().UnixNano()
	out := make([][]byte, n)
	for i := range out {
		var b []byte
		for j := range 100 {
			b = enc.Append(b, jsonLine(uint32(90_000+i), uint64(j+1), now), now+int64(i*100+j)*1000, nil)
		}
		out[i] = b
	}
	return out
}

// idealRate POSTs bodies (cycling) with conc requests in flight until
// total documents are stored, and returns documents per second.
func idealRate(t *testing.T, ctx context.Context, endpoint string, bodies [][]byte, conc, total int) float64 {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: conc, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var next atomic.Int64
	requests := int64(total / 100)
	var wg sync.WaitGroup
	var failed atomic.Value
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 16<<10)
			for {
				k := next.Add(1) - 1
				if k >= requests || ctx.Err() != nil {
					return
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(bodies[k%int64(len(bodies))]))
				req.Header.Set("Content-Type", wire.BulkContentType)
				resp, err := client.Do(req)
				if err != nil {
					failed.Store(err.Error())
					return
				}
				buf, _ = readAll(resp.Body, buf)
				resp.Body.Close()
				if resp.StatusCode != 200 || !bytes.Contains(buf, []byte(`"errors":false`)) {
					failed.Store(fmt.Sprintf("HTTP %d: %.200s", resp.StatusCode, buf))
					return
				}
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f != nil {
		t.Fatalf("ideal client: %v", f)
	}
	return float64(total) / time.Since(start).Seconds()
}

func readAll(r io.Reader, buf []byte) ([]byte, error) {
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			if err == io.EOF {
				return buf, nil
			}
			return buf, err
		}
	}
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
