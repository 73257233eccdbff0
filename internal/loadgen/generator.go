// Package loadgen provides an open-loop load generator for the relay: many
// TCP connections sending stamped, pre-generated log lines on an exact
// schedule (constant rate, linear ramp, steps or sine), with chaos
// disconnects, reconnects with backoff, exact per-stream accounting of what
// was sent, and HdrHistograms of schedule lag and connect latency.
//
// Every message has an intended send time and carries it in its stamp (the
// wrk2 convention, so a receiver's latency includes coordinated omission).
// When a connection or the generator falls behind, the rate is not lowered:
// overdue messages are sent as soon as possible and their lateness is
// recorded as schedule lag.
package loadgen

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/logrelay/logrelay/internal/seqrange"
	"github.com/logrelay/logrelay/internal/wire"
	"golang.org/x/sys/unix"
	"golang.org/x/time/rate"
)

// Disconnect causes, the keys of Report.Disconnects.
const (
	CauseChaosGraceful = "chaos_graceful"
	CauseChaosAbortive = "chaos_abortive"
	CausePeerClosed    = "peer_closed"
	CauseError         = "error"
)

var causes = []string{CauseChaosGraceful, CauseChaosAbortive, CausePeerClosed, CauseError}

// endGrace is how long a write blocked when the run's time is up may
// still take before it is cut (cut writes count as failed).
const endGrace = time.Second

// batchBytes is the size of the buffer a connection fills with due
// messages before one write.
const batchBytes = 64 << 10

// Generator runs one load generation. Create it with New, run it once with
// Run; Live may be called at any time from any goroutine.
type Generator struct {
	cfg     Config
	log     *slog.Logger
	pacer   Pacer // nil when unpaced
	pay     *payloads
	streams []stream
	lag     *shardedHist
	dialer  net.Dialer
	limit   *rate.Limiter // spaces connection attempts; nil = no limit

	connMu  sync.Mutex              // guards connLat and connErr
	connLat *hdrhistogram.Histogram // since the last interval
	connErr error                   // the last connect failure

	bufs sync.Pool // *batchBuf

	start       time.Time
	startNs     int64
	interrupted func() bool // whether Run's own context has ended
	ran         atomic.Bool
	prog        progressState
	running     atomic.Bool
	gaveUp      atomic.Bool // the run ended because GiveUp passed without a connection
	c           counters
}

type counters struct {
	sent, failed, atRisk, bytes        atomic.Uint64
	attempts, connFailures, reconnects atomic.Uint64
	up, writeErrors                    atomic.Int64
	everUp                             atomic.Bool      // a connection was made
	disconnects                        [4]atomic.Uint64 // by index in causes
	relpAcked, relpRefused, relpResent atomic.Uint64    // RELP answers 200, answers 500, resends
	relpUnacked                        atomic.Uint64    // RELP messages unanswered at the end
}

// stream is one connection slot. Apart from up and kick, only its own
// goroutine touches it while the run lasts.
type stream struct {
	slot  uint32 // index in Generator.streams: the stream's place in the schedule
	id    uint32 // stream id in the stamps: StreamBase + slot
	head  [stampHeadLen]byte
	quota uint64 // messages this stream may schedule; MaxUint64 = unlimited
	next  uint64 // messages scheduled so far; the next one's seq is next+1

	conn      *net.TCPConn
	stopAfter func() bool
	connFirst uint64 // seq of the first message written on conn
	connBytes int64  // bytes written on conn
	chaosAt   time.Duration
	kicked    bool
	backoff   bool // wait before the next connection attempt
	failures  int  // consecutive connect failures
	connects  uint64
	attempts  uint64
	connFails uint64
	disc      [4]uint64 // disconnects by index in causes
	written   uint64
	failedN   uint64
	atRiskN   uint64
	timer     *time.Timer
	rng       *rand.Rand

	up   atomic.Bool
	kick chan struct{} // a ChaosEvery close request

	failed, atRisk seqrange.Set
	resent         seqrange.Set // RELP mode: seqs resent after a reconnect

	relp        *relpState // RELP mode's session state
	relpUnacked uint64     // RELP messages unanswered at the end
}

type batchBuf struct {
	data     []byte
	intended []int64
}

