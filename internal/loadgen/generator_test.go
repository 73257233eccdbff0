package loadgen

import (
	"context"
	"errors"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func run(t *testing.T, cfg Config) *Report {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := g.Run(context.Background())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

// TestExactCountAndSequences: the receiver gets exactly Count messages,
// each stream's seqs 1..LastSeq once, dealt evenly over the streams.
func TestExactCountAndSequences(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"as fast as possible", Config{Conns: 7, Count: 20001, Format: "raw", Size: 80}},
		{"paced", Config{Conns: 5, Count: 3003, Rate: 20000, Format: "syslog", Size: 300}},
		{"paced burst", Config{Conns: 3, Count: 2000, Rate: 20000, Burst: 10, Format: "apache"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSink(t, 0).start()
			tc.cfg.Addr = s.addr()
			rep := run(t, tc.cfg)
			n := uint64(tc.cfg.Count)
			if rep.Sent != n || rep.Scheduled != n || rep.WriteFailed != 0 || rep.AtRisk != 0 {
				t.Fatalf("got sent %d scheduled %d failed %d at risk %d want %d, %d, 0, 0",
					rep.Sent, rep.Scheduled, rep.WriteFailed, rep.AtRisk, n, n)
			}
			waitFor(t, 5*time.Second, "every line", func() bool { return s.lineCount() == int(n) })
			s.checkReport(t, rep)
			c := uint64(tc.cfg.Conns)
			for _, sr := range rep.Streams {
				want := n / c
				if uint64(sr.ID) < n%c {
					want++
				}
				if sr.LastSeq != want || sr.Sent != want || sr.Connects != 1 {
					t.Errorf("stream %d: got last seq %d sent %d connects %d want %d, %d, 1",
						sr.ID, sr.LastSeq, sr.Sent, sr.Connects, want, want)
				}
			}
			if tc.cfg.Rate > 0 && rep.ScheduleLag.TotalCount() != int64(n) {
				t.Errorf("schedule lag has %d values want %d", rep.ScheduleLag.TotalCount(), n)
			}
			if rep.ConnectLatency.TotalCount() != int64(tc.cfg.Conns) {
				t.Errorf("connect latency has %d values want %d", rep.ConnectLatency.TotalCount(), tc.cfg.Conns)
			}
		})
	}
}

// TestRate: a modest constant rate is met within ±2% over a few seconds,
// as sent and as received, and the stamps carry the intended times.
func TestRate(t *testing.T) {
	t.Parallel()
	s := newSink(t, 0).start()
	const rate, dur = 2000.0, 2500 * time.Millisecond
	rep := run(t, Config{Addr: s.addr(), Conns: 4, Rate: rate, Duration: dur})
	want := rate * dur.Seconds()
	if got := float64(rep.Sent); math.Abs(got/want-1) > 0.02 {
		t.Errorf("sent %v in %v want %v ±2%%", got, dur, want)
	}
	if math.Abs(rep.AchievedRate/rate-1) > 0.02 || math.Abs(rep.TargetRate/rate-1) > 0.02 {
		t.Errorf("achieved %v target %v want %v ±2%%", rep.AchievedRate, rep.TargetRate, rate)
	}
	waitFor(t, 5*time.Second, "every line", func() bool { return s.lineCount() == int(rep.Sent) })
	s.mu.Lock()
	span := s.last.Sub(s.first).Seconds()
	got := float64(s.lines-1) / span
	s.mu.Unlock()
	if math.Abs(got/rate-1) > 0.02 {
		t.Errorf("received at %v/s want %v ±2%%", got, rate)
	}
	s.checkReport(t, rep)
}

// TestRateProfiles: each profile sends about what its integral says, and
// the report's target rate agrees. Under -race on a loaded machine a paced
// run falls behind, so this bound is loose; TestRateProfilesTiming (timing
// tag, no -race) holds the same runs to ±3 %.
func TestRateProfiles(t *testing.T) { testRateProfiles(t, 0.2) }

