package loadgen

import (
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Histograms record microseconds from 0 to one hour at 3 significant
// digits; larger values are recorded as one hour.
const histMaxUs = int64(time.Hour / time.Microsecond)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, histMaxUs, 3) }

func clampUs(us int64) int64 { return min(max(us, 0), histMaxUs) }

// shardedHist is a histogram that many goroutines record into: each
// records into one of a few shards under that shard's lock, once per batch.
type shardedHist struct {
	shards []histShard
}

type histShard struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
	_  [40]byte // keep neighbouring locks off one cache line
}

func newShardedHist(n int) *shardedHist {
	s := &shardedHist{shards: make([]histShard, max(1, n))}
	for i := range s.shards {
		s.shards[i].h = newHist()
	}
	return s
}

func (s *shardedHist) shard(i int) *histShard { return &s.shards[i%len(s.shards)] }

// drainInto adds every shard to dst and empties the shards.
func (s *shardedHist) drainInto(dst *hdrhistogram.Histogram) {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		dst.Merge(sh.h)
		sh.h.Reset()
		sh.mu.Unlock()
	}
}

// rescale records into dst (reset first) every value of h multiplied by
// mul and divided by div: µs histograms become ns ones for .hlog files
// and back. Values keep their bucket's lowest equivalent value.
func rescale(dst, h *hdrhistogram.Histogram, mul, div int64) {
	dst.Reset()
	for _, b := range h.Distribution() {
		if b.Count > 0 {
			_ = dst.RecordValues(min(b.From*mul/div, dst.HighestTrackableValue()), b.Count)
		}
	}
}