// New checks cfg, fills in defaults and pre-generates the payloads.
func New(cfg Config) (*Generator, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	pay, err := newPayloads(cfg.Format, cfg.Size, cfg.Seed)
	if err != nil {
		return nil, err
	}
	g := &Generator{
		cfg:     cfg,
		log:     cfg.Logger,
		pay:     pay,
		streams: make([]stream, cfg.Conns),
		lag:     newShardedHist(min(cfg.Conns, 16)),
		dialer:  net.Dialer{Timeout: cfg.ConnectTimeout},
		connLat: newHist(),
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if cfg.paced() {
		g.pacer = cfg.newPacer()
	}
	if cfg.ConnectRate > 0 {
		g.limit = rate.NewLimiter(rate.Limit(cfg.ConnectRate), 1)
	}
	c := uint64(cfg.Conns)
	for i := range g.streams {
		s := &g.streams[i]
		s.slot = uint32(i)
		s.id = uint32(cfg.StreamBase + i)
		s.head = stampHead(s.id)
		s.quota = math.MaxUint64
		if cfg.Count > 0 {
			s.quota = 0
			if n := uint64(cfg.Count); uint64(i) < n {
				s.quota = (n-1-uint64(i))/c + 1
			}
		}
		s.rng = rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(i)+1))
		s.kick = make(chan struct{}, 1)
		if cfg.RELP {
			s.relp = &relpState{answered: make(chan struct{}, 1)}
		}
	}
	size := max(batchBytes, cfg.Size)
	g.bufs.New = func() any {
		return &batchBuf{data: make([]byte, 0, size), intended: make([]int64, 0, size/cfg.Size+1)}
	}
	return g, nil
}

// Config returns the generator's configuration with defaults filled in.
func (g *Generator) Config() Config { return g.cfg }

// Pacer returns the run's rate profile, nil when it sends as fast as
// possible.
func (g *Generator) Pacer() Pacer { return g.pacer }

func (g *Generator) elapsed() time.Duration { return time.Since(g.start) }

// index returns the schedule index of stream s's j-th message (0-based):
// messages are dealt to streams in turn, so the rate is spread evenly.
// With Burst b, a stream's messages are due in groups of b.
func (g *Generator) index(s *stream, j uint64) uint64 {
	if b := uint64(g.cfg.Burst); b > 1 {
		j = j / b * b
	}
	return j*uint64(len(g.streams)) + uint64(s.slot)
}

// due returns when stream s's j-th message is due, and false when the
// schedule ends before it.
func (g *Generator) due(s *stream, j uint64) (time.Duration, bool) {
	t, ok := g.pacer.Due(g.index(s, j))
	if !ok || (g.cfg.Duration > 0 && t >= g.cfg.Duration) {
		return 0, false
	}
	return t, true
}

// runStream is stream s's goroutine: connect, send what is due, sleep,
// handle chaos and failures, until its share is sent or ctx ends.
func (g *Generator) runStream(ctx context.Context, s *stream) {
	if g.cfg.RELP {
		g.runRELPStream(ctx, s)
		return
	}
	defer g.closeConn(s, "")
	for ctx.Err() == nil && s.next < s.quota {
		if s.conn == nil {
			if !g.connect(ctx, s) {
				return
			}
			continue
		}
		select {
		case <-s.kick:
			s.kicked = true
		default:
		}
		now := g.elapsed()
		if s.kicked || (s.chaosAt > 0 && now >= s.chaosAt) {
			g.chaosClose(s)
			continue
		}
		wait, ok := g.untilDue(s, now)
		if !ok {
			return
		}
		if wait > 0 {
			g.sleep(ctx, s, wait)
			continue
		}
		g.send(ctx, s, now)
	}
}

// untilDue returns how long stream s, at now and with no chaos due, waits
// before sending: until its next message is due or its chaos time comes,
// whichever is first; 0 when that message is due (or the stream is
// unpaced). It returns false when the schedule ends before that message.
func (g *Generator) untilDue(s *stream, now time.Duration) (time.Duration, bool) {
	if g.pacer == nil {
		return 0, true
	}
	t, ok := g.due(s, s.next)
	if !ok {
		return 0, false
	}
	if t <= now {
		return 0, true
	}
	wake := t
	if s.chaosAt > 0 {
		wake = min(wake, s.chaosAt)
	}
	return wake - now, true
}

// startTimer starts s's timer to fire after d, creating it the first time.
func (s *stream) startTimer(d time.Duration) {
	if s.timer == nil {
		s.timer = time.NewTimer(d)
	} else {
		s.timer.Reset(d)
	}
}

// sleep waits for d, ctx's end or a chaos request.
func (g *Generator) sleep(ctx context.Context, s *stream, d time.Duration) {
	s.startTimer(d)
	select {
	case <-s.timer.C:
	case <-ctx.Done():
	case <-s.kick:
		s.kicked = true
	}
}

