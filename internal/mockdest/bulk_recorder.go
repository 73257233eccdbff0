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

	parts          uint64 // requests that added to a batch already recorded
	dupsAfterBreak uint64 // duplicates under a batch whose answer mockdest broke
}

type bulkBatch struct {
	flushNs int64
	size    int // distinct documents stored (foreign ones included)
	rs      *reasonStats
	broken  bool // an answer to a request of this batch was broken on purpose
}

// recordBulk records the documents one bulk request stored, p's stamps.
// The batch is b.Seq's (joined with its earlier parts, when b.FlushNs
// matches) or, with b.Seq 0, the request's own. Its size is the number of
// distinct documents stored under it, so resending a part neither makes a
// second batch nor grows the first. broken marks the batch as answered
// with a response mockdest broke on purpose, after which duplicates under
// it are counted as caused by that break as well as in the stream totals.
func (r *Recorder) recordBulk(b *Batch, p *parsed, nbytes int, broken bool) {
	if b.ArrivalNs == 0 {
		b.ArrivalNs = time.Now().UnixNano()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	st := &r.bulk
	var acc *bulkBatch
	if b.Seq != 0 {
		if st.batches == nil {
			st.batches = make(map[uint64]*bulkBatch)
		}
		acc = st.batches[b.Seq]
		if acc != nil && acc.flushNs != b.FlushNs {
			// Same seq, another flush time: the relay restarted and
			// numbers its batches from 1 again.
			if b.FlushNs > acc.flushNs {
				r.restarts++
			}
			acc.flushNs, acc.size, acc.broken, acc.rs = b.FlushNs, 0, false, nil
		}
	}
	count := len(p.stamps)
	if count == 0 {
		if broken && acc != nil {
			acc.broken = true
		}
		return
	}
	dupsBefore := r.dups
	r.checkStamps(b.ArrivalNs, p, acc != nil && acc.broken)
	added := count - int(r.dups-dupsBefore)
	if broken && acc != nil {
		acc.broken = true
	}
	if added == 0 {
		// Every document was stored before: a resend, as a frame resent
		// after a lost acknowledgement.
		r.dupBatch++
		r.resent += uint64(count)
		return
	}
	if acc != nil && acc.rs != nil {
		st.parts++
		acc.rs.moveSize(acc.size, acc.size+added)
		acc.size += added
	} else {
		rs := r.reason(b.Reason)
		rs.moveSize(0, added)
		if b.OldestNs != 0 && b.FlushNs != 0 {
			recordClamped(rs.age, (b.FlushNs-b.OldestNs)/1e3)
		}
		r.batches++
		if b.Seq != 0 {
			if acc == nil {
				acc = &bulkBatch{flushNs: b.FlushNs, broken: broken}
				st.remember(b.Seq, acc)
			}
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

// moveSize moves one batch from size from to size to (from 0 = a new
// batch).
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

// checkStamps runs the stream checks on p's stamps, as recordLocked does,
// counting duplicates also in dupsAfterBreak when afterBreak.
func (r *Recorder) checkStamps(arrivalNs int64, p *parsed, afterBreak bool) {
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
		case arrivedDuplicate:
			st.dups++
			r.dups++
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