// testRateProfiles runs each rate profile and checks what was sent and the
// report's target rate against the profile's integral, within tol.
func testRateProfiles(t *testing.T, tol float64) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  Config
		want float64
	}{
		{"steps", Config{RateSteps: []float64{500, 2000, 1000}, StepDuration: 500 * time.Millisecond}, (500 + 2000 + 1000) * 0.5},
		{"ramp-up then constant", Config{Rate: 2000, RampUp: 500 * time.Millisecond, Duration: 1500 * time.Millisecond}, 500 + 2000},
		{"linear ramp", Config{Rate: 1000, RampTo: 3000, Duration: time.Second}, 2000},
		{"sine", Config{Rate: 2000, SineAmplitude: 1000, SinePeriod: time.Second, Duration: time.Second}, 2000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSink(t, 0).start()
			tc.cfg.Addr, tc.cfg.Conns = s.addr(), 3
			rep := run(t, tc.cfg)
			if math.Abs(float64(rep.Sent)/tc.want-1) > tol {
				t.Errorf("sent %d want %v ±%.0f%%", rep.Sent, tc.want, tol*100)
			}
			secs := min(rep.End.Sub(rep.Start), tc.cfg.Duration)
			if secs == 0 {
				secs = rep.End.Sub(rep.Start)
			}
			if want := tc.want / secs.Seconds(); math.Abs(rep.TargetRate/want-1) > tol {
				t.Errorf("target rate %v want %v ±%.0f%%", rep.TargetRate, want, tol*100)
			}
		})
	}
}

// TestStreamBase: two generators with different stream bases share one
// receiver without their streams colliding, as loadgens on several
// machines share one mockdest.
func TestStreamBase(t *testing.T) {
	t.Parallel()
	s := newSink(t, 0).start()
	bases := []int{0, 3}
	reps := make([]*Report, len(bases))
	errs := make([]error, len(bases))
	var wg sync.WaitGroup
	for i, base := range bases {
		g, err := New(Config{Addr: s.addr(), Conns: 3, Count: 600, Rate: 6000, StreamBase: base})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { reps[i], errs[i] = g.Run(context.Background()) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("generator %d: %v", i, err)
		}
	}
	waitFor(t, 5*time.Second, "every line", func() bool { return s.lineCount() == 1200 })
	for i, rep := range reps {
		for j, sr := range rep.Streams {
			if want := uint32(bases[i] + j); sr.ID != want || sr.LastSeq != 200 {
				t.Errorf("generator %d stream %d: got id %d last seq %d want id %d, last seq 200", i, j, sr.ID, sr.LastSeq, want)
			}
		}
		s.checkReport(t, rep)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range uint32(6) {
		if n := len(s.seen[id]); n != 200 {
			t.Errorf("stream %d: got %d distinct seqs want 200 (one generator's each)", id, n)
		}
	}
	if len(s.seen) != 6 {
		t.Errorf("got %d streams want 6 (0-2 and 3-5)", len(s.seen))
	}
}

// TestBurstSchedule: with Burst b a stream's messages are due in groups of
// b at the group's first message's time; the average rate is unchanged.
func TestBurstSchedule(t *testing.T) {
	t.Parallel()
	g, err := New(Config{Addr: "127.0.0.1:1", Conns: 4, Rate: 4000, Burst: 5})
	if err != nil {
		t.Fatal(err)
	}
	s := &g.streams[1]
	first, _ := g.due(s, 0)
	for j := uint64(1); j < 5; j++ {
		if d, _ := g.due(s, j); d != first {
			t.Errorf("message %d of the first group due at %v want %v", j, d, first)
		}
	}
	next, _ := g.due(s, 5)
	if got, want := next-first, 5*time.Millisecond; got != want {
		t.Errorf("second group %v after the first want %v (5 messages at 1000/s per stream)", got, want)
	}
}

// connectRateSpan runs 11 connections at a connect rate of 50/s and
// returns the time from the sink's first accept to its last.
func connectRateSpan(t *testing.T) time.Duration {
	t.Helper()
	s := newSink(t, 0).start()
	run(t, Config{Addr: s.addr(), Conns: 11, Rate: 1000, Count: 200, ConnectRate: 50})
	// The run ends when the last stream has written its share; the sink's
	// accept loop may take the last connection from the backlog after that.
	waitFor(t, 5*time.Second, "11 accepted connections", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.conns) >= 11
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.conns) != 11 {
		t.Fatalf("%d connections want 11", len(s.conns))
	}
	first, last := s.conns[0].accept, s.conns[0].accept
	for _, c := range s.conns {
		if c.accept.Before(first) {
			first = c.accept
		}
		if c.accept.After(last) {
			last = c.accept
		}
	}
	return last.Sub(first)
}

