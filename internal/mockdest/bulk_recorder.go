package mockdest

import "time"

// ReasonRequest is the reason of a bulk-mode batch that came without the
// X-Logrelay-* batch headers: the documents one request stored.
const ReasonRequest = "request"

// maxBulkBatches bounds the relay batches whose parts bulk mode joins; a
// part arriving after its batch was forgotten counts as a new batch.
const maxBulkBatches = 1 << 16

// bulkRecState joins the requests that carry parts of one relay batch: a
// batch is what the relay flushed, whatever number of requests it took to
// store it (items resent alone after per-item 429s, halves after a 413).
// Guarded by Recorder.mu.
type bulkRecState struct {
	batches map[uint64]*bulkBatch // by batch seq
	order   []uint64              // ring of the seqs in batches, oldest at head
	head    int

	restartNs           int64  // flush time of the batch that showed the last sender restart
	parts               uint64 // requests that added to a batch already recorded
	dupsAfterBreak      uint64 // duplicates under a batch whose answer mockdest broke
	reorderedAfterFault uint64 // late arrivals under a batch with an injected failure
}

type bulkBatch struct {
	flushNs int64
	size    int // distinct documents stored (foreign ones included)
	rs      *reasonStats
	broken  bool // an answer to a request of this batch was broken on purpose
	faulted bool // a request of this batch met an injected failure (broken included)
}

// recordBulk records the documents one bulk request stored, p's stamps.
// The batch is b.Seq's (joined with its earlier parts, when b.FlushNs
// matches) or, with b.Seq 0, the request's own. Its size is the number of
// distinct documents stored under it, so resending a part neither makes a
// second batch nor grows the first. broken marks the batch as answered
// with a response mockdest broke on purpose, after which duplicates under
// it are counted as caused by that break as well as in the stream totals;
// faulted (implied by broken) marks it as having met an injected failure,
// after which its late arrivals are counted as caused by one as well as in
// the stream totals.
func (r *Recorder) recordBulk(b *Batch, p *parsed, nbytes int, broken, faulted bool) {
	if b.ArrivalNs == 0 {
		b.ArrivalNs = time.Now().UnixNano()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	acc := r.bulkBatchFor(b)
	count := len(p.stamps)
	var dupsBefore uint64
	if count > 0 {
		dupsBefore = r.dups
		r.checkStamps(b.ArrivalNs, p, acc != nil && acc.broken, acc != nil && acc.faulted)
	}
	if acc != nil {
		acc.broken = acc.broken || broken
		acc.faulted = acc.faulted || faulted || broken
	}
	if count == 0 {
		return
	}
	added := count - int(r.dups-dupsBefore)
	if added == 0 {
		// Every document was stored before: a resend, as a frame resent
		// after a lost acknowledgement.
		r.dupBatch++
		r.resent += uint64(count)
		return
	}
	if acc != nil && acc.rs != nil {
		r.bulk.parts++
		acc.rs.moveSize(acc.size, acc.size+added)
		acc.size += added
	} else {
		rs := r.reason(b.Reason)
		rs.moveSize(0, added)
		if b.OldestNs != 0 && b.FlushNs != 0 {
			recordClamped(rs.age, (b.FlushNs-b.OldestNs)/1e3)
		}
		r.batches++
		if acc != nil {
			acc.rs, acc.size = rs, added
		}
	}
	if acc != nil {
		r.maxSize = max(r.maxSize, acc.size)
	} else {
		r.maxSize = max(r.maxSize, added)
	}
	r.messages += uint64(count)
	r.bytes += uint64(nbytes)
	r.addPoint(b.ArrivalNs, uint64(count), uint64(nbytes))
}

// bulkBatchFor returns the state of b's batch, creating it (not yet
// counted as a batch), or nil when b has no seq. Called with r.mu held.
func (r *Recorder) bulkBatchFor(b *Batch) *bulkBatch {
	if b.Seq == 0 {
		return nil
	}
	st := &r.bulk
	if st.batches == nil {
		st.batches = make(map[uint64]*bulkBatch)
	}
	acc := st.batches[b.Seq]
	if acc == nil {
		acc = &bulkBatch{flushNs: b.FlushNs}
		st.remember(b.Seq, acc)
		return acc
	}
	if acc.flushNs != b.FlushNs {
		// Same seq, another flush time: the relay restarted and numbers
		// its batches from 1 again. Every batch it numbered before the
		// restart collides in turn: only one numbered since the last
		// restart seen makes another.
		if b.FlushNs > acc.flushNs && acc.flushNs >= st.restartNs {
			r.restarts++
			st.restartNs = b.FlushNs
		}
		*acc = bulkBatch{flushNs: b.FlushNs}
	}
	return acc
}

// markBulkFault records that a request of b's batch met an injected
// failure that stored nothing.
func (r *Recorder) markBulkFault(b *Batch) {
	if b.Seq == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bulkBatchFor(b).faulted = true
}

// remember adds a batch, forgetting the oldest beyond maxBulkBatches.
func (st *bulkRecState) remember(seq uint64, acc *bulkBatch) {
	if len(st.order) < maxBulkBatches {
		st.order = append(st.order, seq)
	} else {
		delete(st.batches, st.order[st.head])
		st.order[st.head] = seq
		st.head = (st.head + 1) % maxBulkBatches
	}
	st.batches[seq] = acc
}
