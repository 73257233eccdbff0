package mockdest

import (
	"slices"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/logrelay/logrelay/internal/wire"
)

// Snapshot is a deep copy of everything recorded so far.
type Snapshot struct {
	Mode  string    `json:"mode"`  // "frames", "lines" or "bulk"
	Start time.Time `json:"start"` // recording start
	End   time.Time `json:"end"`   // time of the snapshot, or of the end of Serve

	Batches          uint64 `json:"batches"`           // batches recorded (resent duplicates excluded)
	Messages         uint64 `json:"messages"`          // messages in recorded batches
	Bytes            uint64 `json:"bytes"`             // payload bytes of recorded batches, newlines included
	DuplicateBatches uint64 `json:"duplicate_batches"` // batches whose sequence number was already recorded (resends)
	ResentMessages   uint64 `json:"resent_messages"`   // messages in duplicate batches
	SenderRestarts   uint64 `json:"sender_restarts"`   // times the batch sequence restarted with newer flush times

	// BatchSizes counts recorded batches by reason ("size", "age",
	// "shutdown", "bytes"; "read" in lines mode) and size: BatchSizes[r][n]
	// is the number of batches of n messages, for n ≤ 65536.
	BatchSizes map[string][]uint64 `json:"-"`
	// BatchSizesOver counts batches of more than 65536 messages, by reason
	// and size.
	BatchSizesOver map[string]map[uint32]uint64 `json:"-"`
	MaxBatchSize   int                          `json:"max_batch_size"` // largest recorded batch, in messages

	// BatchAge is, by reason, the histogram of oldest-message-to-flush times
	// in µs, taken from the sender's own timestamps in each frame.
	BatchAge map[string]*hdrhistogram.Histogram `json:"-"`
	// Latency is the histogram of end-to-end latencies in µs, from each
	// stamped message's send time to its batch's arrival.
	Latency *hdrhistogram.Histogram `json:"-"`

	Streams       StreamTotals `json:"streams"`
	StreamDetails []StreamStat `json:"stream_details"` // streams with gaps, duplicates or reordering (at most 100, by id)
	Throughput    []Point      `json:"throughput"`     // recorded messages and bytes per second of arrival

	Misbehaviour   Misbehaviour `json:"misbehaviour"`
	ConnsAccepted  uint64       `json:"conns_accepted"`   // connections accepted and served
	ConnsOpen      int64        `json:"conns_open"`       // connections open now
	ProtocolErrors uint64       `json:"protocol_errors"`  // connections closed because of malformed input
	LinesTooLong   uint64       `json:"lines_too_long"`   // lines-mode lines longer than the limit, discarded; in bulk mode, requests with such a line (400)
	FramesTimedOut uint64       `json:"frames_timed_out"` // connections closed because a started frame did not arrive whole within the frame timeout

	Bulk *BulkStats `json:"bulk,omitempty"` // bulk mode's requests and items; nil in the other modes
}

// StreamTotals sums the per-stream checks over all streams.
type StreamTotals struct {
	Streams    uint64 `json:"streams"`    // streams seen
	Distinct   uint64 `json:"distinct"`   // distinct (stream, seq) pairs received
	Missing    uint64 `json:"missing"`    // sequence numbers below each stream's highest that never arrived
	Duplicates uint64 `json:"duplicates"` // stamped messages received again outside resent batches
	Reordered  uint64 `json:"reordered"`  // arrivals below their stream's highest seq so far (not duplicates)
	Foreign    uint64 `json:"foreign"`    // messages without a stamp (counted, not checked)
	Untracked  uint64 `json:"untracked"`  // stamped messages beyond the checker's memory budget (not checked)
	// GapExamples lists a few missing ranges, lowest streams first.
	GapExamples []Gap `json:"gap_examples"`
}

// Gap is a range of sequence numbers missing from one stream.
type Gap struct {
	Stream uint32 `json:"stream"`
	wire.SeqRange
}

// StreamStat is the state of one stream.
type StreamStat struct {
	ID         uint32          `json:"id"`
	Highest    uint64          `json:"highest"`
	Distinct   uint64          `json:"distinct"`
	Missing    uint64          `json:"missing"`
	Duplicates uint64          `json:"duplicates"`
	Reordered  uint64          `json:"reordered"`
	Gaps       []wire.SeqRange `json:"gaps,omitempty"` // the first few gaps
}

// Point is one second of the throughput series.
type Point struct {
	Unix     int64  `json:"t"` // Unix second
	Messages uint64 `json:"msgs"`
	Bytes    uint64 `json:"bytes"`
}

