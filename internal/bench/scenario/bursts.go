package scenario

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/logrelay/logrelay/internal/bench/report"
	"github.com/logrelay/logrelay/internal/loadgen"
)

// runBursts: bursts of Burst messages on each of Conns persistent
// connections, separated by the given silences; the bench writes the
// stamped messages itself because the silences are irregular.
func runBursts(ctx context.Context, t *Trial) error {
	p, rec := t.P, t.Rec
	r, err := t.startOne(ctx)
	if err != nil {
		return err
	}
	ws := make([]*stampWriter, p.Conns)
	var total uint64
	var mu sync.Mutex
	r.setCounter(func() uint64 { mu.Lock(); defer mu.Unlock(); return total })
	var werr error
	for i := range ws {
		if ws[i], err = dialStamp(ctx, r.h.Addr(), uint32(i), p.Size, "burst ", 'b'); err != nil {
			werr = err
			break
		}
	}
	start := time.Now()
	for b := 0; werr == nil && b <= len(p.Silences); b++ {
		rec.Events = append(rec.Events, report.Event{At: time.Now(), Label: fmt.Sprintf("burst %d", b+1)})
		var g errgroup.Group
		for _, w := range ws {
			g.Go(func() error { return w.burst(p.Burst) })
		}
		werr = g.Wait()
		mu.Lock()
		total = uint64(b+1) * uint64(p.Burst) * uint64(len(ws))
		mu.Unlock()
		if b < len(p.Silences) {
			select {
			case <-ctx.Done():
				werr = ctx.Err()
			case <-time.After(p.Silences[b]):
			}
		}
	}
	var streams []loadgen.StreamReport
	var sent uint64
	for _, w := range ws {
		if w == nil {
			continue
		}
		w.close()
		streams = append(streams, loadgen.StreamReport{ID: w.stream, LastSeq: w.next - 1})
		sent += w.next - 1
	}
	// Let the last burst's partial batch age out before the relay stops, so
	// the tail is also flushed by age, not by the shutdown.
	r.d.WaitArrived(ctx, sent, t.cfg.FlushInterval+2*time.Second)
	secs := time.Since(start).Seconds()
	rec.Obs.Load = &report.Load{Conns: p.Conns, Sent: sent, Seconds: secs, AchievedRate: float64(sent) / secs}
	_, ferr := r.finish(ctx, streams, sent)
	return errJoin(werr, ferr)
}
