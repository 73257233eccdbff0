package loadgen

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

// sink is the test's counting listener: it reads lines, parses their
// stamps and records every (stream, seq) it receives.
type sink struct {
	t          testing.TB
	ln         net.Listener
	discard    bool          // only count bytes, do not parse
	pause      time.Duration // sleep this long before reading each conn's first bytes
	readRate   int           // bytes per second per connection (0 = unlimited)
	closeAfter int           // close each connection after this many lines (0 = never)

	mu      sync.Mutex
	seen    map[uint32]map[uint64]int
	lines   int
	foreign int
	bytes   int64
	first   time.Time
	last    time.Time
	conns   []connLife
	wg      sync.WaitGroup
}

// connLife is one accepted connection: its stream (from the first stamp)
// and when it was accepted and ended.
type connLife struct {
	stream      int
	accept, end time.Time
	reset       bool
}

func newSink(t testing.TB, rcvbuf int) *sink {
	t.Helper()
	lc := net.ListenConfig{}
	if rcvbuf > 0 {
		lc.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			})
			return errors.Join(err, serr)
		}
	}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{t: t, ln: ln, seen: map[uint32]map[uint64]int{}}
	t.Cleanup(s.close)
	return s
}

func (s *sink) addr() string { return s.ln.Addr().String() }

func (s *sink) start() *sink {
	s.wg.Go(func() {
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			i := len(s.conns)
			s.conns = append(s.conns, connLife{stream: -1, accept: time.Now()})
			s.mu.Unlock()
			s.wg.Go(func() { s.read(c, i) })
		}
	})
	return s
}

func (s *sink) close() {
	s.ln.Close()
	s.wg.Wait()
}

type slowReader struct {
	r    io.Reader
	rate int
}

func (r slowReader) Read(p []byte) (int, error) {
	if len(p) > r.rate/50 {
		p = p[:max(1, r.rate/50)]
	}
	n, err := r.r.Read(p)
	time.Sleep(time.Duration(float64(n) / float64(r.rate) * float64(time.Second)))
	return n, err
}

func (s *sink) read(c net.Conn, i int) {
	defer c.Close()
	if s.pause > 0 {
		time.Sleep(s.pause)
	}
	var r io.Reader = c
	if s.readRate > 0 {
		r = slowReader{c, s.readRate}
	}
	if s.discard {
		n, _ := io.Copy(io.Discard, r)
		s.mu.Lock()
		s.bytes += n
		s.mu.Unlock()
		return
	}
	br := bufio.NewReaderSize(r, 1<<16)
	for read := 0; ; read++ {
		if s.closeAfter > 0 && read == s.closeAfter {
			s.mu.Lock()
			s.conns[i].end = time.Now()
			s.mu.Unlock()
			return
		}
		line, err := br.ReadSlice('\n')
		if len(line) > 0 && err == nil {
			now := time.Now()
			st, ok := wire.ParseStamp(line)
			s.mu.Lock()
			s.bytes += int64(len(line))
			s.lines++
			if s.first.IsZero() {
				s.first = now
			}
			s.last = now
			if !ok {
				s.foreign++
			} else {
				m := s.seen[st.Stream]
				if m == nil {
					m = map[uint64]int{}
					s.seen[st.Stream] = m
				}
				m[st.Seq]++
				if s.conns[i].stream < 0 {
					s.conns[i].stream = int(st.Stream)
				}
			}
			s.mu.Unlock()
		}
		if err != nil && err != bufio.ErrBufferFull {
			s.mu.Lock()
			s.conns[i].end = time.Now()
			s.conns[i].reset = !errors.Is(err, io.EOF)
			s.mu.Unlock()
			return
		}
	}
}

// refusedAddr returns a loopback address nothing listens on: connecting
// to it is refused.
func refusedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// wait polls until cond holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (s *sink) lineCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lines
}

// checkReport checks the report's invariant against what the sink
// received: every seq of every stream in [1, LastSeq] outside Failed and
// AtRisk arrived exactly once, nothing beyond LastSeq arrived, and (when
// exact) nothing else is missing.
func (s *sink) checkReport(t testing.TB, rep *Report) (missingAtRisk int) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.foreign > 0 {
		t.Errorf("sink saw %d lines without a stamp", s.foreign)
	}
	in := func(rs []wire.SeqRange, q uint64) bool {
		i := sort.Search(len(rs), func(i int) bool { return rs[i].To >= q })
		return i < len(rs) && rs[i].From <= q
	}
	for _, sr := range rep.Streams {
		m := s.seen[sr.ID]
		for q := uint64(1); q <= sr.LastSeq; q++ {
			n := m[q]
			switch {
			case n > 1:
				t.Errorf("stream %d seq %d arrived %d times", sr.ID, q, n)
			case n == 0 && in(sr.AtRisk, q):
				missingAtRisk++
			case n == 0 && !in(sr.Failed, q):
				t.Errorf("stream %d seq %d (last %d) never arrived and is neither failed nor at risk", sr.ID, q, sr.LastSeq)
				return
			}
		}
		for q := range m {
			if q > sr.LastSeq || q == 0 {
				t.Errorf("stream %d: seq %d arrived beyond LastSeq %d", sr.ID, q, sr.LastSeq)
			}
		}
	}
	return missingAtRisk
}

// lockedWriter serialises writes for a test reading the result later.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

var errConnReset = syscall.ECONNRESET

// closeAfter makes the sink close each connection after reading n lines.
func (s *sink) closeAfterLines(n int) *sink {
	s.closeAfter = n
	return s
}
