package loadgen

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

// Config describes one load generation run. The zero value of every field
// except Addr is usable: it means one connection sending as fast as possible
// until the context is cancelled.
type Config struct {
	// Addr is the TCP address to send to, e.g. "127.0.0.1:8080".
	Addr string
	// Conns is the number of connections (streams), 1 if 0.
	Conns int
	// StreamBase is the id of the first stream: the streams are StreamBase
	// to StreamBase+Conns-1 (0 to Conns-1 by default). Generators that send
	// to one receiver need disjoint ranges, or their streams collide. The
	// last id must not exceed MaxStream.
	StreamBase int
	// Rate is the aggregate target rate in messages per second; 0 sends as
	// fast as possible (no schedule, no schedule lag).
	Rate float64
	// Duration ends the run after this long (0 = no time limit).
	Duration time.Duration
	// Count ends the run after this many messages were scheduled in total
	// (0 = no limit). The run ends at whichever of Duration and Count comes
	// first.
	Count int64
	// Size is the length of every message in bytes, including its newline;
	// 0 means 200.
	Size int
	// Format is "json" (default), "syslog" (RFC 5424), "apache" (common log
	// format) or "raw".
	Format string
	// RampUp raises the rate linearly from 0 to the profile's starting rate
	// over this long before the profile starts (0 = none). It counts towards
	// Duration.
	RampUp time.Duration
	// ConnectRate limits new connection attempts, all streams together, to
	// this many per second (0 = unlimited).
	ConnectRate float64
	// Seed makes payloads, chaos choices and jitter reproducible; 0 means 1.
	Seed int64

	// RateSteps, when not empty, replaces Rate by a step profile: each rate
	// held for StepDuration, the last one until the end. With Duration 0 the
	// run lasts len(RateSteps)*StepDuration.
	RateSteps []float64
	// StepDuration is how long each of RateSteps lasts.
	StepDuration time.Duration
	// SineAmplitude, when > 0, modulates Rate by a sine wave of this
	// amplitude (≤ Rate) and period SinePeriod.
	SineAmplitude float64
	// SinePeriod is the sine profile's period.
	SinePeriod time.Duration
	// RampTo, when > 0, makes the rate go linearly from Rate to RampTo over
	// Duration minus RampUp (after the ramp-up); Duration must be set.
	RampTo float64
	// Burst, when > 1, makes each connection send its messages in groups of
	// Burst written back-to-back, all due at the group's first message's
	// time; the average rate is unchanged. 0 or 1 spreads messages evenly.
	Burst int

	// ChaosEvery closes one random connected stream every ChaosEvery
	// (0 = off).
	ChaosEvery time.Duration
	// ChaosProb closes each connection with this probability per second
	// (0 = off), as a Poisson process.
	ChaosProb float64
	// ChaosAbortive is the fraction of chaos closes that are abortive (RST
	// via SO_LINGER 0) rather than graceful (FIN).
	ChaosAbortive float64
	// ReconnectBase is the first reconnect delay (default 50ms); each
	// consecutive connect failure doubles it up to ReconnectMax (default
	// 5s). Every delay d is jittered to d/2 + rand[0, d/2).
	ReconnectBase, ReconnectMax time.Duration
	// ConnectTimeout bounds one connection attempt (default 5s).
	ConnectTimeout time.Duration
	// GiveUp ends the run when no connection at all has been made this
	// long after the start (default 30s; negative: never), so a run
	// against a wrong address fails instead of retrying for ever. Once one
	// connection was made, streams reconnect for as long as the run lasts.
	GiveUp time.Duration
	// SendBuffer, when > 0, sets each connection's kernel send buffer
	// (SO_SNDBUF) in bytes; smaller buffers make a slow receiver felt
	// sooner.
	SendBuffer int

	// RELP makes every stream a RELP session (librelp's protocol) instead
	// of plain lines: each message is a syslog command answered by the
	// server; unanswered messages are resent, with the same stamps, after
	// a reconnect. See the package's RELP mode.
	RELP bool
	// RELPWindow is the most messages a RELP stream has unanswered at once
	// (default 128, as rsyslog's omrelp).
	RELPWindow int
	// RELPFinalWait bounds how long a RELP stream waits for its last
	// answers at the end of the run (default 10s); what is still unanswered
	// then is reported at risk.
	RELPFinalWait time.Duration

	// Report, when set, is the path the JSON report is written to (its
	// directory is created when missing).
	Report string
	// OutDir, when set, is created if needed and receives report.json,
	// report.txt, schedule_lag.hgrm and connect_latency.hgrm.
	OutDir string
	// HlogPath, when set, receives interval histograms (one per second) in
	// the HdrHistogram log format, tagged "lag" and "connect", values in ns;
	// its directory is created when missing.
	HlogPath string
	// Progress, when set, receives a progress line once a second (a single
	// updating line when it is a terminal).
	Progress io.Writer
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
}

