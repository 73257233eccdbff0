package mockdest

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/logrelay/logrelay/internal/wire"
)

// Histogram bounds: microseconds from 1 µs to one hour, 3 significant
// figures. Larger values are recorded as the highest trackable value.
const (
	histLowest  = 1
	histHighest = int64(time.Hour / time.Microsecond)
	histSigFigs = 3
)

func newHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(histLowest, histHighest, histSigFigs)
}

// Reason names used by the receivers. Frames use wire.Reason's names.
const (
	// ReasonRead is the reason of a lines-mode batch: the complete lines
	// that arrived in one read.
	ReasonRead = "read"
)

// denseSizes is the largest batch size counted in the dense per-size
// arrays; larger sizes are counted in a sparse map.
const denseSizes = 1 << 16

// Limits that keep the stream checker's memory bounded whatever arrives.
const (
	// maxDenseStream is the largest stream id looked up in a slice; larger
	// ids use a map.
	maxDenseStream = 1 << 20
	// maxStreams is the most streams tracked; stamped messages of further
	// streams are counted as untracked.
	maxStreams = 1 << 20
	// maxRanges is the most sequence ranges (one per gap) kept over all
	// streams: 64 MiB.
	maxRanges = 1 << 22
)

// Batch describes one batch as a receiver got it, independently of the
// transport.
type Batch struct {
	// Seq is the sender's batch sequence number, used to recognise a
	// resent batch; 0 means the transport has none.
	Seq uint64
	// Reason names why the sender flushed the batch ("size", "age",
	// "shutdown", "bytes"), or how the receiver cut it ("read").
	Reason string
	// OldestNs and FlushNs are the sender's receive time of the batch's
	// oldest message and its flush time (Unix ns); 0 when unknown.
	OldestNs, FlushNs int64
	// ArrivalNs is when the batch arrived (Unix ns); 0 means now.
	ArrivalNs int64
}

// Recorder accumulates what arrives: batch sizes by reason, batch ages,
// end-to-end latencies, throughput, and loss, duplication and order per
// stream. It is safe for concurrent use; each Record takes its lock once.
type Recorder struct {
	// free holds parse buffers between batches: a channel rather than a
	// sync.Pool, which drops items at random under the race detector.
	free chan *parsed

	mu       sync.Mutex
	start    time.Time
	batches  uint64
	messages uint64
	bytes    uint64
	dupBatch uint64
	resent   uint64
	restarts uint64
	maxSize  int
	reasons  []*reasonStats
	latency  *hdrhistogram.Histogram
	// batchSeqs holds the batch sequence numbers recorded since the
	// sender's last restart; maxFlushNs is the latest FlushNs among them.
	batchSeqs   seqSet
	batchBudget rangeBudget
	maxFlushNs  int64

	dense   []*stream
	sparse  map[uint32]*stream
	nstream int
	budget  rangeBudget
	last    *stream

	distinct, dups, reordered, foreign, untracked uint64

	series []Point

	bulk bulkRecState // bulk mode's joining of a batch's requests
}

type reasonStats struct {
	name  string
	sizes []uint64          // index = batch size, up to denseSizes
	over  map[uint32]uint64 // sizes above denseSizes
	age   *hdrhistogram.Histogram
}

type stream struct {
	id                   uint32
	seqs                 seqSet
	distinct             uint64
	dups, reordered      uint64
	untracked, latencies uint64
	// dupSeqs are the seqs that arrived more than once; dupUntracked
	// counts those the range budget left out of it.
	dupSeqs      seqSet
	dupUntracked uint64
}

// noteDup records that seq arrived again.
func (st *stream) noteDup(seq uint64, budget *rangeBudget) {
	if st.dupSeqs.add(seq, budget) == arrivedUntracked {
		st.dupUntracked++
	}
}

// parsed is a batch's stamps, parsed before the lock is taken.
type parsed struct {
	stamps []wire.Stamp
	ok     []bool
}

// add appends msg's stamp to p; it is ok (checked in its stream) when msg
// is stamped with a seq other than 0 and math.MaxUint64.
func (p *parsed) add(msg []byte) {
	s, ok := wire.ParseStamp(msg)
	p.stamps = append(p.stamps, s)
	p.ok = append(p.ok, ok && s.Seq != 0 && s.Seq != math.MaxUint64)
}

// NewRecorder returns an empty Recorder whose clock starts now.
func NewRecorder() *Recorder {
	r := &Recorder{
		start:   time.Now(),
		latency: newHist(),
		sparse:  make(map[uint32]*stream),
		budget:  rangeBudget{limit: maxRanges},
		// A relay numbers its batches without gaps; the budget only
		// matters for a sender that does not.
		batchBudget: rangeBudget{limit: 1 << 20},
	}
	r.free = make(chan *parsed, 32)
	return r
}

