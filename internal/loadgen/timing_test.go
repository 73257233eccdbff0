//go:build timing && !race

// Timing statistics of the chaos and connect-rate runs, with tolerances for
// a machine that is not also running the race detector. CI runs them alone:
//
//	go test -tags timing -count 1 -run 'Timing' ./internal/loadgen/
package loadgen

import (
	"math"
	"slices"
	"testing"
	"time"
)

// TestChaosTiming: ChaosEvery closes at the configured rate, and every
// stream's next connection arrives no sooner than the backoff allows.
func TestChaosTiming(t *testing.T) {
	t.Parallel()
	rep, s := runChaos(t)
	g, a := rep.Disconnects[CauseChaosGraceful], rep.Disconnects[CauseChaosAbortive]
	if want := float64(chaosDur / chaosEvery); math.Abs(float64(g+a)/want-1) > 0.25 {
		t.Errorf("chaos closes: graceful %d abortive %d want %v in total ±25%%", g, a, want)
	}
	_, gaps := s.reconnectGaps()
	if len(gaps) == 0 {
		t.Fatal("receiver saw no reconnections")
	}
	// The backoff after a chaos close is at least base/2; the receiver may
	// notice an end up to 2 ms late.
	if short := slices.Min(gaps); short < chaosBase/2-2*time.Millisecond {
		t.Errorf("a stream reconnected %v after its close, want ≥ %v (backoff); %d gaps", short, chaosBase/2, len(gaps))
	}
}

// TestChaosProbTiming: each connection is closed with the configured
// probability per second.
func TestChaosProbTiming(t *testing.T) {
	t.Parallel()
	closes := runChaosProb(t)
	want := -math.Log(1-chaosP) * chaosConns * chaosProbDur.Seconds() // ≈ 27.7; Poisson sd ≈ 5.3
	if math.Abs(float64(closes)-want) > 4*math.Sqrt(want) {
		t.Errorf("chaos closes %d want %.1f ± %.1f", closes, want, 4*math.Sqrt(want))
	}
}

// TestConnectRateTiming: 11 connections at 50/s are accepted over 200 ms,
// not much more.
func TestConnectRateTiming(t *testing.T) {
	t.Parallel()
	if span := connectRateSpan(t); span < 190*time.Millisecond || span > 260*time.Millisecond {
		t.Errorf("11 connections accepted within %v want 200ms (190–260) at 50/s", span)
	}
}

// TestRateProfilesTiming: each rate profile sends what its integral says,
// within 3 %.
func TestRateProfilesTiming(t *testing.T) { testRateProfiles(t, 0.03) }
