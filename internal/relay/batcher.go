package relay

import (
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

// batcher is the single goroutine that turns chunks into batches. It owns
// the current batch, its deadline and the age timer; nothing else touches
// them, so none of it needs a lock.
//
// The rules: a batch is flushed when it holds batchSize messages (reason
// size), when its payload reaches batchBytes or the next message would
// overflow it (reason bytes; without --batch-bytes the cap is the
// protocol's default payload limit, 64 MiB), or when its oldest
// message has waited flushInterval since the read that delivered it (reason
// age). The age deadline is set by the batch's first message, so a batch
// started by a late message is timed from that message; a chunk read
// earlier that reaches the batcher later (two readers racing to the queue)
// moves the batch's oldest time and deadline back, so OldestNs is truly the
// oldest. When the readers are gone, what is left is flushed with reason
// shutdown.
type batcher struct {
	batchSize  int
	batchBytes int // payload cap, always > 0
	interval   time.Duration

	stamps  stamps
	in      *chunkQueue
	chunks  *chunkPool
	batches *batchPool
	out     *batchQueue
	st      *counters

	cur      *Batch
	deadline int64 // stamp at which the current batch is due
	timer    Timer
	seq      uint64
}

func newBatcher(cfg *Config, ts stamps, in *chunkQueue, chunks *chunkPool, batches *batchPool, out *batchQueue, st *counters) *batcher {
	return &batcher{
		batchSize:  cfg.BatchSize,
		batchBytes: cfg.payloadCap(),
		interval:   cfg.FlushInterval,
		stamps:     ts,
		in:         in,
		chunks:     chunks,
		batches:    batches,
		out:        out,
		st:         st,
		timer:      newStoppedTimer(ts.clock),
	}
}

// run batches chunks until done is closed and the queue is empty, then
// flushes the last batch with reason shutdown and closes out. Close done
// only after every producer has stopped pushing.
func (b *batcher) run(done <-chan struct{}) {
	defer b.timer.Stop()
	finishing := false
	for {
		for c := b.in.pop(); c != nil; c = b.in.pop() {
			b.add(c)
			b.chunks.put(c)
		}
		if finishing {
			if b.cur != nil {
				b.flush(wire.ReasonShutdown, b.stamps.now())
			}
			b.out.close()
			return
		}
		switch b.in.sleep(b.timer.C(), done) {
		case wokeTimer:
			b.onTimer()
		case wokeDone:
			finishing = true
		}
	}
}

// add appends c's messages to the current batch, flushing as the rules say.
func (b *batcher) add(c *chunk) {
	now := b.stamps.now()
	if b.cur != nil && now >= b.deadline {
		b.flush(wire.ReasonAge, now)
	}
	data, ends := c.data, c.ends
	off := uint32(0)
	for i := 0; i < len(ends); {
		if b.cur == nil {
			b.start(c.recvNs, now)
		} else if c.recvNs < b.cur.hdr.OldestNs {
			b.older(c.recvNs, now)
		}
		count := int(b.cur.hdr.Count)
		n := min(b.batchSize-count, len(ends)-i)
		if room := b.batchBytes - (len(b.cur.buf) - wire.HeaderSize); int(ends[i+n-1]-off) > room {
			k := 0
			for k < n && int(ends[i+k]-off) <= room {
				k++
			}
			if k == 0 {
				if count > 0 {
					b.flush(wire.ReasonBytes, now)
					continue
				}
				k = 1 // one message over the cap makes a batch of its own
			}
			n = k
		}
		end := ends[i+n-1]
		if c.relp != nil {
			b.cur.relp = addRelpRun(b.cur.relp, c.relp, c.relpFirst+uint64(i), b.cur.hdr.Count, uint32(n))
		}
		b.cur.appendMessages(data, ends, off, i, i+n)
		b.cur.addRun(b.cur.hdr.Count, c.recvNs)
		off, i = end, i+n
		switch {
		case int(b.cur.hdr.Count) == b.batchSize:
			b.flush(wire.ReasonSize, now)
		case len(b.cur.buf)-wire.HeaderSize >= b.batchBytes:
			b.flush(wire.ReasonBytes, now)
		}
	}
	if b.cur != nil && now >= b.deadline {
		b.flush(wire.ReasonAge, now)
	}
}

// start opens a batch whose oldest message was received at recvNs.
func (b *batcher) start(recvNs, now int64) {
	b.cur = b.batches.get()
	b.older(recvNs, now)
}

// older makes recvNs the current batch's oldest receive time and moves its
// deadline back to match; add flushes it if that deadline has passed.
func (b *batcher) older(recvNs, now int64) {
	b.cur.hdr.OldestNs = recvNs
	b.deadline = recvNs + int64(b.interval)
	b.timer.Reset(time.Duration(max(b.deadline-now, 0)))
}

// onTimer handles the age timer: it flushes the batch if its deadline has
// passed, or re-arms the timer if it fired early.
func (b *batcher) onTimer() {
	if b.cur == nil {
		return
	}
	now := b.stamps.now()
	if now >= b.deadline {
		b.flush(wire.ReasonAge, now)
		return
	}
	b.timer.Reset(time.Duration(b.deadline - now))
}

// flush closes the current batch: it numbers it, writes its header and
// queues it for the sink.
func (b *batcher) flush(reason wire.Reason, now int64) {
	bt := b.cur
	b.cur = nil
	b.timer.Stop()
	b.seq++
	bt.hdr.Seq = b.seq
	bt.hdr.PayloadLen = uint32(len(bt.buf) - wire.HeaderSize)
	bt.hdr.FlushNs = max(now, bt.hdr.OldestNs)
	bt.hdr.Reason = reason
	wire.PutHeader(bt.buf, bt.hdr)
	b.st.batchFlushed(reason, int(bt.hdr.Count))
	b.out.push(bt)
}