// Record records a batch whose payload holds its messages, each ended by
// '\n' (a final message without one also counts). It reports whether the
// batch was a duplicate: a Seq already recorded, resent by the sender,
// whose messages are counted as resent and otherwise ignored.
//
// A Seq seen before with a FlushNs later than any recorded one cannot be a
// resend (a resent frame keeps its original FlushNs): it means the sender
// restarted and numbers its batches from 1 again, so the set of recorded
// sequence numbers starts afresh.
func (r *Recorder) Record(b Batch, payload []byte) (duplicate bool) {
	if b.ArrivalNs == 0 {
		b.ArrivalNs = time.Now().UnixNano()
	}
	var p *parsed
	select {
	case p = <-r.free:
	default:
		p = new(parsed)
	}
	p.stamps, p.ok = p.stamps[:0], p.ok[:0]
	nbytes := len(payload)
	for len(payload) > 0 {
		var msg []byte
		if i := bytes.IndexByte(payload, '\n'); i >= 0 {
			msg, payload = payload[:i], payload[i+1:]
		} else {
			msg, payload = payload, nil
		}
		p.add(msg)
	}
	r.mu.Lock()
	duplicate = r.recordLocked(&b, p, nbytes)
	r.mu.Unlock()
	select {
	case r.free <- p:
	default:
	}
	return duplicate
}

// startIfEmpty moves the start of the recording to t if nothing has been
// recorded yet, so that a Server's report starts when it starts serving.
func (r *Recorder) startIfEmpty(t time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.batches == 0 && r.dupBatch == 0 {
		r.start = t
	}
}

// maxPoints bounds the throughput series (one point per second, a week).
const maxPoints = 7 * 24 * 3600

func (r *Recorder) recordLocked(b *Batch, p *parsed, nbytes int) bool {
	count := len(p.stamps)
	if count == 0 {
		return false
	}
	if b.Seq != 0 {
		if r.batchSeqs.contains(b.Seq) {
			if b.FlushNs <= r.maxFlushNs {
				r.dupBatch++
				r.resent += uint64(count)
				return true
			}
			r.batchBudget.give(len(r.batchSeqs.ranges))
			r.batchSeqs = seqSet{}
			r.restarts++
		}
		r.batchSeqs.add(b.Seq, &r.batchBudget)
		r.maxFlushNs = max(r.maxFlushNs, b.FlushNs)
	}
	r.batches++
	r.messages += uint64(count)
	r.bytes += uint64(nbytes)
	r.maxSize = max(r.maxSize, count)
	rs := r.reason(b.Reason)
	rs.moveSize(0, count)
	if b.OldestNs != 0 && b.FlushNs != 0 {
		recordClamped(rs.age, (b.FlushNs-b.OldestNs)/1e3)
	}
	r.addPoint(b.ArrivalNs, uint64(count), uint64(nbytes))
	r.checkStamps(b.ArrivalNs, p, false, false)
	return false
}

// moveSize moves one batch from size from to size to in rs's counts of
// batches by size; from 0 counts a new batch. Sizes up to denseSizes are
// counted in rs.sizes, larger ones in rs.over.
func (rs *reasonStats) moveSize(from, to int) {
	if from > 0 {
		if from <= denseSizes {
			rs.sizes[from]--
		} else if rs.over[uint32(from)]--; rs.over[uint32(from)] == 0 {
			delete(rs.over, uint32(from))
		}
	}
	if to <= denseSizes {
		if to >= len(rs.sizes) {
			rs.sizes = append(rs.sizes, make([]uint64, to+1-len(rs.sizes))...)
		}
		rs.sizes[to]++
	} else {
		if rs.over == nil {
			rs.over = make(map[uint32]uint64)
		}
		rs.over[uint32(to)]++
	}
}

// checkStamps runs the stream checks on p's stamps, which arrived at
// arrivalNs: it counts each stamp as foreign, untracked, duplicate, late or
// distinct in its stream and in the totals, and records the end-to-end
// latency of each distinct one. With afterBreak it counts duplicates also
// in dupsAfterBreak, with afterFault late arrivals also in
// reorderedAfterFault (bulk mode's attribution). Called with r.mu held.
func (r *Recorder) checkStamps(arrivalNs int64, p *parsed, afterBreak, afterFault bool) {
	for i := range p.stamps {
		if !p.ok[i] {
			r.foreign++
			continue
		}
		s := &p.stamps[i]
		st := r.stream(s.Stream)
		if st == nil {
			r.untracked++
			continue
		}
		switch st.seqs.add(s.Seq, &r.budget) {
		case arrivedNext, arrivedAhead:
		case arrivedLate:
			st.reordered++
			r.reordered++
			if afterFault {
				r.bulk.reorderedAfterFault++
			}
		case arrivedDuplicate:
			st.dups++
			r.dups++
			st.noteDup(s.Seq, &r.budget)
			if afterBreak {
				r.bulk.dupsAfterBreak++
			}
			continue
		case arrivedUntracked:
			st.untracked++
			r.untracked++
			continue
		}
		st.distinct++
		r.distinct++
		recordClamped(r.latency, (arrivalNs-s.SentNs)/1e3)
	}
}

