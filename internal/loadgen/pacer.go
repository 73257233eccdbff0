package loadgen

import (
	"math"
	"sort"
	"time"
)

// A Pacer is a rate profile: it says when each message of an open-loop
// schedule is due. Messages are numbered from 0 across all connections;
// message n is due when the profile's cumulative count of expected
// messages, the integral of its rate, reaches n.
type Pacer interface {
	// Pace returns how long after elapsed (time since the start) the next
	// message, the one after sent messages, is due: 0 when it is already
	// due. stop is true when the profile will never send it.
	Pace(elapsed time.Duration, sent uint64) (wait time.Duration, stop bool)
	// Due returns the intended send time of message n as time since the
	// start, and false when the profile never sends it.
	Due(n uint64) (time.Duration, bool)
	// Rate returns the profile's rate at elapsed, in messages per second.
	Rate(elapsed time.Duration) float64
}

// profile is what the pacers share: the cumulative count of expected
// messages at t seconds, and its inverse.
type profile interface {
	hits(t float64) float64
	due(n float64) (t float64, ok bool)
	rate(t float64) float64
}

func pace(p profile, elapsed time.Duration, sent uint64) (time.Duration, bool) {
	t, ok := p.due(float64(sent))
	if !ok {
		return 0, true
	}
	return max(0, seconds(t)-elapsed), false
}

func dueOf(p profile, n uint64) (time.Duration, bool) {
	t, ok := p.due(float64(n))
	if !ok {
		return 0, false
	}
	return seconds(t), true
}

// seconds converts seconds to a Duration, saturating instead of overflowing.
func seconds(t float64) time.Duration {
	if t >= float64(math.MaxInt64)/1e9 {
		return math.MaxInt64
	}
	return time.Duration(math.Round(t * 1e9))
}

// ConstantPacer sends PerSec messages per second.
type ConstantPacer struct {
	PerSec float64 // messages per second, > 0
}

func (p ConstantPacer) hits(t float64) float64 { return p.PerSec * t }
func (p ConstantPacer) rate(float64) float64   { return p.PerSec }
func (p ConstantPacer) due(n float64) (float64, bool) {
	if p.PerSec <= 0 {
		return 0, false
	}
	return n / p.PerSec, true
}

// Pace implements Pacer.
func (p ConstantPacer) Pace(e time.Duration, sent uint64) (time.Duration, bool) {
	return pace(p, e, sent)
}

// Due implements Pacer.
func (p ConstantPacer) Due(n uint64) (time.Duration, bool) { return dueOf(p, n) }

// Rate implements Pacer.
func (p ConstantPacer) Rate(e time.Duration) float64 { return p.rate(e.Seconds()) }

// LinearPacer goes linearly from From to To messages per second over Over,
// then stays at To (and stops if To is 0).
type LinearPacer struct {
	From, To float64
	Over     time.Duration
}

func (p LinearPacer) slope() float64 { return (p.To - p.From) / p.Over.Seconds() }

func (p LinearPacer) rate(t float64) float64 {
	if t >= p.Over.Seconds() {
		return p.To
	}
	return p.From + p.slope()*t
}

func (p LinearPacer) hits(t float64) float64 {
	o := p.Over.Seconds()
	if t <= o {
		return p.From*t + p.slope()*t*t/2
	}
	return p.hits(o) + p.To*(t-o)
}

func (p LinearPacer) due(n float64) (float64, bool) {
	if n == 0 {
		return 0, p.From > 0 || p.To > 0
	}
	o := p.Over.Seconds()
	if h := p.hits(o); n > h || o <= 0 {
		if p.To <= 0 {
			return 0, false
		}
		return o + (n-h)/p.To, true
	}
	// Solve s/2·t² + From·t = n in the cancellation-free form.
	d := p.From*p.From + 2*p.slope()*n
	return 2 * n / (p.From + math.Sqrt(max(0, d))), true
}

// Pace implements Pacer.
func (p LinearPacer) Pace(e time.Duration, sent uint64) (time.Duration, bool) {
	return pace(p, e, sent)
}

// Due implements Pacer.
func (p LinearPacer) Due(n uint64) (time.Duration, bool) { return dueOf(p, n) }

// Rate implements Pacer.
func (p LinearPacer) Rate(e time.Duration) float64 { return p.rate(e.Seconds()) }

// StepPacer holds each of its rates for one step, the last one for ever.
type StepPacer struct {
	rates []float64
	step  float64   // seconds
	cum   []float64 // cum[i]: expected messages before step i
}

// NewStepPacer returns a StepPacer holding each of rates for step.
func NewStepPacer(rates []float64, step time.Duration) StepPacer {
	p := StepPacer{rates: append([]float64(nil), rates...), step: step.Seconds()}
	p.cum = make([]float64, len(rates)+1)
	for i, r := range rates {
		p.cum[i+1] = p.cum[i] + r*p.step
	}
	return p
}

func (p StepPacer) stepAt(t float64) int {
	return min(len(p.rates)-1, max(0, int(t/p.step)))
}