// TestConnectRate: connection attempts are spaced by the limit (its upper
// bound is in timing_test.go).
func TestConnectRate(t *testing.T) {
	t.Parallel()
	if span := connectRateSpan(t); span < 180*time.Millisecond {
		t.Errorf("11 connections accepted within %v want ≥ 200ms at 50/s", span)
	}
}

// TestWaitTurn: the connect limiter lets the first attempt through at
// once, makes the next wait its interval, and gives a turn back when the
// wait is cut short.
func TestWaitTurn(t *testing.T) {
	t.Parallel()
	if err := waitTurn(context.Background(), nil); err != nil {
		t.Fatalf("no limit: %v", err)
	}
	l := rate.NewLimiter(1, 1) // one attempt per second
	start := time.Now()
	if err := waitTurn(context.Background(), l); err != nil || time.Since(start) > 100*time.Millisecond {
		t.Fatalf("first turn: %v after %v, want nil at once", err, time.Since(start))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := waitTurn(ctx, l); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second turn, cut short: got %v want %v", err, context.DeadlineExceeded)
	}
	// The cut-short turn was given back: the next is due one interval
	// after the first, not two.
	if d := l.Reserve().Delay(); d > time.Second || d < 800*time.Millisecond {
		t.Errorf("next turn due in %v, want ≈ 1s after the first", d)
	}
}

// The chaos runs of TestChaos and TestChaosProb. Their timing statistics
// (closes per second, backoff gaps) are checked in timing_test.go, outside
// -race; the tests here check what must hold however loaded the machine.
const (
	chaosEvery, chaosDur, chaosBase  = 40 * time.Millisecond, 2 * time.Second, 20 * time.Millisecond
	chaosConns, chaosP, chaosProbDur = 20, 0.5, 2 * time.Second
)

// runChaos runs ChaosEvery closes of both kinds against a sink and checks
// the accounting; it returns the report and the sink once every line that
// was not at risk has arrived.
func runChaos(t *testing.T) (*Report, *sink) {
	t.Helper()
	s := newSink(t, 0).start()
	rep := run(t, Config{Addr: s.addr(), Conns: 4, Rate: 4000, Duration: chaosDur, ChaosEvery: chaosEvery,
		ChaosAbortive: 0.5, ReconnectBase: chaosBase, ReconnectMax: 4 * chaosBase, Seed: 3})
	g, a := rep.Disconnects[CauseChaosGraceful], rep.Disconnects[CauseChaosAbortive]
	if g == 0 || a == 0 {
		t.Errorf("chaos closes: graceful %d abortive %d want both > 0", g, a)
	}
	if rep.Reconnects < g+a-uint64(rep.Conns) || rep.Reconnects > g+a {
		t.Errorf("reconnects %d after %d chaos closes", rep.Reconnects, g+a)
	}
	var perStream [4]uint64
	for _, sr := range rep.Streams {
		for i, c := range causes {
			perStream[i] += sr.Disconnects[c]
		}
		if sr.Connects != sr.Attempts-sr.ConnFails || sr.Sent+sr.WriteFailed != sr.LastSeq {
			t.Errorf("stream %d: %+v: connects ≠ attempts − failures or sent + failed ≠ last seq", sr.ID, sr)
		}
	}
	for i, c := range causes {
		if perStream[i] != rep.Disconnects[c] {
			t.Errorf("%s: streams sum to %d, total %d", c, perStream[i], rep.Disconnects[c])
		}
	}
	waitFor(t, 5*time.Second, "every line", func() bool {
		return uint64(s.lineCount()) >= rep.Sent-rep.AtRisk
	})
	time.Sleep(50 * time.Millisecond) // let stragglers of at-risk connections land
	s.checkReport(t, rep)
	return rep, s
}

// reconnectGaps returns, from the receiver's view, how many connections
// ended with a reset, and for every stream's connection after its first
// the time from the previous connection's end to its accept.
func (s *sink) reconnectGaps() (resets int, gaps []time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ends := map[int]time.Time{}
	for _, c := range s.conns {
		if c.reset {
			resets++
		}
		if e, ok := ends[c.stream]; ok {
			gaps = append(gaps, c.accept.Sub(e))
		}
		if !c.end.IsZero() {
			ends[c.stream] = c.end
		}
	}
	return resets, gaps
}