// recordClamped records v, clamped to the histogram's range.
func recordClamped(h *hdrhistogram.Histogram, v int64) {
	if v < 0 {
		v = 0
	} else if v > histHighest {
		v = histHighest
	}
	_ = h.RecordValue(v) // in range: cannot fail
}

// reason returns the statistics of the named reason, creating them.
func (r *Recorder) reason(name string) *reasonStats {
	for _, rs := range r.reasons {
		if rs.name == name {
			return rs
		}
	}
	rs := &reasonStats{name: name, age: newHist()}
	r.reasons = append(r.reasons, rs)
	return rs
}

// stream returns the state of stream id, creating it, or nil when the
// stream limit is reached.
func (r *Recorder) stream(id uint32) *stream {
	if r.last != nil && r.last.id == id {
		return r.last
	}
	var st *stream
	if id < maxDenseStream {
		if int(id) < len(r.dense) {
			st = r.dense[id]
		}
	} else {
		st = r.sparse[id]
	}
	if st == nil {
		if r.nstream >= maxStreams {
			return nil
		}
		st = &stream{id: id}
		r.nstream++
		if id < maxDenseStream {
			if int(id) >= len(r.dense) {
				r.dense = append(r.dense, make([]*stream, int(id)+1-len(r.dense))...)
			}
			r.dense[id] = st
		} else {
			r.sparse[id] = st
		}
	}
	r.last = st
	return st
}

// lookup returns stream id's state or nil, without creating it.
func (r *Recorder) lookup(id uint32) *stream {
	if id < maxDenseStream {
		if int(id) < len(r.dense) {
			return r.dense[id]
		}
		return nil
	}
	return r.sparse[id]
}

// addPoint adds to the throughput series' point for the second of t.
func (r *Recorder) addPoint(tNs int64, msgs, nbytes uint64) {
	sec := tNs / 1e9
	n := len(r.series)
	// Batches from several connections may arrive slightly out of order:
	// look back a few points for the right second.
	for i := n - 1; i >= 0 && i >= n-4; i-- {
		if r.series[i].Unix == sec {
			r.series[i].Messages += msgs
			r.series[i].Bytes += nbytes
			return
		}
		if r.series[i].Unix < sec {
			break
		}
	}
	if n > 0 && sec < r.series[n-1].Unix {
		// Older than the last point and not found: credit the last point.
		r.series[n-1].Messages += msgs
		r.series[n-1].Bytes += nbytes
		return
	}
	if n >= maxPoints {
		n = copy(r.series, r.series[n/2:])
		r.series = r.series[:n]
	}
	r.series = append(r.series, Point{Unix: sec, Messages: msgs, Bytes: nbytes})
}

// MissingRanges returns the sequence numbers in [1, upTo] of stream that
// never arrived, as inclusive ranges in increasing order.
func (r *Recorder) MissingRanges(stream uint32, upTo uint64) []wire.SeqRange {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.lookup(stream)
	if st == nil {
		if upTo == 0 {
			return nil
		}
		return []wire.SeqRange{{From: 1, To: upTo}}
	}
	return st.seqs.missing(upTo)
}

// DuplicateRanges returns the sequence numbers of stream that arrived more
// than once, as inclusive ranges in increasing order, and how many
// duplicate arrivals the range budget kept out of them (each of those is
// a seq not listed).
func (r *Recorder) DuplicateRanges(stream uint32) (seqs []wire.SeqRange, untracked uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.lookup(stream)
	if st == nil {
		return nil, 0
	}
	return slices.Clone(st.dupSeqs.ranges), st.dupUntracked
}

// check is Server.Check's verdict on the recorder's totals.
func (r *Recorder) check(maxBatch int, expect int64) error {
	r.mu.Lock()
	maxSize, distinct, untracked := r.maxSize, r.distinct, r.untracked
	var missing uint64
	var gaps []Gap
	r.eachStream(func(st *stream) {
		if m := st.seqs.highest() - st.distinct; m > 0 {
			missing += m
			for _, g := range st.seqs.gaps(nil, 3-len(gaps)) {
				gaps = append(gaps, Gap{Stream: st.id, SeqRange: g})
			}
		}
	})
	r.mu.Unlock()

	var errs []error
	if maxBatch > 0 && maxSize > maxBatch {
		errs = append(errs, fmt.Errorf("%w: largest batch %d messages, maximum %d", ErrMaxBatch, maxSize, maxBatch))
	}
	if expect > 0 {
		if distinct != uint64(expect) || missing > 0 {
			errs = append(errs, fmt.Errorf("%w: %d distinct stamped messages with %d missing, want exactly %d with none missing%s",
				ErrExpect, distinct, missing, expect, formatGaps(gaps)))
		}
		if untracked > 0 {
			errs = append(errs, fmt.Errorf("%w: %d messages", ErrUntracked, untracked))
		}
	}
	return errors.Join(errs...)
}

func formatGaps(gaps []Gap) string {
	if len(gaps) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(" (first gaps:")
	for _, g := range gaps {
		fmt.Fprintf(&b, " stream %d seq %d-%d", g.Stream, g.From, g.To)
	}
	b.WriteString(")")
	return b.String()
}
