package mockdest

import (
	"fmt"
	"log/slog"
	"time"
)

// Modes of Config.Mode.
const (
	// ModeFrames receives the relay's framed batch protocol (package wire)
	// and acknowledges every frame.
	ModeFrames = "frames"
	// ModeLines receives plain newline-delimited TCP; a batch is the
	// complete lines that arrive in one read.
	ModeLines = "lines"
	// ModeBulk serves the Elasticsearch _bulk API over HTTP (see
	// BulkConfig); a batch is one request, or all the requests carrying
	// parts of one relay batch.
	ModeBulk = "bulk"
)

// DefaultMaxLineBytes is the lines-mode line limit when
// Config.MaxLineBytes is 0.
const DefaultMaxLineBytes = 1 << 20

// DefaultFrameTimeout is the frames-mode frame deadline when
// Config.FrameTimeout is 0.
const DefaultFrameTimeout = 30 * time.Second

// Config configures a Server. The zero value (plus Listen) serves frames
// and behaves well.
type Config struct {
	// Listen is the TCP address Run listens on, e.g. "127.0.0.1:9000".
	Listen string
	// Mode is ModeFrames (the default when empty), ModeLines or ModeBulk.
	Mode string
	// Bulk configures ModeBulk.
	Bulk BulkConfig
	// Admin is the address of the HTTP listener serving /stats (JSON) and
	// /healthz; "" means none.
	Admin string
	// MaxBatch makes Check fail when a batch holds more messages; 0 = off.
	MaxBatch int
	// Expect makes Check fail unless exactly this many distinct stamped
	// messages arrived and no stream has a gap; 0 = off.
	Expect int64
	// AckDelay delays every acknowledgement by this much.
	AckDelay time.Duration
	// AckJitter adds a uniformly random delay in [0, AckJitter) to every
	// acknowledgement. Acknowledgements stay in order.
	AckJitter time.Duration
	// NackRate is the fraction of frames negatively acknowledged and not
	// recorded.
	NackRate float64
	// NoAckRate is the fraction of frames recorded but never acknowledged:
	// the connection then stays silent (reading and discarding further
	// frames) until the sender gives up and closes it.
	NoAckRate float64
	// CloseRate is the fraction of batches on whose arrival the connection
	// is closed, that batch unrecorded and unacknowledged (earlier ones are
	// acknowledged first, when due if acknowledgements are delayed).
	CloseRate float64
	// DownFor and DownEvery make mockdest go down for DownFor at the end of
	// every DownEvery period: it closes its open connections and closes new
	// ones on accept (with a reset). Both 0 = never.
	DownFor, DownEvery time.Duration
	// ReadBytesPerSec caps the aggregate read bandwidth of all connections;
	// 0 = unlimited.
	ReadBytesPerSec int64
	// MaxLineBytes is the longest line accepted in lines mode; longer lines
	// are discarded and counted. 0 = DefaultMaxLineBytes.
	MaxLineBytes int
	// FrameTimeout is how long a frame whose first bytes have arrived may
	// take to arrive whole; a connection whose frame takes longer is closed
	// and counted. A connection may stay idle between frames for as long
	// as it likes. With ReadBytesPerSec the time the cap holds reads back
	// counts too. 0 = DefaultFrameTimeout.
	FrameTimeout time.Duration
	// Duration stops Serve after this long; 0 = until the context ends.
	Duration time.Duration
	// Report is a file to which Serve writes the final JSON report on
	// return, creating its directory; "" = none.
	Report string
	// OutDir is a directory, created if needed, to which Serve writes the
	// .hgrm percentile files and CSV tables on return; "" = none.
	OutDir string
	// Seed seeds the random choices of the misbehaviour flags.
	Seed int64
	// Logger receives connection-level events; nil = discard.
	Logger *slog.Logger
}

// DefaultConfig returns the configuration of `mockdest` without flags.
func DefaultConfig() Config {
	return Config{Listen: "127.0.0.1:9000", Mode: ModeFrames, FrameTimeout: DefaultFrameTimeout, Seed: 1}
}

func (c *Config) validate() error {
	switch c.Mode {
	case "":
		c.Mode = ModeFrames
	case ModeFrames, ModeLines:
	case ModeBulk:
		if err := c.Bulk.validate(); err != nil {
			return err
		}
		if c.NackRate > 0 || c.NoAckRate > 0 {
			return fmt.Errorf("%w: bulk mode answers over HTTP: no nacks or dropped acks (see the bulk failure knobs)", ErrConfig)
		}
	default:
		return fmt.Errorf("%w: mode %q: want %s, %s or %s", ErrConfig, c.Mode, ModeFrames, ModeLines, ModeBulk)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"nack rate", c.NackRate}, {"no-ack rate", c.NoAckRate}, {"close rate", c.CloseRate}} {
		if !(f.v >= 0 && f.v <= 1) {
			return fmt.Errorf("%w: %s %v: want a fraction in [0, 1]", ErrConfig, f.name, f.v)
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"ack delay", c.AckDelay}, {"ack jitter", c.AckJitter}, {"down for", c.DownFor},
		{"down every", c.DownEvery}, {"duration", c.Duration}, {"frame timeout", c.FrameTimeout}} {
		if d.v < 0 {
			return fmt.Errorf("%w: %s %v: must not be negative", ErrConfig, d.name, d.v)
		}
	}
	if c.Mode == ModeLines && (c.AckDelay > 0 || c.AckJitter > 0 || c.NackRate > 0 || c.NoAckRate > 0) {
		return fmt.Errorf("%w: lines mode has no acknowledgements to delay, nack or drop", ErrConfig)
	}
	if (c.DownFor > 0 || c.DownEvery > 0) && !(c.DownFor > 0 && c.DownEvery > c.DownFor) {
		return fmt.Errorf("%w: down for %v every %v: want 0 < down-for < down-every", ErrConfig, c.DownFor, c.DownEvery)
	}
	if c.MaxBatch < 0 || c.Expect < 0 || c.ReadBytesPerSec < 0 || c.MaxLineBytes < 0 {
		return fmt.Errorf("%w: max batch, expect, read bandwidth and max line bytes must not be negative", ErrConfig)
	}
	if c.MaxLineBytes == 0 {
		c.MaxLineBytes = DefaultMaxLineBytes
	}
	if c.FrameTimeout == 0 {
		c.FrameTimeout = DefaultFrameTimeout
	}
	return nil
}