// TestChaos: ChaosEvery closes of both kinds, reconnects, and the
// accounting invariant holds; the receiver sees resets and reconnections.
func TestChaos(t *testing.T) {
	t.Parallel()
	_, s := runChaos(t)
	if resets, gaps := s.reconnectGaps(); resets == 0 || len(gaps) == 0 {
		t.Errorf("receiver saw %d resets and %d reconnections want both > 0", resets, len(gaps))
	}
}

// runChaosProb runs ChaosProb closes against a sink and checks the
// accounting; it returns the number of chaos closes.
func runChaosProb(t *testing.T) uint64 {
	t.Helper()
	s := newSink(t, 0).start()
	rep := run(t, Config{Addr: s.addr(), Conns: chaosConns, Rate: 2000, Duration: chaosProbDur, ChaosProb: chaosP,
		ChaosAbortive: 0.3, ReconnectBase: 10 * time.Millisecond, Seed: 5})
	closes := rep.Disconnects[CauseChaosGraceful] + rep.Disconnects[CauseChaosAbortive]
	waitFor(t, 5*time.Second, "every line", func() bool { return uint64(s.lineCount()) >= rep.Sent-rep.AtRisk })
	time.Sleep(50 * time.Millisecond)
	s.checkReport(t, rep)
	return closes
}

// TestChaosProb: connections are closed by chance, and the accounting
// holds.
func TestChaosProb(t *testing.T) {
	t.Parallel()
	if closes := runChaosProb(t); closes == 0 {
		t.Error("chaos closes: got 0 want > 0")
	}
}

// TestAbortiveLosesOnlyAtRisk: against a receiver that reads nothing for a
// while, abortive closes discard the unacknowledged send queue; every
// message lost is in AtRisk, and AtRisk is not empty.
func TestAbortiveLosesOnlyAtRisk(t *testing.T) {
	t.Parallel()
	s := newSink(t, 4096)
	s.pause = 300 * time.Millisecond
	s.start()
	rep := run(t, Config{Addr: s.addr(), Conns: 2, Rate: 20000, Duration: time.Second, Size: 500,
		ChaosEvery: 100 * time.Millisecond, ChaosAbortive: 1, SendBuffer: 8192, ReconnectBase: 10 * time.Millisecond})
	if rep.AtRisk == 0 {
		t.Fatalf("at risk 0 after %d abortive closes against a stalled reader", rep.Disconnects[CauseChaosAbortive])
	}
	time.Sleep(500 * time.Millisecond) // the paused readers drain what survived
	waitFor(t, 5*time.Second, "the sink to drain", func() bool {
		n := s.lineCount()
		time.Sleep(50 * time.Millisecond)
		return n == s.lineCount()
	})
	lost := s.checkReport(t, rep)
	t.Logf("abortive closes %d: at risk %d, of which lost %d", rep.Disconnects[CauseChaosAbortive], rep.AtRisk, lost)
	if lost == 0 {
		t.Errorf("no at-risk message was lost: want the test to exercise real loss")
	}
}

// TestRefusingListener: connections are retried with backoff until the
// listener comes back, then everything is delivered.
func TestRefusingListener(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // refuse for a while
	g, err := New(Config{Addr: addr, Conns: 3, Rate: 1000, Count: 600, ReconnectBase: 5 * time.Millisecond,
		ReconnectMax: 40 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		rep *Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := g.Run(context.Background())
		done <- result{rep, err}
	}()
	waitFor(t, 5*time.Second, "failed connects", func() bool { return g.Live().ConnectFailures >= 9 })
	s := &sink{t: t, seen: map[uint32]map[uint64]int{}}
	s.ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen again on %s: %v", addr, err)
	}
	t.Cleanup(s.close)
	s.start()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.rep.Sent != 600 || r.rep.ConnectFailures < 9 || r.rep.ConnectAttempts != r.rep.ConnectFailures+3 {
		t.Errorf("got sent %d, connect failures %d, attempts %d want 600, ≥ 9, failures + 3",
			r.rep.Sent, r.rep.ConnectFailures, r.rep.ConnectAttempts)
	}
	waitFor(t, 5*time.Second, "every line", func() bool { return s.lineCount() == 600 })
	s.checkReport(t, r.rep)
	// Messages that fell due while refused were sent late: recorded lag.
	if r.rep.ScheduleLag.Max() < 5000 {
		t.Errorf("max schedule lag %dµs want ≥ 5ms after refused connects", r.rep.ScheduleLag.Max())
	}
}

