package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// bulkDest is an HTTP destination in the manner of a bulk API: a request
// is a batch's messages, one a line; the answer is one status byte a
// message: 'o' stored, 'd' already had it, 'r' retry this one, 'x'
// refused for good. Messages named dup-… are duplicates, rej-… are refused,
// flaky-… must be retried once; every fourth batch's first request fails
// as a whole (503). The answer to batch 1's first request waits until
// hold is closed.
type bulkDest struct {
	hold chan struct{}

	mu       sync.Mutex
	stored   map[string]int // 'o' answers per message
	flaky    map[string]bool
	failed   map[string]bool // seqs whose first request got a 503
	held     bool            // batch 1's first answer is held (or was)
	requests int
	fails    int
}

func (d *bulkDest) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	seq := req.Header.Get("X-Seq")
	n, _ := strconv.Atoi(seq)
	d.mu.Lock()
	d.requests++
	if n%4 == 0 && !d.failed[seq] {
		d.failed[seq] = true
		d.fails++
		d.mu.Unlock()
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	hold := seq == "1" && !d.held
	d.held = d.held || hold
	var status []byte
	for line := range bytes.Lines(body) {
		m := string(bytes.TrimSuffix(line, []byte("\n")))
		switch {
		case bytes.HasPrefix(line, []byte("dup-")):
			status = append(status, 'd')
		case bytes.HasPrefix(line, []byte("rej-")):
			status = append(status, 'x')
		case bytes.HasPrefix(line, []byte("flaky-")) && !d.flaky[m]:
			d.flaky[m] = true
			status = append(status, 'r')
		default:
			d.stored[m]++
			status = append(status, 'o')
		}
	}
	d.mu.Unlock()
	if hold {
		select {
		case <-d.hold:
		case <-req.Context().Done():
			return
		}
	}
	w.Write(status)
}

// bulkSink is a prototype HTTP sink: Concurrency workers, each with one
// request in flight; per-message results; a message answered 'r' is sent
// again alone (with the other 'r's of its batch), never one answered
// otherwise; a failed request is retried whole after Feed.Backoff.
type bulkSink struct {
	t      *testing.T
	url    string
	client *http.Client

	mu      sync.Mutex
	settled []uint64 // seqs in settle order
	onSeq2  func()
}

func (s *bulkSink) String() string { return s.url }

func (s *bulkSink) Run(ctx context.Context, f *Feed) error {
	var wg sync.WaitGroup
	for range f.Policy().Concurrency {
		wg.Go(func() {
			for {
				b, ok := f.Next(ctx)
				if !ok {
					return
				}
				s.deliver(ctx, f, b)
			}
		})
	}
	wg.Wait()
	return ctx.Err()
}

func (s *bulkSink) deliver(ctx context.Context, f *Feed, b *Batch) {
	h := b.Header()
	todo := make([]int, b.Len())
	for i := range todo {
		todo[i] = i
	}
	var rejected []int
	dup, failures := 0, 0
	for len(todo) > 0 {
		var body bytes.Buffer
		k := 0
		for i, m := range b.All() {
			if m.RecvNs < h.OldestNs || m.RecvNs > h.FlushNs {
				s.t.Errorf("batch %d message %d: received at %d, outside [oldest %d, flush %d]", h.Seq, i, m.RecvNs, h.OldestNs, h.FlushNs)
			}
			if k < len(todo) && todo[k] == i {
				body.Write(m.Data)
				body.WriteByte('\n')
				k++
			}
		}
		f.Attempt(b)
		status, err := s.post(ctx, h.Seq, &body)
		if err == nil && len(status) != len(todo) {
			err = fmt.Errorf("%d results for %d messages", len(status), len(todo))
		}
		if err != nil {
			if ctx.Err() != nil {
				return // hard stop: the batch stays unsettled, counted undelivered
			}
			f.Failed()
			failures++
			t := f.Clock().NewTimer(f.Backoff(failures))
			select {
			case <-t.C():
			case <-ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		var retry []int
		for j, st := range status {
			switch st {
			case 'd':
				dup++
			case 'x':
				rejected = append(rejected, todo[j])
			case 'r':
				retry = append(retry, todo[j])
			}
		}
		todo = retry
	}
	slices.Sort(rejected)
	f.Settle(b, Outcome{Duplicate: dup, Rejected: rejected})
	s.mu.Lock()
	s.settled = append(s.settled, h.Seq)
	s.mu.Unlock()
	if h.Seq == 2 {
		s.onSeq2()
	}
}

func (s *bulkSink) post(ctx context.Context, seq uint64, body io.Reader) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Seq", strconv.FormatUint(seq, 10))
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %s", resp.Status)
	}
	return b, err
}