// Misbehaviour counts what mockdest did wrong on purpose.
type Misbehaviour struct {
	AcksDelayed   uint64 `json:"acks_delayed"`   // acknowledgements written late (AckDelay, AckJitter)
	Nacks         uint64 `json:"nacks"`          // batches negatively acknowledged (NackRate), not recorded
	AcksDropped   uint64 `json:"acks_dropped"`   // batches recorded but never acknowledged (NoAckRate)
	FramesIgnored uint64 `json:"frames_ignored"` // frames read and discarded after a nack or a dropped ack on the same connection
	ConnsClosed   uint64 `json:"conns_closed"`   // connections closed on receipt of a batch (CloseRate), that batch unrecorded
	DownPeriods   uint64 `json:"down_periods"`   // times mockdest went down (DownFor every DownEvery)
	DownClosed    uint64 `json:"down_closed"`    // open connections closed when going down
	ConnsRefused  uint64 `json:"conns_refused"`  // connections closed on accept while down
	ReadThrottled uint64 `json:"read_throttled"` // reads delayed by the bandwidth cap
}

const (
	maxGapExamples   = 10
	maxStreamDetails = 100
	gapsPerStream    = 5
)

// snapshot fills the recorder's part of a Snapshot.
func (r *Recorder) snapshot(s *Snapshot) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s.Start = r.start
	s.End = time.Now()
	s.Batches, s.Messages, s.Bytes = r.batches, r.messages, r.bytes
	s.DuplicateBatches, s.ResentMessages, s.SenderRestarts = r.dupBatch, r.resent, r.restarts
	s.MaxBatchSize = r.maxSize
	s.BatchSizes = make(map[string][]uint64, len(r.reasons))
	s.BatchSizesOver = make(map[string]map[uint32]uint64)
	s.BatchAge = make(map[string]*hdrhistogram.Histogram, len(r.reasons))
	for _, rs := range r.reasons {
		s.BatchSizes[rs.name] = slices.Clone(rs.sizes)
		if len(rs.over) > 0 {
			m := make(map[uint32]uint64, len(rs.over))
			for k, v := range rs.over {
				m[k] = v
			}
			s.BatchSizesOver[rs.name] = m
		}
		s.BatchAge[rs.name] = rs.age.Clone()
	}
	s.Latency = r.latency.Clone()
	s.Throughput = slices.Clone(r.series)

	t := StreamTotals{
		Streams:    uint64(r.nstream),
		Distinct:   r.distinct,
		Duplicates: r.dups,
		Reordered:  r.reordered,
		Foreign:    r.foreign,
		Untracked:  r.untracked,
	}
	var details []StreamStat
	r.eachStream(func(st *stream) {
		hi := st.seqs.highest()
		missing := hi - st.distinct
		t.Missing += missing
		if missing > 0 && len(t.GapExamples) < maxGapExamples {
			for _, g := range st.seqs.gaps(nil, maxGapExamples-len(t.GapExamples)) {
				t.GapExamples = append(t.GapExamples, Gap{Stream: st.id, SeqRange: g})
			}
		}
		if (missing > 0 || st.dups > 0 || st.reordered > 0) && len(details) < maxStreamDetails {
			details = append(details, st.stat())
		}
	})
	s.Streams = t
	s.StreamDetails = details
}

func (st *stream) stat() StreamStat {
	hi := st.seqs.highest()
	return StreamStat{
		ID:         st.id,
		Highest:    hi,
		Distinct:   st.distinct,
		Missing:    hi - st.distinct,
		Duplicates: st.dups,
		Reordered:  st.reordered,
		Gaps:       st.seqs.gaps(nil, gapsPerStream),
	}
}

// eachStream calls fn for every stream in increasing id order.
func (r *Recorder) eachStream(fn func(*stream)) {
	for _, st := range r.dense {
		if st != nil {
			fn(st)
		}
	}
	if len(r.sparse) == 0 {
		return
	}
	ids := make([]uint32, 0, len(r.sparse))
	for id := range r.sparse {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		fn(r.sparse[id])
	}
}

// Stream returns the state of one stream and whether it was seen.
func (r *Recorder) Stream(id uint32) (StreamStat, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.lookup(id)
	if st == nil {
		return StreamStat{}, false
	}
	return st.stat(), true
}

// Snapshot returns a deep copy of what the Recorder holds, with Mode and
// the server's counters left zero.
func (r *Recorder) Snapshot() Snapshot {
	var s Snapshot
	r.snapshot(&s)
	return s
}

// Progress is a cheap subset of Snapshot, for polling while a run goes on.
type Progress struct {
	Batches, Messages, DuplicateBatches, Distinct uint64
	SenderRestarts                                uint64 // as Snapshot.SenderRestarts
	ConnsOpen                                     int64
}

// Progress returns the main totals without copying histograms or walking
// the streams.
func (s *Server) Progress() Progress {
	r := s.rec
	r.mu.Lock()
	p := Progress{Batches: r.batches, Messages: r.messages, DuplicateBatches: r.dupBatch, Distinct: r.distinct, SenderRestarts: r.restarts}
	r.mu.Unlock()
	p.ConnsOpen = s.open.Load()
	return p
}