// TestNothingSent: a run that never connects, or sends nothing although
// messages were due, returns ErrNothingSent with its report; a schedule
// that asks for nothing is no failure.
func TestNothingSent(t *testing.T) {
	t.Parallel()
	refused := refusedAddr(t)
	live := newSink(t, 0).start()
	backoff := func(c Config) Config {
		c.ReconnectBase, c.ReconnectMax = 5*time.Millisecond, 20*time.Millisecond
		return c
	}
	for _, tc := range []struct {
		name   string
		cfg    Config
		cancel bool   // cancel the context after some connect failures
		want   string // "" = no error
	}{
		{"paced, never connected", Config{Addr: refused, Conns: 2, Rate: 1000, Duration: 200 * time.Millisecond}, false, "never connected"},
		{"unpaced, never connected", Config{Addr: refused, Duration: 200 * time.Millisecond}, false, "never connected"},
		{"unlimited, never connected", Config{Addr: refused, Rate: 1000}, true, "never connected"},
		{"count, gives up", Config{Addr: refused, Count: 1000, GiveUp: 200 * time.Millisecond}, false, "gave up after 200ms without a connection"},
		{"unlimited, gives up", Config{Addr: refused, Rate: 1000, GiveUp: 200 * time.Millisecond}, false, "gave up after 200ms"},
		{"unlimited, never gives up", Config{Addr: refused, Rate: 1000, GiveUp: -1}, true, "never connected"},
		{"nothing due", Config{Addr: live.addr(), RateSteps: []float64{0}, StepDuration: 100 * time.Millisecond}, false, ""},
		{"nothing due, never connected", Config{Addr: refused, RateSteps: []float64{0}, StepDuration: 100 * time.Millisecond}, false, "never connected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g, err := New(backoff(tc.cfg))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel {
				go func() {
					waitFor(t, 5*time.Second, "failed connects", func() bool { return g.Live().ConnectFailures >= 3 })
					cancel()
				}()
			}
			rep, err := g.Run(ctx)
			if rep == nil {
				t.Fatalf("got no report (error %v)", err)
			}
			if tc.want == "" {
				if err != nil {
					t.Errorf("got %v want no error", err)
				}
				return
			}
			if !errors.Is(err, ErrNothingSent) || !strings.Contains(err.Error(), tc.want) ||
				!strings.Contains(err.Error(), "connection refused") {
				t.Errorf("got %v want ErrNothingSent saying %q and the last connect error", err, tc.want)
			}
			if errors.Is(err, ErrInterrupted) {
				t.Errorf("got %v: an unlimited run is not interrupted by its context", err)
			}
		})
	}
}

// TestSlowReader: a receiver reading far below the rate makes writes
// block; the generator does not lower its schedule quietly but records
// the lag, and the stamps carry the intended send times.
func TestSlowReader(t *testing.T) {
	t.Parallel()
	s := newSink(t, 4096)
	s.readRate = 50_000 // bytes/s per connection, a tenth of the offered load
	s.start()
	const rate, dur = 2500.0, 1500 * time.Millisecond
	g, err := New(Config{Addr: s.addr(), Conns: 1, Rate: rate, Duration: dur, SendBuffer: 4096})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := g.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sent > uint64(rate*dur.Seconds()/2) {
		t.Fatalf("sent %d of %v into a reader taking a tenth: the test did not throttle", rep.Sent, rate*dur.Seconds())
	}
	if rep.TargetRate < rate*0.98 {
		t.Errorf("target rate %v want %v: the schedule must not drop", rep.TargetRate, rate)
	}
	if got := rep.ScheduleLag.TotalCount(); got != int64(rep.Sent) {
		t.Errorf("lag recorded for %d messages want every sent one, %d", got, rep.Sent)
	}
	if p90 := rep.ScheduleLag.ValueAtPercentile(90); p90 < 300_000 {
		t.Errorf("p90 schedule lag %dµs want ≥ 300ms behind a slow reader", p90)
	}
	t.Logf("sent %d, achieved %.0f/s of %.0f/s, lag p50 %dµs max %dµs", rep.Sent, rep.AchievedRate, rep.TargetRate,
		rep.ScheduleLag.ValueAtPercentile(50), rep.ScheduleLag.Max())
}