// send writes every message of s that is due at now (all it can fit when
// unpaced) in one write, then accounts for it.
func (g *Generator) send(ctx context.Context, s *stream, now time.Duration) {
	bb := g.bufs.Get().(*batchBuf)
	defer g.bufs.Put(bb)
	b, intended := bb.data[:0], bb.intended[:0]
	size := g.cfg.Size
	nowNs := g.startNs + int64(now)
	for j := s.next; j < s.quota && len(b)+size <= cap(b); j++ {
		sentNs := nowNs
		if g.pacer != nil {
			t, ok := g.due(s, j)
			if !ok || t > now {
				break
			}
			sentNs = g.startNs + int64(t)
		}
		b = g.pay.appendMessage(b, j*uint64(len(g.streams))+uint64(s.slot), &s.head, j+1, sentNs)
		intended = append(intended, sentNs)
	}
	m := len(intended)
	if m == 0 {
		return
	}
	n, err := s.conn.Write(b)
	doneNs := g.startNs + int64(g.elapsed())
	written := n / size
	first := s.next + 1 // seq of the batch's first message
	s.next += uint64(m)
	s.connBytes += int64(n)
	s.written += uint64(written)
	g.c.sent.Add(uint64(written))
	g.c.bytes.Add(uint64(n))
	if g.pacer != nil && written > 0 {
		sh := g.lag.shard(int(s.slot))
		sh.mu.Lock()
		for _, ns := range intended[:written] {
			_ = sh.h.RecordValue(clampUs((doneNs - ns) / 1e3))
		}
		sh.mu.Unlock()
	}
	if written < m {
		s.failed = s.failed.Add(wire.SeqRange{From: first + uint64(written), To: first + uint64(m) - 1})
		g.c.failed.Add(uint64(m - written))
		s.failedN += uint64(m - written)
	}
	if err != nil {
		if ctx.Err() != nil {
			// The run ended while the write was blocked: not a disconnect.
			g.closeConn(s, "")
			return
		}
		cause := CauseError
		if errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
			cause = CausePeerClosed
		} else {
			g.c.writeErrors.Add(1)
		}
		g.log.Debug("write failed", "stream", s.id, "error", err, "cause", cause)
		g.markAtRisk(s)
		g.closeConn(s, cause)
	}
}

// markAtRisk records as at risk the messages of s whose bytes the kernel
// still holds unacknowledged (SIOCOUTQ): an abortive close or a reset
// discards them. Data the peer's kernel has acknowledged survives our RST
// (see TestRSTKeepsPeerReceiveQueue), so nothing earlier is at risk.
func (g *Generator) markAtRisk(s *stream) {
	outq, err := sendQueue(s.conn)
	if err != nil {
		// Unknown: everything written on this connection is at risk.
		outq = int(s.connBytes)
		g.log.Debug("SIOCOUTQ failed", "stream", s.id, "error", err)
	}
	size := int64(g.cfg.Size)
	full := s.connBytes / size // messages completely written on this connection
	firstAt := max(0, s.connBytes-int64(outq)) / size
	if firstAt >= full {
		return
	}
	r := wire.SeqRange{From: s.connFirst + uint64(firstAt), To: s.connFirst + uint64(full) - 1}
	s.atRisk = s.atRisk.Add(r)
	s.atRiskN += r.Len()
	g.c.atRisk.Add(r.Len())
}

// sendQueue returns the bytes written to c that its peer has not yet
// acknowledged.
func sendQueue(c *net.TCPConn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var ierr error
	if err := rc.Control(func(fd uintptr) { n, ierr = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ) }); err != nil {
		return 0, err
	}
	return n, ierr
}

// peerGone reports whether c's peer has closed or reset the connection,
// without blocking: the receivers never send to loadgen, so a readable
// end-of-file or a pending error means the peer is gone.
func peerGone(c *net.TCPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var n int
	var rerr error
	var b [1]byte
	if err := rc.Read(func(fd uintptr) bool {
		n, _, rerr = unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		return true
	}); err != nil {
		return false
	}
	switch {
	case rerr == nil:
		return n == 0 // end of file: the peer sent FIN
	case errors.Is(rerr, unix.EAGAIN):
		return false
	}
	return true // ECONNRESET and the like
}

// chaosClose closes s's connection on purpose, abortively with probability
// ChaosAbortive.
func (g *Generator) chaosClose(s *stream) {
	cause := CauseChaosGraceful
	if s.rng.Float64() < g.cfg.ChaosAbortive {
		cause = CauseChaosAbortive
		g.markAtRisk(s)
		if err := s.conn.SetLinger(0); err != nil {
			g.log.Debug("set linger", "stream", s.id, "error", err)
		}
	}
	g.closeConn(s, cause)
}

