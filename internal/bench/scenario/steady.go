package scenario

import (
	"context"

	"github.com/logrelay/logrelay/internal/loadgen"
)

// The steady scenarios: a steady load for a duration (runSteady), each
// proving its rules at its own rate and number of connections.

// runSteady: start, load for the duration, stop, check.
func runSteady(ctx context.Context, t *Trial) error {
	r, err := t.startOne(ctx)
	if err != nil {
		return err
	}
	lc := t.loadCfg(t.P, r.h.Addr())
	if t.P.Conns > 500 {
		lc.ConnectRate = 5000
	}
	rep, lerr := r.load(ctx, lc)
	var streams []loadgen.StreamReport
	var sent uint64
	if rep != nil {
		streams, sent = rep.Streams, rep.Sent
	}
	_, ferr := r.finish(ctx, streams, sent)
	return errJoin(lerr, ferr)
}