// TestHTTPLikeSink runs a request/response sink with per-message results
// through the real pipeline: several requests in flight, answers out of
// order (batch 1's waits for batch 2's), some messages retried alone, some
// refused for good, some whole requests failed and retried. Every message
// the destination stored is stored once, the pending limit (3 batches)
// releases its room at every settle, and the counters add up.
func TestHTTPLikeSink(t *testing.T) {
	t.Parallel()
	d := &bulkDest{hold: make(chan struct{}), stored: map[string]int{}, flaky: map[string]bool{}, failed: map[string]bool{}}
	srv := httptest.NewServer(d)
	defer srv.Close()
	client := srv.Client()
	defer client.CloseIdleConnections()
	var once sync.Once
	s := &bulkSink{t: t, url: srv.URL, client: client, onSeq2: func() { once.Do(func() { close(d.hold) }) }}

	cfg := testConfig("127.0.0.1:1")
	cfg.Sink = s
	cfg.SinkConcurrency = 4
	cfg.MaxPending = 300
	r := startRelay(t, cfg)
	c := dial(t, r)
	const total = 2000
	kinds := map[int]string{3: "dup", 5: "flaky", 7: "rej"}
	var lines bytes.Buffer
	for i := range total {
		kind := kinds[i%10]
		if kind == "" {
			kind = "ok"
		}
		fmt.Fprintf(&lines, "%s-%06d\n", kind, i)
	}
	if _, err := c.Write(lines.Bytes()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every message settled", func() bool {
		st := r.Stats()
		return st.Delivered+st.SinkRejected == total
	})
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}

	st := r.Stats()
	d.mu.Lock()
	defer d.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	batches := uint64(len(s.settled))
	if st.Received != total || st.Delivered != total*9/10 || st.Duplicates != total/10 || st.SinkRejected != total/10 ||
		st.Pending != 0 || st.PendingBytes != 0 {
		t.Errorf("got received %d delivered %d duplicates %d sink-rejected %d pending %d (%d bytes) "+
			"want %d, %d, %d, %d, 0 (0)", st.Received, st.Delivered, st.Duplicates, st.SinkRejected, st.Pending, st.PendingBytes,
			total, total*9/10, total/10, total/10)
	}
	if st.SinkErrors != uint64(d.fails) || st.Retries != uint64(d.requests)-batches || d.fails == 0 {
		t.Errorf("got sink errors %d, retries %d want %d (the 503s), %d (requests %d - batches %d)",
			st.SinkErrors, st.Retries, d.fails, uint64(d.requests)-batches, d.requests, batches)
	}
	if len(d.stored) != total*8/10 {
		t.Errorf("destination stored %d distinct messages want %d (ok and flaky)", len(d.stored), total*8/10)
	}
	for m, n := range d.stored {
		if n != 1 {
			t.Errorf("message %s stored %d times: an answered message was sent again", m, n)
		}
	}
	if i1, i2 := slices.Index(s.settled, 1), slices.Index(s.settled, 2); i1 < 0 || i2 < 0 || i2 > i1 {
		t.Errorf("settle order %v: want batch 2 settled before batch 1", s.settled)
	}
}

// quitSink gives up at once.
type quitSink struct{}

func (quitSink) String() string                         { return "quit://" }
func (quitSink) Run(ctx context.Context, f *Feed) error { return errGaveUp }

var errGaveUp = fmt.Errorf("gave up")

// TestSinkGivesUp: a sink that returns an error before its feed is closed
// makes Serve fail with that error; the messages it never settled are
// reported undelivered.
func TestSinkGivesUp(t *testing.T) {
	t.Parallel()
	cfg := testConfig("127.0.0.1:1")
	cfg.Sink = quitSink{}
	cfg.ShutdownTimeout = 50 * time.Millisecond
	r := startRelay(t, cfg)
	c := dial(t, r)
	sendLines(t, c, "m", 0, 5)
	waitFor(t, "the messages read", func() bool { return r.Stats().Received == 5 })
	err := r.stop()
	if !errors.Is(err, errGaveUp) || !errors.Is(err, ErrUndelivered) {
		t.Errorf("Serve: got %v want the sink's error and ErrUndelivered", err)
	}
}
