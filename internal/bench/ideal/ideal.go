// Package ideal provides the ideal client of a _bulk engine — the
// ceiling a relay into that engine is measured against — and the lines
// both are fed: Lines builds stamped 200-byte JSON log lines, one buffer
// per connection; Feed writes them to a relay as fast as it reads; Bodies
// encodes the very same lines into _bulk bodies as the relay's _bulk sink
// encodes them; Post sends those prebuilt bodies with a fixed number of
// requests in flight over keep-alive connections, costing the engine what
// a relay's requests cost it and the client next to nothing.
package ideal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/logrelay/logrelay/internal/wire"
)

// ErrEngine means the engine refused or failed a request of the ideal
// client.
var ErrEngine = errors.New("ideal client: engine answered an error")

// LineSize is the length of a Line, without its newline.
const LineSize = 199

// Line returns one JSON log line of LineSize bytes shaped like loadgen's
// (ts, level, service, host, trace, msg) with a loadgen stamp of stream,
// seq and sentNs in its "stamp" field.
func Line(stream uint32, seq uint64, sentNs int64) []byte {
	var st [wire.StampLen]byte
	wire.PutStamp(st[:], wire.Stamp{Stream: stream, Seq: seq, SentNs: sentNs})
	line := fmt.Sprintf(`{"ts":"2026-12-01T19:00:00.000Z","level":"info","service":"checkout","host":"web-0%d","trace":"%016x","stamp":"%s","msg":"`,
		seq%6, uint64(stream)<<32|seq, st[:])
	line += strings.Repeat("request completed ", 10)[:LineSize-len(line)-2] + `"}`
	return []byte(line)
}

// Lines returns total Lines, each followed by '\n', dealt round-robin over
// conns buffers (one per connection; buffer c holds stream c, seqs from 1).
func Lines(total, conns int) [][]byte {
	out := make([][]byte, conns)
	now := time.Now().UnixNano()
	for i := range total {
		c := i % conns
		out[c] = append(append(out[c], Line(uint32(c), uint64(i/conns+1), now)...), '\n')
	}
	return out
}

