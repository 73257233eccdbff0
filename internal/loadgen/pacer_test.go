package loadgen

import (
	"math"
	"testing"
	"time"
)

func TestPacerDue(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	tests := []struct {
		name   string
		p      Pacer
		n      uint64
		want   time.Duration
		wantOK bool
	}{
		{"constant first", ConstantPacer{PerSec: 1000}, 0, 0, true},
		{"constant second", ConstantPacer{PerSec: 1000}, 1, ms, true},
		{"constant 1s", ConstantPacer{PerSec: 1000}, 1000, time.Second, true},
		{"constant zero rate", ConstantPacer{PerSec: 0}, 1, 0, false},
		{"linear up mid", LinearPacer{From: 0, To: 1000, Over: time.Second}, 125, 500 * ms, true},
		{"linear up end", LinearPacer{From: 0, To: 1000, Over: time.Second}, 500, time.Second, true},
		{"linear up after", LinearPacer{From: 0, To: 1000, Over: time.Second}, 1500, 2 * time.Second, true},
		{"linear flat", LinearPacer{From: 200, To: 200, Over: time.Second}, 100, 500 * ms, true},
		{"linear down mid", LinearPacer{From: 1000, To: 0, Over: time.Second}, 375, 500 * ms, true},
		{"linear down to zero ends", LinearPacer{From: 1000, To: 0, Over: time.Second}, 501, 0, false},
		{"steps first", NewStepPacer([]float64{100, 0, 200}, time.Second), 0, 0, true},
		{"steps in first", NewStepPacer([]float64{100, 0, 200}, time.Second), 99, 990 * ms, true},
		{"steps skip zero", NewStepPacer([]float64{100, 0, 200}, time.Second), 100, 2 * time.Second, true},
		{"steps in last", NewStepPacer([]float64{100, 0, 200}, time.Second), 299, 2995 * ms, true},
		{"steps last continues", NewStepPacer([]float64{100, 0, 200}, time.Second), 500, 4 * time.Second, true},
		{"steps ending in zero stop", NewStepPacer([]float64{100, 0}, time.Second), 100, 0, false},
		{"sine period", SinePacer{Mean: 1000, Amplitude: 500, Period: time.Second}, 1000, time.Second, true},
		{"sine half period", SinePacer{Mean: 1000, Amplitude: 500, Period: time.Second}, 500 + uint64(math.Round(500/math.Pi)), 500 * ms, true},
		{"ramp-up mid", NewRampUp(ConstantPacer{PerSec: 1000}, time.Second), 125, 500 * ms, true},
		{"ramp-up end", NewRampUp(ConstantPacer{PerSec: 1000}, time.Second), 500, time.Second, true},
		{"ramp-up then constant", NewRampUp(ConstantPacer{PerSec: 1000}, time.Second), 1500, 2 * time.Second, true},
	}
	for _, tt := range tests {
		got, ok := tt.p.Due(tt.n)
		// The sine case rounds its expected count; allow 1 ms there.
		tol := time.Microsecond
		if tt.name == "sine half period" {
			tol = time.Millisecond
		}
		if ok != tt.wantOK || (ok && (got-tt.want > tol || tt.want-got > tol)) {
			t.Errorf("%s: Due(%d) got %v, %v want %v, %v", tt.name, tt.n, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestPacerPace(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	c := ConstantPacer{PerSec: 1000}
	tests := []struct {
		name     string
		p        Pacer
		elapsed  time.Duration
		sent     uint64
		wantWait time.Duration
		wantStop bool
	}{
		{"first is due at once", c, 0, 0, 0, false},
		{"wait for the next", c, 0, 1, ms, false},
		{"part way", c, 2500 * time.Microsecond, 3, 500 * time.Microsecond, false},
		{"behind: due now", c, 5 * ms, 3, 0, false},
		{"far behind: still due now, no skipping", c, time.Second, 3, 0, false},
		{"steps wait across a zero step", NewStepPacer([]float64{100, 0, 200}, time.Second), 1500 * ms, 100, 500 * ms, false},
		{"steps stop", NewStepPacer([]float64{100, 0}, time.Second), 1500 * ms, 100, 0, true},
		{"linear to zero stops", LinearPacer{From: 1000, To: 0, Over: time.Second}, 2 * time.Second, 600, 0, true},
		{"sine", SinePacer{Mean: 1000, Amplitude: 1000, Period: time.Second}, 0, 0, 0, false},
	}
	for _, tt := range tests {
		w, stop := tt.p.Pace(tt.elapsed, tt.sent)
		if stop != tt.wantStop || w-tt.wantWait > time.Microsecond || tt.wantWait-w > time.Microsecond {
			t.Errorf("%s: Pace(%v, %d) got %v, %v want %v, %v", tt.name, tt.elapsed, tt.sent, w, stop, tt.wantWait, tt.wantStop)
		}
	}
}

// TestPacerProperties checks every profile: Due never decreases, the
// expected count at Due(n) is n, Pace agrees with Due, and Rate integrates
// to the count.
func TestPacerProperties(t *testing.T) {
	t.Parallel()
	pacers := map[string]Pacer{
		"constant":    ConstantPacer{PerSec: 777},
		"linear up":   LinearPacer{From: 10, To: 5000, Over: 3 * time.Second},
		"linear down": LinearPacer{From: 5000, To: 100, Over: 3 * time.Second},
		"steps":       NewStepPacer([]float64{1000, 3000, 0, 500}, 700*time.Millisecond),
		"sine":        SinePacer{Mean: 2000, Amplitude: 1500, Period: 900 * time.Millisecond},
		"sine to 0":   SinePacer{Mean: 2000, Amplitude: 2000, Period: 900 * time.Millisecond},
		"ramp-up":     NewRampUp(SinePacer{Mean: 2000, Amplitude: 500, Period: time.Second}, 2*time.Second),
	}
	for name, p := range pacers {
		pr := p.(profile)
		var prev time.Duration
		for n := uint64(0); n < 12000; n += 7 {
			d, ok := p.Due(n)
			if !ok {
				t.Fatalf("%s: Due(%d) not ok", name, n)
			}
			if d < prev {
				t.Fatalf("%s: Due(%d) = %v before Due of an earlier message %v", name, n, d, prev)
			}
			prev = d
			if h := pr.hits(d.Seconds()); math.Abs(h-float64(n)) > 1e-3*max(1, pr.rate(d.Seconds())) {
				t.Fatalf("%s: hits(Due(%d) = %v) = %v want %d", name, n, d, h, n)
			}
			if w, stop := p.Pace(d, n); w != 0 || stop {
				t.Fatalf("%s: Pace(Due(%d), %d) got %v, %v want 0, false", name, n, n, w, stop)
			}
			if d > time.Millisecond {
				if w, _ := p.Pace(d-time.Millisecond, n); w != time.Millisecond {
					t.Fatalf("%s: Pace 1ms before Due(%d) got wait %v want 1ms", name, n, w)
				}
			}
		}
		// The rate integrates to the expected count.
		sum, dt := 0.0, 1e-4
		for x := 0.0; x < 2; x += dt {
			sum += p.Rate(time.Duration((x+dt/2)*1e9)) * dt
		}
		if h := pr.hits(2); math.Abs(sum-h) > 1e-3*h+1 {
			t.Errorf("%s: ∫rate over 2 s = %v, hits(2) = %v", name, sum, h)
		}
	}
}
