package scenario

import (
	"context"
	"errors"
	"path/filepath"

	"github.com/logrelay/logrelay/internal/bench/report"
	"github.com/logrelay/logrelay/internal/bench/sut"
)

// profile starts a CPU profile of h over the step and returns the
// function that, once the load has ended, waits for it and saves the
// other profiles; their errors are the step's.
func (t *Trial) profile(ctx context.Context, h sut.Relay) func() error {
	proc, ok := h.(*sut.ProcessRelay)
	if !ok {
		return func() error { return errors.New("profile: the relay is not a process the bench started") }
	}
	dir := filepath.Join(t.cfg.Out, "profiles")
	cpu := make(chan error, 1)
	go func() {
		p, err := proc.CPUProfile(ctx, dir, t.P.StepDuration)
		if err == nil {
			t.addProfiles(p)
		}
		cpu <- err
	}()
	return func() error {
		err := <-cpu
		ps, perr := proc.Profiles(ctx, dir)
		t.addProfiles(ps...)
		return errJoin(err, perr)
	}
}

func (e *Env) addProfiles(ps ...sut.Profile) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, p := range ps {
		e.profiles = append(e.profiles, report.Profile{Kind: p.Kind, Path: p.Path, Command: p.Command})
	}
}