func TestInterruptedAndRunOnce(t *testing.T) {
	t.Parallel()
	s := newSink(t, 0).start()
	g, err := New(Config{Addr: s.addr(), Conns: 2, Rate: 1000, Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		waitFor(t, 5*time.Second, "some messages", func() bool { return g.Live().Sent >= 50 })
		cancel()
	}()
	rep, err := g.Run(ctx)
	if !errors.Is(err, ErrInterrupted) || rep == nil || rep.Sent < 50 {
		t.Fatalf("got %v with report %v want ErrInterrupted and a report", err, rep != nil)
	}
	if _, err := g.Run(context.Background()); !errors.Is(err, ErrAlreadyRun) {
		t.Errorf("second Run: got %v want ErrAlreadyRun", err)
	}
	waitFor(t, 5*time.Second, "every line", func() bool { return s.lineCount() == int(rep.Sent) })
	s.checkReport(t, rep)
}

// TestOutputs: progress lines, the JSON report, .hgrm files and an .hlog
// that MergeLogs reads back.
func TestOutputs(t *testing.T) {
	t.Parallel()
	s := newSink(t, 0).start()
	dir := t.TempDir()
	var progress strings.Builder
	rep := run(t, Config{Addr: s.addr(), Conns: 2, Rate: 1000, Duration: 2200 * time.Millisecond,
		Report: filepath.Join(dir, "r.json"), OutDir: filepath.Join(dir, "out"), HlogPath: filepath.Join(dir, "a.hlog"),
		Progress: &lockedWriter{w: &progress}})
	lines := strings.Split(strings.TrimSpace(progress.String()), "\n")
	if len(lines) < 2 || !strings.Contains(lines[0], "rate") || strings.Contains(progress.String(), "\r") {
		t.Errorf("progress: got %q want ≥ 2 plain lines", progress.String())
	}
	for _, f := range []string{"r.json", "out/report.json", "out/report.txt", "out/schedule_lag.hgrm", "out/connect_latency.hgrm"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || len(b) == 0 {
			t.Errorf("%s: %v, %d bytes", f, err, len(b))
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "r.json"))
	for _, key := range []string{`"achieved_rate"`, `"schedule_lag"`, `"p99"`, `"last_seq"`, `"chaos_abortive"`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON report lacks %s", key)
		}
	}
	h, _ := os.ReadFile(filepath.Join(dir, "out/schedule_lag.hgrm"))
	if !strings.Contains(string(h), "Percentile") || !strings.Contains(string(h), "#[Max") {
		t.Errorf("schedule_lag.hgrm does not look like an .hgrm file:\n%s", h)
	}
	f1, _ := os.Open(filepath.Join(dir, "a.hlog"))
	defer f1.Close()
	f2, _ := os.Open(filepath.Join(dir, "a.hlog"))
	defer f2.Close()
	m, err := MergeLogs(f1, f2)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.Totals["lag"].TotalCount(), 2*int64(rep.Sent); got != want {
		t.Errorf("merged lag count %d want %d (twice the run's)", got, want)
	}
	if got, want := m.Totals["connect"].TotalCount(), int64(4); got != want {
		t.Errorf("merged connect count %d want %d", got, want)
	}
	if m.Intervals < 6 {
		t.Errorf("read %d interval histograms want ≥ 6 (2 tags × 3 intervals)", m.Intervals)
	}
	// Values survive the ns round trip to 3 significant digits.
	if got, want := m.Totals["lag"].Max(), rep.ScheduleLag.Max(); math.Abs(float64(got-want)) > 0.002*float64(want)+1 {
		t.Errorf("merged max lag %dµs want %dµs", got, want)
	}
	var merged strings.Builder
	if err := m.WriteLog(&merged); err != nil {
		t.Fatal(err)
	}
	m2, err := MergeLogs(strings.NewReader(merged.String()))
	if err != nil || m2.Totals["lag"].TotalCount() != 2*int64(rep.Sent) {
		t.Errorf("re-reading the merged log: %v", err)
	}
	if _, err := MergeLogs(strings.NewReader("#nothing\n")); !errors.Is(err, ErrNoHistograms) {
		t.Errorf("empty log: got %v want ErrNoHistograms", err)
	}
}

// TestOutputDirs: the directories of Report, OutDir and HlogPath are
// created when missing.
func TestOutputDirs(t *testing.T) {
	t.Parallel()
	s := newSink(t, 0).start()
	dir := t.TempDir()
	cfg := Config{Addr: s.addr(), Count: 10, Report: filepath.Join(dir, "a/b/r.json"), OutDir: filepath.Join(dir, "c/d"),
		HlogPath: filepath.Join(dir, "e/run.hlog")}
	run(t, cfg)
	for _, f := range []string{cfg.Report, filepath.Join(cfg.OutDir, "report.txt"), cfg.HlogPath} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("%v", err)
		}
	}
}

