package relay

import (
	"math"
	"slices"
	"sync/atomic"

	"github.com/logrelay/logrelay/internal/wire"
	"github.com/prometheus/client_golang/prometheus"
)

// Rejection reasons, as used in Stats.Rejected and the reason label of
// logrelay_messages_rejected_total.
const (
	// RejectTooLong: a line longer than MaxLineBytes.
	RejectTooLong = "too_long"
	// RejectTruncated: an unterminated line cut off by a read error, a
	// connection reset, the idle timeout or shutdown.
	RejectTruncated = "truncated"
	// RejectCarryBudget: an unfinished line that would have taken the
	// partial lines held over MaxCarryBytes; the rest of it is skipped.
	RejectCarryBudget = "carry_budget"
	// RejectNewline: a RELP message with a line feed inside it (a
	// message is one line at the sink); it is answered "500".
	RejectNewline = "newline"
)

var rejectReasons = [...]string{RejectTooLong, RejectTruncated, RejectCarryBudget, RejectNewline}

const (
	rejTooLong = iota
	rejTruncated
	rejCarryBudget
	rejNewline
)

// Stats is a snapshot of the relay's counters.
type Stats struct {
	ConnsOpen     int64                  // client connections open now
	ConnsTotal    uint64                 // client connections accepted
	ConnsRejected uint64                 // connections closed at once because MaxConns was reached
	Received      uint64                 // messages read and handed to the batcher
	Delivered     uint64                 // messages acknowledged by the destination (duplicates included)
	Duplicates    uint64                 // delivered messages the destination reported it already had
	SinkRejected  uint64                 // messages the destination refused for good (the sink dead-lettered them)
	Rejected      map[string]uint64      // lines dropped, by reason (RejectTooLong, RejectTruncated, RejectCarryBudget)
	Bytes         uint64                 // bytes read from clients
	Pending       int64                  // messages held: batched or in flight, not yet acknowledged
	PendingBytes  int64                  // bytes of those messages, newlines included
	ReadsHeld     int64                  // reads waiting, with their data, for room under MaxPending(Bytes)
	LineTimeouts  uint64                 // connections closed because a line did not end within LineTimeout
	UnreadConns   uint64                 // connections closed at shutdown with bytes still unread in their socket
	UnreadBytes   uint64                 // those bytes: sent by clients, never read, not counted as received
	Batches       map[wire.Reason]uint64 // batches flushed, by reason
	Retries       uint64                 // batch sends after the first
	SinkErrors    uint64                 // failed connects, writes, nacks, timeouts and protocol errors
	RELP          RELPStats              // the RELP listener's sessions and answers
}

// RELPStats are the RELP listener's counters.
type RELPStats struct {
	SessionsOpen    int64  // RELP sessions open now
	SessionsTotal   uint64 // RELP sessions accepted
	AnsweredOK      uint64 // syslog commands answered "200 OK" (delivered, or empty)
	AnsweredRefused uint64 // commands answered "500" (refused at ingest or by the sink, unknown commands)
	Writes          uint64 // writes of answers (each carries every answer ready)
	WindowFull      uint64 // times a session's reading paused because its window was full
	ProtocolErrors  uint64 // sessions ended by a malformed frame or a misplaced command, and unknown commands
}

// RejectedTotal returns the sum of s.Rejected.
func (s Stats) RejectedTotal() uint64 {
	var n uint64
	for _, v := range s.Rejected {
		n += v
	}
	return n
}

// counters are the relay's live figures: atomics updated per read, per
// batch or per event, never per message.
type counters struct {
	connsOpen     atomic.Int64
	connsTotal    atomic.Uint64
	connsRejected atomic.Uint64
	received      atomic.Uint64
	delivered     atomic.Uint64
	duplicates    atomic.Uint64
	sinkRejected  atomic.Uint64
	bytes         atomic.Uint64
	reads         atomic.Uint64
	readsHeld     atomic.Int64
	lineTimeouts  atomic.Uint64
	unreadConns   atomic.Uint64
	unreadBytes   atomic.Uint64
	rejected      [len(rejectReasons)]atomic.Uint64
	batches       [int(wire.ReasonBytes) + 1]atomic.Uint64
	retries       atomic.Uint64
	sinkErrors    atomic.Uint64

	relpOpen                   atomic.Int64
	relpTotal                  atomic.Uint64
	relpOK, relpRefused        atomic.Uint64
	relpWrites, relpWindowFull atomic.Uint64
	relpProtocolErrors         atomic.Uint64

	batchSize   prometheus.Histogram
	sendSeconds prometheus.Histogram
}

func newCounters(batchSize int) *counters {
	var buckets []float64
	for _, f := range []float64{0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1} {
		if v := math.Ceil(f * float64(batchSize)); v >= 1 {
			buckets = append(buckets, v)
		}
	}
	if batchSize > 1 {
		buckets = append(buckets, float64(batchSize-1))
	}
	slices.Sort(buckets)
	buckets = slices.Compact(buckets)
	return &counters{
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "logrelay_batch_size",
			Help:    "Messages per flushed batch.",
			Buckets: buckets,
		}),
		sendSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "logrelay_sink_send_seconds",
			Help:    "Time from writing a batch to the sink to its acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(100e-6, 2, 18),
		}),
	}
}

func (c *counters) batchFlushed(r wire.Reason, n int) {
	c.batches[r].Add(1)
	c.batchSize.Observe(float64(n))
}

func (c *counters) snapshot(pending, pendingBytes int64) Stats {
	s := Stats{
		ConnsOpen:     c.connsOpen.Load(),
		ConnsTotal:    c.connsTotal.Load(),
		ConnsRejected: c.connsRejected.Load(),
		Received:      c.received.Load(),
		Delivered:     c.delivered.Load(),
		Duplicates:    c.duplicates.Load(),
		SinkRejected:  c.sinkRejected.Load(),
		Bytes:         c.bytes.Load(),
		Pending:       pending,
		PendingBytes:  pendingBytes,
		ReadsHeld:     c.readsHeld.Load(),
		LineTimeouts:  c.lineTimeouts.Load(),
		UnreadConns:   c.unreadConns.Load(),
		UnreadBytes:   c.unreadBytes.Load(),
		Retries:       c.retries.Load(),
		SinkErrors:    c.sinkErrors.Load(),
		RELP: RELPStats{
			SessionsOpen: c.relpOpen.Load(), SessionsTotal: c.relpTotal.Load(),
			AnsweredOK: c.relpOK.Load(), AnsweredRefused: c.relpRefused.Load(),
			Writes: c.relpWrites.Load(), WindowFull: c.relpWindowFull.Load(),
			ProtocolErrors: c.relpProtocolErrors.Load(),
		},
		Rejected: make(map[string]uint64, len(rejectReasons)),
		Batches:  make(map[wire.Reason]uint64, len(wire.Reasons)),
	}
	for i, r := range rejectReasons {
		s.Rejected[r] = c.rejected[i].Load()
	}
	for _, r := range wire.Reasons {
		s.Batches[r] = c.batches[r].Load()
	}
	return s
}