// Feed writes each buffer of lines on its own TCP connection to addr, all
// at once, and closes them; it returns when every write is done.
func Feed(ctx context.Context, addr string, lines [][]byte) error {
	errs := make([]error, len(lines))
	var wg sync.WaitGroup
	for i, buf := range lines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				errs[i] = fmt.Errorf("feed %s: %w", addr, err)
				return
			}
			defer c.Close()
			if _, err := c.Write(buf); err != nil {
				errs[i] = fmt.Errorf("feed %s: %w", addr, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Bodies returns _bulk bodies of perBody documents each (the last may
// hold fewer), encoded with format as the relay's _bulk sink encodes
// them, holding lines in order, with receive times from now, 1 µs apart.
func Bodies(lines [][]byte, perBody int, format wire.BulkFormat) [][]byte {
	return BodiesStep(lines, perBody, format, 1000)
}

// BodiesStep is Bodies with document n's receive time now + n×stepNs; with
// stepNs 0 every document of a body has the body's time (body k: now +
// k×100 µs), as the relay gives every message of one read the read's
// receive time.
func BodiesStep(lines [][]byte, perBody int, format wire.BulkFormat, stepNs int64) [][]byte {
	enc := wire.NewBulkEncoder(format)
	now := time.Now().UnixNano()
	var out [][]byte
	var b []byte
	n := 0
	for _, buf := range lines {
		for len(buf) > 0 {
			i := bytes.IndexByte(buf, '\n')
			if i < 0 {
				i = len(buf)
			}
			t := now + int64(n)*stepNs
			if stepNs == 0 {
				t = now + int64(n/perBody)*100_000
			}
			b = enc.Append(b, buf[:i], t, nil)
			buf = buf[min(i+1, len(buf)):]
			if n++; n%perBody == 0 {
				out, b = append(out, b), nil
			}
		}
	}
	if len(b) > 0 {
		out = append(out, b)
	}
	return out
}

// Config is one run of the ideal client.
type Config struct {
	// Endpoint is the engine's _bulk URL (http://…/_bulk?…).
	Endpoint string
	// Bodies are the prebuilt bodies, sent in order, cycling.
	Bodies [][]byte
	// Requests is how many requests to send; 0 = len(Bodies).
	Requests int
	// Concurrency is the number of requests in flight (and keep-alive
	// connections); 0 = 1.
	Concurrency int
	// Timeout bounds each request; 0 = 30 s.
	Timeout time.Duration
	// BatchHeaders adds the relay's X-Logrelay-* batch headers
	// (wire.SetBatchHeaders) to every request: request k is batch k+1,
	// flushed by size now, so the engine sees what a relay's requests carry.
	BatchHeaders bool
	// Gap is a pause each sender takes after each answer, so the engine is
	// fed below its capacity; 0 = none.
	Gap time.Duration
}

// Result is what a run of the ideal client measured.
type Result struct {
	Requests int           // requests answered 200 without item errors
	Docs     int           // documents in them
	Bytes    int64         // request body bytes sent
	Elapsed  time.Duration // first request sent to last answer read
	// Latency holds each request's time from sending to its answer read,
	// in µs (1 µs to 1 min, 3 significant digits).
	Latency *hdrhistogram.Histogram
}

// Rate returns documents per second.
func (r Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Docs) / r.Elapsed.Seconds()
}

// Post sends c.Requests of c.Bodies to c.Endpoint with c.Concurrency
// requests in flight and returns what it measured. It stops at the first
// request the engine fails (an error wrapping ErrEngine, with the answer's
// start) or that cannot be sent, and when ctx ends.
func Post(ctx context.Context, c Config) (Result, error) {
	if len(c.Bodies) == 0 {
		return Result{}, errors.New("ideal client: no bodies")
	}
	conc := max(c.Concurrency, 1)
	requests := c.Requests
	if requests <= 0 {
		requests = len(c.Bodies)
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	docs := make([]int, len(c.Bodies))
	for i, b := range c.Bodies {
		docs[i] = bytes.Count(b, []byte{'\n'}) / 2
	}
	tr := &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: timeout}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var next atomic.Int64
	var mu sync.Mutex
	res := Result{Latency: hdrhistogram.New(1, int64(time.Minute/time.Microsecond), 3)}
	var firstErr error
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		cancel()
	}
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 16<<10)
			for {
				k := int(next.Add(1) - 1)
				if k >= requests || ctx.Err() != nil {
					return
				}
				i := k % len(c.Bodies)
				t0 := time.Now()
				var err error
				var h *wire.Header
				if c.BatchHeaders {
					now := time.Now().UnixNano()
					h = &wire.Header{Seq: uint64(k + 1), Count: uint32(docs[i]), OldestNs: now, FlushNs: now, Reason: wire.ReasonSize}
				}
				buf, err = post(ctx, client, c.Endpoint, c.Bodies[i], h, buf)
				if err != nil {
					fail(err)
					return
				}
				lat := time.Since(t0)
				mu.Lock()
				res.Requests++
				res.Docs += docs[i]
				res.Bytes += int64(len(c.Bodies[i]))
				res.Latency.RecordValue(max(lat.Microseconds(), 1))
				mu.Unlock()
				if c.Gap > 0 {
					select {
					case <-ctx.Done():
					case <-time.After(c.Gap):
					}
				}
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	if firstErr == nil && ctx.Err() != nil && res.Requests < requests {
		firstErr = fmt.Errorf("ideal client: %w", ctx.Err())
	}
	return res, firstErr
}

// post sends one body, with batch headers h unless nil, and checks the
// answer: 200 with "errors":false.
func post(ctx context.Context, client *http.Client, endpoint string, body []byte, h *wire.Header, buf []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return buf, fmt.Errorf("ideal client: %w", err)
	}
	req.Header.Set("Content-Type", wire.BulkContentType)
	if h != nil {
		wire.SetBatchHeaders(req.Header, *h, int(h.Count))
	}
	resp, err := client.Do(req)
	if err != nil {
		return buf, fmt.Errorf("ideal client: %w", err)
	}
	buf, err = readAll(resp.Body, buf)
	resp.Body.Close()
	if err != nil {
		return buf, fmt.Errorf("ideal client: read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK || !bytes.Contains(buf, []byte(`"errors":false`)) {
		return buf, fmt.Errorf("%w: HTTP %d: %.200s", ErrEngine, resp.StatusCode, buf)
	}
	return buf, nil
}

// readAll reads r into buf[:0], growing it as needed.
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
