package scenario

import (
	"context"
	"fmt"

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
	addr := r.h.Addr()
	if t.P.RELP {
		if addr = r.h.RELPAddr(); addr == "" {
			return fmt.Errorf("%w: the relay's RELP address is not known (an external relay)", ErrNotApplicable)
		}
	}
	lc := t.loadCfg(t.P, addr)
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