func (p StepPacer) rate(t float64) float64 { return p.rates[p.stepAt(t)] }

func (p StepPacer) hits(t float64) float64 {
	i := p.stepAt(t)
	return p.cum[i] + p.rates[i]*(t-float64(i)*p.step)
}

func (p StepPacer) due(n float64) (float64, bool) {
	last := len(p.rates) - 1
	// The first step whose end lies beyond n.
	i := sort.Search(last, func(i int) bool { return p.cum[i+1] > n })
	if p.rates[i] <= 0 {
		return 0, false // only possible for the last step
	}
	return float64(i)*p.step + (n-p.cum[i])/p.rates[i], true
}

// Pace implements Pacer.
func (p StepPacer) Pace(e time.Duration, sent uint64) (time.Duration, bool) { return pace(p, e, sent) }

// Due implements Pacer.
func (p StepPacer) Due(n uint64) (time.Duration, bool) { return dueOf(p, n) }

// Rate implements Pacer.
func (p StepPacer) Rate(e time.Duration) float64 { return p.rate(e.Seconds()) }

// SinePacer sends Mean + Amplitude·sin(2πt/Period) messages per second;
// Amplitude must not exceed Mean.
type SinePacer struct {
	Mean, Amplitude float64
	Period          time.Duration
}

func (p SinePacer) w() float64 { return 2 * math.Pi / p.Period.Seconds() }

func (p SinePacer) rate(t float64) float64 { return p.Mean + p.Amplitude*math.Sin(p.w()*t) }

func (p SinePacer) hits(t float64) float64 {
	return p.Mean*t + p.Amplitude/p.w()*(1-math.Cos(p.w()*t))
}

// due inverts hits by Newton's method kept inside a shrinking bracket
// (hits is non-decreasing), so it converges even where the rate is 0.
func (p SinePacer) due(n float64) (float64, bool) {
	if p.Mean <= 0 {
		return 0, false
	}
	if n == 0 {
		return 0, true
	}
	span := 2 * p.Amplitude / p.w() / p.Mean // |hits(t) − Mean·t| ≤ 2A/w
	lo, hi := max(0, n/p.Mean-span), n/p.Mean+span
	t := n / p.Mean
	for range 100 {
		f := p.hits(t) - n
		if f > 0 {
			hi = t
		} else {
			lo = t
		}
		if hi-lo < 1e-10*max(1, t) || math.Abs(f) < 1e-9 {
			break
		}
		next := t - f/p.rate(t)
		if r := p.rate(t); r <= 0 || next <= lo || next >= hi || math.IsNaN(next) {
			next = (lo + hi) / 2
		}
		t = next
	}
	return t, true
}

// Pace implements Pacer.
func (p SinePacer) Pace(e time.Duration, sent uint64) (time.Duration, bool) { return pace(p, e, sent) }

// Due implements Pacer.
func (p SinePacer) Due(n uint64) (time.Duration, bool) { return dueOf(p, n) }

// Rate implements Pacer.
func (p SinePacer) Rate(e time.Duration) float64 { return p.rate(e.Seconds()) }

// RampUp raises the rate linearly from 0 to its inner profile's starting
// rate over Over, then runs the inner profile from its own time 0.
type RampUp struct {
	inner profile
	ramp  LinearPacer
	h0    float64 // messages expected during the ramp
}

// NewRampUp returns inner preceded by a linear ramp from 0 lasting over.
// inner must be one of this package's pacers.
func NewRampUp(inner Pacer, over time.Duration) RampUp {
	in := inner.(profile)
	r := LinearPacer{From: 0, To: in.rate(0), Over: over}
	return RampUp{inner: in, ramp: r, h0: r.hits(over.Seconds())}
}

func (p RampUp) o() float64 { return p.ramp.Over.Seconds() }

func (p RampUp) rate(t float64) float64 {
	if t < p.o() {
		return p.ramp.rate(t)
	}
	return p.inner.rate(t - p.o())
}

func (p RampUp) hits(t float64) float64 {
	if t < p.o() {
		return p.ramp.hits(t)
	}
	return p.h0 + p.inner.hits(t-p.o())
}

func (p RampUp) due(n float64) (float64, bool) {
	if n < p.h0 {
		return p.ramp.due(n)
	}
	t, ok := p.inner.due(n - p.h0)
	return p.o() + t, ok
}

// Pace implements Pacer.
func (p RampUp) Pace(e time.Duration, sent uint64) (time.Duration, bool) { return pace(p, e, sent) }

// Due implements Pacer.
func (p RampUp) Due(n uint64) (time.Duration, bool) { return dueOf(p, n) }

// Rate implements Pacer.
func (p RampUp) Rate(e time.Duration) float64 { return p.rate(e.Seconds()) }

// expected returns how many messages p schedules in [0, d).
func expected(p Pacer, d time.Duration) float64 {
	if pr, ok := p.(profile); ok {
		return math.Ceil(pr.hits(d.Seconds()))
	}
	return 0
}
