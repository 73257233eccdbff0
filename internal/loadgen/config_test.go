package loadgen

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	ok := Config{Addr: "127.0.0.1:1"}
	tests := []struct {
		name string
		mod  func(*Config)
		want error
	}{
		{"defaults", func(*Config) {}, nil},
		{"no addr", func(c *Config) { c.Addr = "" }, ErrConfig},
		{"negative conns", func(c *Config) { c.Conns = -1 }, ErrConfig},
		{"negative rate", func(c *Config) { c.Rate = -1 }, ErrConfig},
		{"bad format", func(c *Config) { c.Format = "xml" }, ErrConfig},
		{"size too small", func(c *Config) { c.Size = 10 }, ErrSizeTooSmall},
		{"steps without step duration", func(c *Config) { c.RateSteps = []float64{1, 2} }, ErrConfig},
		{"steps", func(c *Config) { c.RateSteps, c.StepDuration = []float64{1, 2}, time.Second }, nil},
		{"sine above rate", func(c *Config) { c.Rate, c.SineAmplitude, c.SinePeriod = 10, 20, time.Second }, ErrConfig},
		{"sine without period", func(c *Config) { c.Rate, c.SineAmplitude = 10, 5 }, ErrConfig},
		{"ramp-to without duration", func(c *Config) { c.Rate, c.RampTo = 10, 20 }, ErrConfig},
		{"ramp-to", func(c *Config) { c.Rate, c.RampTo, c.Duration = 10, 20, time.Second }, nil},
		{"two profiles", func(c *Config) {
			c.Rate, c.RampTo, c.Duration, c.SineAmplitude, c.SinePeriod = 10, 20, time.Second, 5, time.Second
		}, ErrConfig},
		{"burst without rate", func(c *Config) { c.Burst = 10 }, ErrConfig},
		{"chaos prob 1", func(c *Config) { c.ChaosProb = 1 }, ErrConfig},
		{"abortive above 1", func(c *Config) { c.ChaosAbortive = 1.5 }, ErrConfig},
		{"reconnect max below base", func(c *Config) { c.ReconnectBase, c.ReconnectMax = time.Second, time.Millisecond }, ErrConfig},
		{"ramp-up longer than duration", func(c *Config) { c.Rate, c.RampUp, c.Duration = 1, time.Second, time.Second }, ErrConfig},
		{"negative count", func(c *Config) { c.Count = -5 }, ErrConfig},
		{"negative stream base", func(c *Config) { c.StreamBase = -1 }, ErrConfig},
		{"stream base at the stamp's limit", func(c *Config) { c.StreamBase = MaxStream }, nil},
		{"streams beyond the stamp's limit", func(c *Config) { c.StreamBase, c.Conns = MaxStream, 2 }, ErrConfig},
		{"huge stream base", func(c *Config) { c.StreamBase = 1 << 40 }, ErrConfig},
	}
	for _, tt := range tests {
		c := ok
		tt.mod(&c)
		_, err := New(c)
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%s: got %v want %v", tt.name, err, tt.want)
		}
	}
}

func TestParseRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want float64
		ok   bool
	}{{"0", 0, true}, {"2500", 2500, true}, {"10k", 10000, true}, {"10K", 10000, true}, {"1.5M", 1.5e6, true},
		{" 2M ", 2e6, true}, {"", 0, false}, {"-1", 0, false}, {"fast", 0, false}, {"NaN", 0, false},
		{"5m", 0, false}, {"k", 0, false}, {"1G", 0, false}}
	for _, tt := range tests {
		got, err := ParseRate(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseRate(%q): got %v, %v want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrConfig) {
			t.Errorf("ParseRate(%q): got %v want an error wrapping ErrConfig", tt.in, err)
		}
	}
	// A lower-case m reads as "milli" where a user may mean mega: the
	// error must name the ambiguity and the suffix to use.
	if _, err := ParseRate("5m"); err == nil || !strings.Contains(err.Error(), "M") || !strings.Contains(err.Error(), "milli") {
		t.Errorf(`ParseRate("5m"): got %v want an error naming the ambiguity and the M suffix`, err)
	}
	if _, err := ParseRates("10k,5m"); err == nil {
		t.Errorf(`ParseRates("10k,5m"): got nil error want the lower-case m rejected`)
	}
	got, err := ParseRates("10k, 50k,100k")
	if err != nil || len(got) != 3 || got[0] != 1e4 || got[1] != 5e4 || got[2] != 1e5 {
		t.Errorf("ParseRates: got %v, %v want [10000 50000 100000]", got, err)
	}
}

func TestBackoffDelay(t *testing.T) {
	t.Parallel()
	g, err := New(Config{Addr: "127.0.0.1:1", ReconnectBase: 10 * time.Millisecond, ReconnectMax: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s := &g.streams[0]
	for failures, want := range []time.Duration{10, 20, 40, 80, 100, 100, 100} {
		want *= time.Millisecond
		seen := map[time.Duration]bool{}
		for range 200 {
			d := g.backoffDelay(s, failures)
			if d < want/2 || d > want {
				t.Fatalf("failures %d: delay %v outside [%v, %v]", failures, d, want/2, want)
			}
			seen[d] = true
		}
		if len(seen) < 50 {
			t.Errorf("failures %d: only %d distinct delays in 200: want jitter", failures, len(seen))
		}
	}
	if d := g.backoffDelay(s, 1000); d > 100*time.Millisecond || d < 50*time.Millisecond {
		t.Errorf("failures 1000: delay %v want within [50ms, 100ms]", d)
	}
}
