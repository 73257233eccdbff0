package stats

import (
	"errors"
	"math"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestTwoSidedP(t *testing.T) {
	t.Parallel()
	// Reference values: t tables, checked by numerical integration of the t density.
	tests := []struct{ t, df, want float64 }{
		{0, 5, 1},
		{2.0, 10, 0.07338803},
		{-2.0, 10, 0.07338803},
		{1.812461, 10, 0.10},  // t_{0.95,10}
		{2.228139, 10, 0.05},  // t_{0.975,10}
		{12.7062, 1, 0.05},    // t_{0.975,1}
		{1.644854, 1e9, 0.10}, // approaches the normal
		{3.5, 4.5, 0.02049},   // fractional df (Welch)
	}
	for _, tt := range tests {
		got := TwoSidedP(tt.t, tt.df)
		if !near(got, tt.want, 2e-4) {
			t.Errorf("TwoSidedP(%v, %v): got %.6f want %.6f", tt.t, tt.df, got, tt.want)
		}
	}
}

func TestWelchKnown(t *testing.T) {
	t.Parallel()
	// Wikipedia's "Welch's t-test" example 1: t = -2.46, df = 24.99,
	// p = 0.021 (checked independently by numerical integration of the t
	// density: t = -2.455356, df = 24.988529, p = 0.021378).
	a := []float64{27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4}
	b := []float64{27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4}
	w, err := WelchTest(b, a) // t of mean(a) - mean(b), as the example states it
	if err != nil {
		t.Fatal(err)
	}
	if !near(w.T, -2.455356, 1e-5) || !near(w.DF, 24.988529, 1e-5) || !near(w.P, 0.021378, 1e-5) {
		t.Errorf("got t=%.6f df=%.6f p=%.6f want t=-2.455356 df=24.988529 p=0.021378", w.T, w.DF, w.P)
	}
}

func TestWelchEdges(t *testing.T) {
	t.Parallel()
	if _, err := WelchTest([]float64{1}, []float64{1, 2}); !errors.Is(err, ErrTooFew) {
		t.Errorf("one value: got %v want %v", err, ErrTooFew)
	}
	w, err := WelchTest([]float64{5, 5, 5}, []float64{5, 5})
	if err != nil || w.P != 1 {
		t.Errorf("equal constants: got p=%v err=%v want p=1", w.P, err)
	}
	w, err = WelchTest([]float64{5, 5, 5}, []float64{4, 4})
	if err != nil || w.P != 0 {
		t.Errorf("different constants: got p=%v err=%v want p=0", w.P, err)
	}
}

func TestCompare(t *testing.T) {
	t.Parallel()
	base := []float64{100, 101, 99, 100.5, 99.5}
	tests := []struct {
		name          string
		b             []float64
		wantSig, want bool
	}{
		{"same", []float64{100, 101, 99, 100.5, 99.5}, false, false},
		{"significant but small drop", []float64{98, 98.5, 97.5, 98.2, 97.8}, true, false},
		{"big drop", []float64{80, 81, 79, 80.5, 79.5}, true, true},
		{"big improvement", []float64{120, 121, 119, 120.5, 119.5}, true, false},
		{"big but noisy drop", []float64{40, 160, 30, 150, 20}, false, false},
	}
	for _, tt := range tests {
		g, err := Compare(base, tt.b, 0.10, 0.05)
		if err != nil {
			t.Fatal(err)
		}
		if g.Significant != tt.wantSig || g.Regressed != tt.want {
			t.Errorf("%s: got significant=%v regressed=%v (p=%.4f delta=%.3f) want %v %v",
				tt.name, g.Significant, g.Regressed, g.P, g.Delta, tt.wantSig, tt.want)
		}
	}
}

func TestMedian(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   []float64
		want float64
	}{{[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}, {[]float64{7}, 7}} {
		if got := Median(tt.in); got != tt.want {
			t.Errorf("Median(%v): got %v want %v", tt.in, got, tt.want)
		}
	}
	if !math.IsNaN(Median(nil)) {
		t.Error("Median(nil): want NaN")
	}
}