// MaxStream is the largest stream id a message stamp can carry.
const MaxStream = wire.MaxStampStream

// Defaults.
const (
	DefaultSize           = 200
	DefaultReconnectBase  = 50 * time.Millisecond
	DefaultReconnectMax   = 5 * time.Second
	DefaultConnectTimeout = 5 * time.Second
	DefaultGiveUp         = 30 * time.Second
	DefaultRELPWindow     = 128
	DefaultRELPFinalWait  = 10 * time.Second
)

// withDefaults returns cfg with zero fields defaulted, or an error wrapping
// ErrConfig.
func (cfg Config) withDefaults() (Config, error) {
	bad := func(format string, a ...any) (Config, error) {
		return cfg, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, a...)...)
	}
	if cfg.Addr == "" {
		return bad("addr is empty")
	}
	if cfg.Conns == 0 {
		cfg.Conns = 1
	}
	if cfg.Conns < 0 || cfg.Conns > 1<<24 {
		return bad("conns %d: want 1 to %d", cfg.Conns, 1<<24)
	}
	if cfg.StreamBase < 0 || cfg.StreamBase > MaxStream-(cfg.Conns-1) {
		return bad("stream-base %d with %d conns: the streams must stay within 0 to %d", cfg.StreamBase, cfg.Conns, MaxStream)
	}
	if cfg.Size == 0 {
		cfg.Size = DefaultSize
	}
	if cfg.Size < 0 || cfg.Size > 16<<20 {
		return bad("size %d: want up to 16 MiB", cfg.Size)
	}
	if cfg.Format == "" {
		cfg.Format = "json"
	}
	if _, ok := formats[cfg.Format]; !ok {
		return bad("format %q: want json, syslog, apache or raw", cfg.Format)
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	if cfg.ReconnectBase == 0 {
		cfg.ReconnectBase = DefaultReconnectBase
	}
	if cfg.ReconnectMax == 0 {
		cfg.ReconnectMax = max(DefaultReconnectMax, cfg.ReconnectBase)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.GiveUp == 0 {
		cfg.GiveUp = DefaultGiveUp
	}
	if cfg.RELPWindow == 0 {
		cfg.RELPWindow = DefaultRELPWindow
	}
	if cfg.RELPWindow < 0 || cfg.RELPWindow > 1<<20 {
		return bad("relp-window %d: want 1 to %d", cfg.RELPWindow, 1<<20)
	}
	if cfg.RELPFinalWait == 0 {
		cfg.RELPFinalWait = DefaultRELPFinalWait
	}
	if cfg.RELP && cfg.Size < 2 {
		return bad("size %d: a RELP message needs at least one byte besides the newline", cfg.Size)
	}
	for name, v := range map[string]float64{"rate": cfg.Rate, "ramp-to": cfg.RampTo,
		"sine-amplitude": cfg.SineAmplitude, "connect-rate": cfg.ConnectRate, "chaos-prob": cfg.ChaosProb,
		"chaos-abortive": cfg.ChaosAbortive} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return bad("%s %v: must be a finite number ≥ 0", name, v)
		}
	}
	for name, d := range map[string]time.Duration{"duration": cfg.Duration, "ramp-up": cfg.RampUp,
		"step-duration": cfg.StepDuration, "sine-period": cfg.SinePeriod, "chaos-every": cfg.ChaosEvery,
		"reconnect-base": cfg.ReconnectBase, "reconnect-max": cfg.ReconnectMax, "connect-timeout": cfg.ConnectTimeout, "relp-final-wait": cfg.RELPFinalWait} {
		if d < 0 {
			return bad("%s %v: must be ≥ 0", name, d)
		}
	}
	if cfg.Count < 0 {
		return bad("count %d: must be ≥ 0", cfg.Count)
	}
	if cfg.SendBuffer < 0 {
		return bad("send-buffer %d: must be ≥ 0", cfg.SendBuffer)
	}
	if cfg.Burst < 0 {
		return bad("burst %d: must be ≥ 0", cfg.Burst)
	}
	if cfg.ChaosProb > 1 || cfg.ChaosAbortive > 1 {
		return bad("chaos-prob and chaos-abortive are fractions in [0, 1]")
	}
	if cfg.ChaosProb == 1 {
		return bad("chaos-prob 1 would close every connection at once; want < 1")
	}
	if cfg.ReconnectMax < cfg.ReconnectBase {
		return bad("reconnect-max %v below reconnect-base %v", cfg.ReconnectMax, cfg.ReconnectBase)
	}
	profiles := 0
	if len(cfg.RateSteps) > 0 {
		profiles++
		if cfg.StepDuration <= 0 {
			return bad("rate-steps need a step-duration > 0")
		}
		for _, r := range cfg.RateSteps {
			if r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
				return bad("rate step %v: must be a finite number ≥ 0", r)
			}
		}
		if cfg.Duration == 0 {
			cfg.Duration = cfg.RampUp + time.Duration(len(cfg.RateSteps))*cfg.StepDuration
		}
	}
	if cfg.SineAmplitude > 0 {
		profiles++
		if cfg.SinePeriod <= 0 {
			return bad("a sine profile needs a sine-period > 0")
		}
		if cfg.SineAmplitude > cfg.Rate {
			return bad("sine-amplitude %v above rate %v would need a negative rate", cfg.SineAmplitude, cfg.Rate)
		}
	}
	if cfg.RampTo > 0 {
		profiles++
		if cfg.Duration <= cfg.RampUp {
			return bad("ramp-to needs a duration longer than ramp-up")
		}
	}
	if profiles > 1 {
		return bad("choose one of rate-steps, sine-amplitude and ramp-to")
	}
	if cfg.Rate == 0 && profiles == 0 && (cfg.RampUp > 0 || cfg.Burst > 1) {
		return bad("ramp-up and burst need a rate")
	}
	if cfg.Rate == 0 && cfg.RampTo > 0 {
		return bad("ramp-to needs a starting rate (--rate)")
	}
	if cfg.Duration > 0 && cfg.RampUp >= cfg.Duration {
		return bad("ramp-up %v not shorter than duration %v", cfg.RampUp, cfg.Duration)
	}
	return cfg, nil
}

// paced reports whether the run follows a schedule (a rate or a profile).
func (cfg Config) paced() bool { return cfg.Rate > 0 || len(cfg.RateSteps) > 0 }

// newPacer builds the Pacer of a defaulted, paced Config.
func (cfg Config) newPacer() Pacer {
	var p Pacer
	span := cfg.Duration - cfg.RampUp
	switch {
	case len(cfg.RateSteps) > 0:
		p = NewStepPacer(cfg.RateSteps, cfg.StepDuration)
	case cfg.SineAmplitude > 0:
		p = SinePacer{Mean: cfg.Rate, Amplitude: cfg.SineAmplitude, Period: cfg.SinePeriod}
	case cfg.RampTo > 0:
		p = LinearPacer{From: cfg.Rate, To: cfg.RampTo, Over: span}
	default:
		p = ConstantPacer{PerSec: cfg.Rate}
	}
	if cfg.RampUp > 0 {
		p = NewRampUp(p, cfg.RampUp)
	}
	return p
}