// closeConn closes s's connection, if any, counting cause ("" = the end of
// the run, not a disconnect).
func (g *Generator) closeConn(s *stream, cause string) {
	if s.conn == nil {
		return
	}
	if cause == "" && s.relp == nil && peerGone(s.conn) {
		// The peer closed or reset the connection before our final close:
		// what it did not acknowledge will never arrive.
		g.markAtRisk(s)
		cause = CausePeerClosed
	}
	s.stopAfter()
	_ = s.conn.Close()
	s.conn = nil
	s.up.Store(false)
	g.c.up.Add(-1)
	s.chaosAt, s.kicked = 0, false
	select {
	case <-s.kick: // a request for the connection just closed
	default:
	}
	if cause != "" {
		for i, c := range causes {
			if c == cause {
				g.c.disconnects[i].Add(1)
				s.disc[i]++
			}
		}
		s.backoff = true
	}
}

// backoffDelay returns the jittered delay before a connection attempt after
// failures consecutive failures.
func (g *Generator) backoffDelay(s *stream, failures int) time.Duration {
	d := g.cfg.ReconnectBase << min(failures, 40)
	if d <= 0 || d > g.cfg.ReconnectMax {
		d = g.cfg.ReconnectMax
	}
	return d/2 + time.Duration(s.rng.Int64N(int64(d/2)+1))
}

// ended reports whether ctx is done or its deadline has passed: a dial
// cut off by the deadline fails with a timeout a moment before ctx's own
// timer marks it done.
func ended(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// connect connects s, retrying with backoff until it succeeds; it returns
// false when ctx ends first.
func (g *Generator) connect(ctx context.Context, s *stream) bool {
	for {
		if s.backoff {
			g.sleep(ctx, s, g.backoffDelay(s, s.failures))
			s.kicked = false
		}
		if ctx.Err() != nil || waitTurn(ctx, g.limit) != nil {
			return false
		}
		g.c.attempts.Add(1)
		s.attempts++
		t0 := time.Now()
		c, err := g.dialer.DialContext(ctx, "tcp", g.cfg.Addr)
		if err != nil {
			if ended(ctx) {
				return false // the run's end cut the attempt short: no failure
			}
			g.c.connFailures.Add(1)
			g.connMu.Lock()
			g.connErr = err
			g.connMu.Unlock()
			s.connFails++
			s.failures++
			s.backoff = true
			g.log.Debug("connect failed", "stream", s.id, "error", err)
			continue
		}
		us := time.Since(t0).Microseconds()
		g.connMu.Lock()
		_ = g.connLat.RecordValue(clampUs(us))
		g.connMu.Unlock()
		if s.connects > 0 {
			g.c.reconnects.Add(1)
		}
		s.connects++
		s.failures, s.backoff = 0, false
		s.conn = c.(*net.TCPConn)
		if g.cfg.SendBuffer > 0 {
			if err := s.conn.SetWriteBuffer(g.cfg.SendBuffer); err != nil {
				g.log.Debug("set send buffer", "stream", s.id, "error", err)
			}
		}
		s.connFirst, s.connBytes = s.next+1, 0
		conn := s.conn
		s.stopAfter = context.AfterFunc(ctx, func() {
			// At the end of the schedule a blocked write may finish within
			// endGrace; when interrupted, stop at once.
			d := time.Unix(1, 0)
			if !g.interrupted() {
				d = time.Now().Add(endGrace)
			}
			_ = conn.SetWriteDeadline(d)
		})
		if p := g.cfg.ChaosProb; p > 0 {
			lambda := -math.Log1p(-p) // closes per second, so P(close within 1 s) = p
			s.chaosAt = g.elapsed() + seconds(s.rng.ExpFloat64()/lambda)
		}
		s.up.Store(true)
		g.c.up.Add(1)
		g.c.everUp.Store(true)
		return true
	}
}

// chaosLoop asks one random connected stream to close every ChaosEvery.
func (g *Generator) chaosLoop(ctx context.Context) {
	t := time.NewTicker(g.cfg.ChaosEvery)
	defer t.Stop()
	r := rand.New(rand.NewPCG(uint64(g.cfg.Seed), 0xc4a05))
	n := len(g.streams)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := r.IntN(n)
	pick:
		for i := range n {
			s := &g.streams[(start+i)%n]
			if s.up.Load() {
				select {
				case s.kick <- struct{}{}:
				default:
				}
				break pick
			}
		}
	}
}

// waitTurn waits until l allows one more connection attempt, or ctx ends
// (then the turn is given back). A nil l allows every attempt at once.
func waitTurn(ctx context.Context, l *rate.Limiter) error {
	if l == nil {
		return nil
	}
	r := l.Reserve() // a burst of 1: always possible
	d := r.Delay()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		r.Cancel()
		return ctx.Err()
	}
}
