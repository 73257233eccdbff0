package loadgen

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseRate parses a rate in messages per second, with an optional k or K
// (×1000) or M (×1,000,000) suffix: "2500", "10k", "1.5M". A lower-case m
// is an error: it reads as "milli", so it is too easily meant as one.
func ParseRate(s string) (float64, error) {
	t := strings.TrimSpace(s)
	mul := 1.0
	switch {
	case strings.HasSuffix(t, "k"), strings.HasSuffix(t, "K"):
		mul, t = 1e3, t[:len(t)-1]
	case strings.HasSuffix(t, "M"):
		mul, t = 1e6, t[:len(t)-1]
	case strings.HasSuffix(t, "m"):
		return 0, fmt.Errorf("%w: rate %q: a lower-case m suffix is ambiguous (milli or mega?): use M for ×1,000,000", ErrConfig, s)
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("%w: rate %q: want a number ≥ 0 with an optional k, K (×1000) or M (×1,000,000) suffix", ErrConfig, s)
	}
	return v * mul, nil
}

// ParseRates parses a comma-separated list of rates ("10k,50k,100k").
func ParseRates(s string) ([]float64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := ParseRate(f)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