// TestRSTKeepsPeerReceiveQueue is the experiment behind AtRisk: on Linux,
// data the peer's kernel has acknowledged (its receive queue) survives our
// abortive close: the peer reads all of it, then ECONNRESET. Only bytes
// still unacknowledged in our send queue (SIOCOUTQ) are lost.
func TestRSTKeepsPeerReceiveQueue(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer := <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	defer peer.Close()
	tc := c.(*net.TCPConn)
	data := make([]byte, 50_000) // fits the peer's receive queue unread
	if _, err := tc.Write(data); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the peer to acknowledge everything", func() bool {
		n, err := sendQueue(tc)
		return err == nil && n == 0
	})
	_ = tc.SetLinger(0)
	tc.Close() // RST while every byte waits unread in the peer's receive queue
	time.Sleep(20 * time.Millisecond)
	buf := make([]byte, 1<<16)
	total := 0
	var rerr error
	for rerr == nil {
		var n int
		n, rerr = peer.Read(buf)
		total += n
	}
	if total != len(data) {
		t.Errorf("peer read %d of %d acknowledged bytes before %v: the RST discarded its receive queue", total, len(data), rerr)
	}
	if !errors.Is(rerr, errConnReset) {
		t.Logf("peer's read ended with %v", rerr)
	}
}

// TestLiveCounters: Live reports progress while running.
func TestLiveCounters(t *testing.T) {
	t.Parallel()
	s := newSink(t, 0).start()
	g, err := New(Config{Addr: s.addr(), Conns: 3, Rate: 2000, Count: 1000})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = g.Run(context.Background())
	}()
	waitFor(t, 5*time.Second, "three connections up", func() bool { return g.Live().ConnsUp == 3 })
	waitFor(t, 5*time.Second, "some sent", func() bool { l := g.Live(); return l.Sent > 0 && l.Elapsed > 0 })
	<-done
	l := g.Live()
	if l.Sent != 1000 || l.ConnsUp != 0 || l.ConnectAttempts != 3 || l.Errors != 0 {
		t.Errorf("after the run: got %+v want sent 1000, 0 up, 3 attempts, 0 errors", l)
	}
}

// TestPeerClosed: a receiver that closes connections is noticed at the
// next write (or at the end), counted as peer_closed, and the stream
// reconnects with its seq continuing.
func TestPeerClosed(t *testing.T) {
	t.Parallel()
	s := newSink(t, 0).closeAfterLines(50).start()
	rep := run(t, Config{Addr: s.addr(), Conns: 2, Rate: 2000, Count: 600, ReconnectBase: 5 * time.Millisecond})
	if rep.Disconnects[CausePeerClosed] == 0 || rep.Reconnects == 0 {
		t.Fatalf("peer closed %d, reconnects %d want both > 0", rep.Disconnects[CausePeerClosed], rep.Reconnects)
	}
	if rep.Scheduled != 600 {
		t.Errorf("scheduled %d want 600", rep.Scheduled)
	}
	time.Sleep(50 * time.Millisecond)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sr := range rep.Streams {
		if sr.Connects < 2 {
			t.Errorf("stream %d: %d connects want ≥ 2", sr.ID, sr.Connects)
		}
		m := s.seen[sr.ID]
		var highest uint64
		for q, n := range m {
			if n != 1 {
				t.Errorf("stream %d seq %d arrived %d times", sr.ID, q, n)
			}
			highest = max(highest, q)
		}
		if highest <= 50 {
			t.Errorf("stream %d: highest seq received %d: want the seq to continue past the first connection's 50", sr.ID, highest)
		}
	}
}

// TestPeerGone: the non-blocking check tells a live connection from one
// whose peer sent FIN or RST.
func TestPeerGone(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, abortive := range []bool{false, true} {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		p, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		tc := c.(*net.TCPConn)
		if peerGone(tc) {
			t.Errorf("abortive=%v: live connection reported gone", abortive)
		}
		if abortive {
			_ = p.(*net.TCPConn).SetLinger(0)
		}
		p.Close()
		waitFor(t, 5*time.Second, "the close to be seen", func() bool { return peerGone(tc) })
		c.Close()
	}
}
