// Package stats provides the small statistics the bench's regression gate
// needs: sample summaries and Welch's unequal-variance t-test.
package stats

import (
	"errors"
	"math"
	"slices"

	"gonum.org/v1/gonum/stat/distuv"
)

// ErrTooFew means a sample has fewer than two values, so its variance, and
// any test built on it, is undefined.
var ErrTooFew = errors.New("stats: need at least two values per sample")

// Mean returns the arithmetic mean of xs (NaN for an empty slice).
func Mean(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// Variance returns the unbiased sample variance of xs (NaN below two values).
func Variance(xs []float64) float64 {
	if len(xs) < 2 {
		return math.NaN()
	}
	m := Mean(xs)
	var s float64
	for _, x := range xs {
		s += (x - m) * (x - m)
	}
	return s / float64(len(xs)-1)
}

// Median returns the median of xs (NaN for an empty slice); xs is not
// modified.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Welch is the result of Welch's two-sample t-test.
type Welch struct {
	MeanA, MeanB float64 // sample means
	T            float64 // t statistic of mean(b) - mean(a)
	DF           float64 // Welch–Satterthwaite degrees of freedom
	P            float64 // two-sided p-value
}

// WelchTest compares the means of a and b without assuming equal
// variances. Two samples that are both constant give P = 1 when their means
// are equal and P = 0 otherwise.
func WelchTest(a, b []float64) (Welch, error) {
	if len(a) < 2 || len(b) < 2 {
		return Welch{}, ErrTooFew
	}
	w := Welch{MeanA: Mean(a), MeanB: Mean(b)}
	va, vb := Variance(a)/float64(len(a)), Variance(b)/float64(len(b))
	se2 := va + vb
	if se2 == 0 {
		if w.MeanA == w.MeanB {
			w.P, w.DF = 1, float64(len(a)+len(b)-2)
		} else {
			w.T, w.DF = math.Copysign(math.Inf(1), w.MeanB-w.MeanA), float64(len(a)+len(b)-2)
		}
		return w, nil
	}
	w.T = (w.MeanB - w.MeanA) / math.Sqrt(se2)
	w.DF = se2 * se2 / (va*va/float64(len(a)-1) + vb*vb/float64(len(b)-1))
	w.P = TwoSidedP(w.T, w.DF)
	return w, nil
}

// TwoSidedP returns the probability that a Student's t variable with df
// degrees of freedom is at least |t| away from zero.
func TwoSidedP(t, df float64) float64 {
	d := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}
	p := 2 * d.Survival(math.Abs(t))
	return math.Min(1, p)
}

// Gate is a regression verdict: a change is a regression only when it is
// both statistically significant and larger than the effect size.
type Gate struct {
	Welch
	Delta       float64 // relative change of the mean, (b - a) / a
	Alpha       float64 // significance level, e.g. 0.10 for 90% confidence
	MinEffect   float64 // smallest relative drop that counts, e.g. 0.05
	Significant bool    // P < Alpha
	Regressed   bool    // Significant and Delta < -MinEffect
}

// Compare gates new replicates b (higher is better, e.g. messages/s)
// against baseline replicates a.
func Compare(a, b []float64, alpha, minEffect float64) (Gate, error) {
	w, err := WelchTest(a, b)
	if err != nil {
		return Gate{}, err
	}
	g := Gate{Welch: w, Alpha: alpha, MinEffect: minEffect}
	if w.MeanA != 0 {
		g.Delta = (w.MeanB - w.MeanA) / w.MeanA
	}
	g.Significant = w.P < alpha
	g.Regressed = g.Significant && g.Delta < -minEffect
	return g, nil
}
