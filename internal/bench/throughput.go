package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/logrelay/logrelay/internal/bench/pipe"
	"github.com/logrelay/logrelay/internal/bench/procstat"
	"github.com/logrelay/logrelay/internal/bench/report"
	"github.com/logrelay/logrelay/internal/bench/stats"
	"github.com/logrelay/logrelay/internal/loadgen"
	"github.com/logrelay/logrelay/internal/mockdest"
)

// runThroughput measures the relay process at full speed (replicates,
// after a profiled run under --profile), then open-loop at the first of
// sustainFractions of the median rate that holds, and measures the bare
// pipe and any peers in the same run.
func runThroughput(ctx context.Context, e *env, p Params, rec *report.Scenario) error {
	t := &report.Throughput{}
	rec.Obs.Throughput = t
	var errs []error
	for _, fs := range fullSpeedSteps(p.Replicates, e.cfg.Profile) {
		sr, err := e.relayStep(ctx, p, rec, fs.name, 0, fs.profile)
		if fs.profile {
			t.Profiled = &sr.step
		} else {
			t.Replicates = append(t.Replicates, sr.step)
		}
		errs = append(errs, err)
		if err != nil && sr.step.Sent == 0 {
			break // the relay could not even start: no use repeating it
		}
	}
	if rates := t.Rates(); len(rates) > 0 {
		t.RelayMedian = stats.Median(rates)
		// Search downwards for the highest open-loop rate the relay
		// sustains with nothing lost; the batch rules are checked on that
		// step's mockdest record.
		for _, f := range sustainFractions {
			sr, err := e.relayStep(ctx, p, rec, fmt.Sprintf("relay open-loop at %.0f%%", 100*f), f*t.RelayMedian, false)
			if t.Sustained != nil {
				t.NotHeld = append(t.NotHeld, *t.Sustained)
			}
			t.Sustained = &sr.step
			rec.Obs.Dest, rec.Obs.Delivery, rec.Obs.Load = sr.snap, sr.delivery, sr.load
			if err != nil {
				errs = append(errs, err)
				break
			}
			if sustained(sr.step) {
				break
			}
		}
	}
	ps := e.pipeStep(ctx, p)
	t.Pipe = &ps
	if ps.Err == "" {
		t.PipeRate = ps.MsgsPerSec
	}
	if t.PipeRate > 0 {
		t.Ratio = t.RelayMedian / t.PipeRate
	}
	for _, peer := range e.cfg.Peers {
		t.Peers = append(t.Peers, e.peerStep(ctx, p, peer))
	}
	rec.Notes = append(rec.Notes, throughputNote(p))
	return errJoin(errs...)
}

// throughputDescription is the throughput scenario's description, naming
// the open-loop fractions runThroughput tries and CheckSustained's bound.
func throughputDescription() string {
	fs := make([]string, len(sustainFractions))
	for i, f := range sustainFractions {
		fs[i] = fmt.Sprintf("%.0f%%", 100*f)
	}
	tried := strings.Join(fs, ", ")
	if n := len(fs); n > 1 {
		tried = strings.Join(fs[:n-1], ", ") + " or " + fs[n-1]
	}
	return fmt.Sprintf("Throughput: the relay, as its own process, at full speed over 50 connections (or --conns), in replicates; "+
		"then open-loop at %s of their median rate, the first that holds (sent and delivered in steady state at ≥ 97%% of the "+
		"target, nothing lost; the rule needs ≥ %.0f%%), with the batch rules checked on that step; the same full-speed step "+
		"through a bare TCP pipe gives the ceiling, and the ratio is reported.", tried, 100*minSustained)
}

// throughputNote explains the throughput table's figures.
func throughputNote(p Params) string {
	return fmt.Sprintf("msgs/s counts arrivals at mockdest during loadgen's run (%d connections, as fast as possible, "+
		"TCP backpressure from the relay); CPU s and peak RSS are the relay process's own (/proc), not loadgen's or mockdest's. "+
		"All three share this machine's cores, so compare ratios within one run.", p.Conns)
}

// fullSpeedStep is one full-speed run of the relay.
type fullSpeedStep struct {
	name    string
	profile bool // profiled: slowed by the profiling, so not a replicate
}

// fullSpeedSteps returns the full-speed runs of the throughput scenario:
// with profile, a profiled run first, then the replicates (at least one),
// which alone make the median, the sustained-rate target and the
// regression gate.
func fullSpeedSteps(replicates int, profile bool) []fullSpeedStep {
	var ss []fullSpeedStep
	if profile {
		ss = append(ss, fullSpeedStep{name: "relay (profiled)", profile: true})
	}
	for i := range max(replicates, 1) {
		ss = append(ss, fullSpeedStep{name: fmt.Sprintf("relay #%d", i+1)})
	}
	return ss
}

// sustainFractions are the fractions of the saturation rate tried, in
// order, for the sustained open-loop step.
//
// The saturation rate is measured closed-loop (loadgen writes as fast as
// the relay reads, in large writes); paced, loadgen and mockdest spend
// more of the shared cores per message, so on a 2-core machine the
// open-loop rate that holds is well below it: 60–75% on a quiet machine,
// and a CI run on record held only at 50%. The search therefore goes down
// to 30% before it gives up.
var sustainFractions = []float64{0.9, 0.75, 0.6, 0.5, 0.4, 0.3}

// minSustained is the smallest fraction of the saturation rate that counts
// as sustained (CheckSustained).
const minSustained = 0.3

// sustained reports whether an open-loop step held its rate — loadgen sent
// it and the relay delivered it in steady state — with nothing lost.
func sustained(s report.Step) bool {
	return s.Err == "" && s.TargetRate > 0 && s.SendRate >= 0.97*s.TargetRate && s.SteadyRate >= 0.97*s.TargetRate &&
		s.Lost == 0 && s.Arrived > 0
}

// steadyRate returns the mean of the per-second arrival counts between
// from and to, leaving out the first and the last second (partial, and the
// pipeline filling or draining); 0 when fewer than one second remains.
func steadyRate(pts []mockdest.Point, from, to time.Time) float64 {
	var sum float64
	n := 0
	for _, p := range pts {
		if p.Unix > from.Unix() && p.Unix < to.Unix()-1 {
			sum += float64(p.Messages)
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

type stepResult struct {
	step     report.Step
	snap     *mockdest.Snapshot
	delivery *report.Delivery
	load     *report.Load
}

// relayStep runs one throughput step against a fresh relay process and
// mockdest. rate 0 = as fast as possible.
func (e *env) relayStep(ctx context.Context, p Params, rec *report.Scenario, name string, rate float64, profile bool) (stepResult, error) {
	var sr stepResult
	s := &sr.step
	*s = report.Step{Name: name, TargetRate: rate, Conns: p.Conns, Size: p.Size}
	d, err := e.startDest(ctx, destConfig{})
	if err != nil {
		s.Err = err.Error()
		return sr, err
	}
	h, _, err := e.startRelay(ctx, relayConfig{Sink: d.addr, Profile: profile}, true)
	if err != nil {
		d.stop()
		s.Err = err.Error()
		return sr, err
	}
	e.startedRelay(rec.Name, h.Kind())
	var sm *procstat.Sampler
	sctx, scancel := context.WithCancel(ctx)
	sdone := make(chan struct{})
	if h.PID() > 0 && h.Kind() != "in-process" {
		sm = procstat.NewSampler(h.PID(), 200*time.Millisecond)
		go func() { sm.Run(sctx); close(sdone) }()
	} else {
		close(sdone)
	}
	lc := e.loadCfg(p, h.Addr())
	lc.Rate, lc.Duration = rate, p.StepDuration
	if rate > 0 {
		// Open-loop at a high rate: groups of 16 messages per connection
		// written back-to-back (the average rate is unchanged), so the
		// pacer's wake-ups do not cost more CPU than the relay under test;
		// 2 s longer, for at least two whole seconds of steady state.
		lc.Duration += 2 * time.Second
		lc.Burst = 16
	}
	g, err := loadgen.New(lc)
	var rep *loadgen.Report
	var profErr chan error
	if err == nil {
		e.prog.track(rec.Name, name, func() uint64 { return g.Live().Sent })
		if profile {
			profErr = make(chan error, 1)
			go func() { profErr <- e.cpuProfile(ctx, h, p.StepDuration) }()
		}
		rep, err = g.Run(ctx)
	}
	arrivedAtEnd := d.srv.Progress()
	if profile {
		err = errJoin(err, <-profErr, e.snapshotProfiles(ctx, h))
	}
	if sm != nil {
		sm.Sample()
	}
	scancel()
	<-sdone
	var res shutdownResult
	if h.Kind() == "external" {
		if rep != nil {
			d.waitArrived(ctx, rep.Sent, e.cfg.FlushInterval+2*time.Second)
		}
	} else {
		waitIdle(ctx, h, drainTimeout)
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
		res = h.Stop(stopCtx)
		cancel()
	}
	e.prog.track(rec.Name, "", nil)
	snap, derr := d.stop()
	if sm != nil {
		if sum, ok := sm.Summary(); ok {
			s.CPUSeconds, s.PeakRSS = sum.CPUSeconds, sum.PeakRSS
		}
	}
	if rep != nil {
		secs := rep.End.Sub(rep.Start).Seconds()
		s.Seconds, s.Sent, s.SendRate = secs, rep.Sent, rep.AchievedRate
		s.Arrived = snap.Streams.Distinct
		s.SteadyRate = steadyRate(snap.Throughput, rep.Start, rep.End)
		if secs > 0 {
			s.MsgsPerSec = float64(arrivedAtEnd.Messages) / secs
			if arrivedAtEnd.Messages > 0 {
				s.MiBPerSec = s.MsgsPerSec * float64(snap.Bytes) / float64(snap.Messages) / (1 << 20)
			}
		}
		sr.delivery = delivery(rep.Streams, d.srv.MissingRanges)
		sr.load = loadObs(rep, lc.Conns)
		s.Lost = sr.delivery.Lost
	}
	sr.snap = snap
	if res.Err != nil {
		err = errJoin(err, fmt.Errorf("%s: relay shutdown: %w", name, res.Err))
	}
	err = errJoin(err, derr)
	if err != nil {
		s.Err = err.Error()
	}
	return sr, err
}

// pipeStep measures the bare TCP pipe (its own process when PipeBin is
// set) with mockdest in lines mode.
func (e *env) pipeStep(ctx context.Context, p Params) report.Step {
	s := report.Step{Name: "bare TCP pipe", Conns: p.Conns, Size: p.Size}
	d, err := e.startDest(ctx, destConfig{Mode: "lines", Listen: "127.0.0.1:0"})
	if err != nil {
		s.Err = err.Error()
		return s
	}
	defer d.stop()
	addr, pid, stop, err := e.startPipe(ctx, d.addr)
	if err != nil {
		s.Err = err.Error()
		return s
	}
	defer stop()
	e.measurePeer(ctx, p, &s, d, addr, pid)
	return s
}

// startPipe starts the pipe; it returns its address, its pid (0 when
// in-process) and a stop function.
func (e *env) startPipe(ctx context.Context, target string) (string, int, func(), error) {
	if e.cfg.PipeBin == "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", 0, nil, err
		}
		pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		go func() { pipe.Serve(pctx, ln, target); close(done) }()
		return ln.Addr().String(), 0, func() { cancel(); <-done }, nil
	}
	addr, err := freeAddr()
	if err != nil {
		return "", 0, nil, err
	}
	cmd := exec.Command(e.cfg.PipeBin, append(slices.Clone(e.cfg.PipeArgs), "--listen", addr, "--to", target)...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return "", 0, nil, fmt.Errorf("start pipe: %w", err)
	}
	stop := func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if i == 100 {
			stop()
			return "", 0, nil, fmt.Errorf("pipe not ready: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return addr, cmd.Process.Pid, stop, nil
}

// peerStep measures another relay, already running.
func (e *env) peerStep(ctx context.Context, p Params, peer Peer) report.Step {
	s := report.Step{Name: peer.Name, Conns: p.Conns, Size: p.Size}
	mode := peer.DestMode
	if mode == "" {
		mode = "lines"
	}
	d, err := e.startDest(ctx, destConfig{Mode: mode, Listen: peer.DestAddr})
	if err != nil {
		s.Err = err.Error()
		return s
	}
	defer d.stop()
	e.measurePeer(ctx, p, &s, d, peer.Addr, peer.PID)
	return s
}

// measurePeer runs one full-speed step through addr into d, sampling pid.
func (e *env) measurePeer(ctx context.Context, p Params, s *report.Step, d *dest, addr string, pid int) {
	if err := waitListening(ctx, addr, 10*time.Second); err != nil {
		s.Err = err.Error()
		return
	}
	var sm *procstat.Sampler
	sctx, scancel := context.WithCancel(ctx)
	sdone := make(chan struct{})
	if pid > 0 {
		sm = procstat.NewSampler(pid, 200*time.Millisecond)
		go func() { sm.Run(sctx); close(sdone) }()
	} else {
		close(sdone)
	}
	lc := e.loadCfg(p, addr)
	lc.Rate, lc.Duration = 0, p.StepDuration
	g, err := loadgen.New(lc)
	var rep *loadgen.Report
	if err == nil {
		rep, err = g.Run(ctx)
	}
	at := d.srv.Progress()
	if sm != nil {
		sm.Sample()
	}
	scancel()
	<-sdone
	if sm != nil {
		if sum, ok := sm.Summary(); ok {
			s.CPUSeconds, s.PeakRSS = sum.CPUSeconds, sum.PeakRSS
		}
	}
	if err != nil {
		s.Err = err.Error()
	}
	if rep == nil {
		return
	}
	// Let what the peer still holds arrive (it has no acknowledgements to
	// wait for), for the loss count.
	last, quiet := d.srv.Progress().Messages, time.Now()
	for time.Since(quiet) < time.Second && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
		if n := d.srv.Progress().Messages; n != last {
			last, quiet = n, time.Now()
		}
	}
	secs := rep.End.Sub(rep.Start).Seconds()
	s.Seconds, s.Sent, s.SendRate = secs, rep.Sent, rep.AchievedRate
	snap := d.srv.Snapshot()
	s.Arrived = snap.Streams.Distinct
	s.Lost = delivery(rep.Streams, d.srv.MissingRanges).Lost
	if secs > 0 {
		s.MsgsPerSec = float64(at.Messages) / secs
		if snap.Messages > 0 {
			s.MiBPerSec = s.MsgsPerSec * float64(snap.Bytes) / float64(snap.Messages) / (1 << 20)
		}
	}
}

// The relay profiles saved under --profile.
var profileKinds = []string{"heap", "allocs", "goroutine", "mutex", "block"}

func (e *env) profileDir() (string, error) {
	dir := filepath.Join(e.cfg.Out, "profiles")
	return dir, os.MkdirAll(dir, 0o755)
}

// cpuProfile saves a CPU profile of the relay over most of the step.
func (e *env) cpuProfile(ctx context.Context, h relayHandle, d time.Duration) error {
	secs := max(1, int((d - 500*time.Millisecond).Seconds()))
	return e.fetchProfile(ctx, h, "cpu", fmt.Sprintf("profile?seconds=%d", secs), time.Duration(secs+10)*time.Second)
}

// snapshotProfiles saves the heap, allocs, goroutine, mutex and block
// profiles, and a copy of the relay binary so the pprof commands work after
// the run.
func (e *env) snapshotProfiles(ctx context.Context, h relayHandle) error {
	var errs []error
	for _, k := range profileKinds {
		errs = append(errs, e.fetchProfile(ctx, h, k, k, 10*time.Second))
	}
	errs = append(errs, e.saveMetrics(h))
	return errJoin(errs...)
}

func (e *env) fetchProfile(ctx context.Context, h relayHandle, kind, path string, timeout time.Duration) error {
	ph, ok := h.(*procRelay)
	if !ok {
		return fmt.Errorf("profile: the relay is not a process the bench started")
	}
	dir, err := e.profileDir()
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, "http://"+ph.admin+"/debug/pprof/"+path, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		return fmt.Errorf("profile %s: %w", kind, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile %s: %s", kind, resp.Status)
	}
	file := filepath.Join(dir, "relay-"+kind+".pb.gz")
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("profile %s: %w", kind, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	bin, err := e.keepRelayBinary(dir)
	if err != nil {
		return err
	}
	cmd := fmt.Sprintf("go tool pprof -http=127.0.0.1:0 %s %s", bin, file)
	e.mu.Lock()
	e.suite.Profiles = append(e.suite.Profiles, report.Profile{Kind: kind, Path: file, Command: cmd})
	e.mu.Unlock()
	return nil
}

// keepRelayBinary copies the relay binary next to the profiles once.
func (e *env) keepRelayBinary(dir string) (string, error) {
	dst := filepath.Join(dir, "relay")
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	src, err := e.relayBinary(context.Background())
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return "", err
	}
	return dst, os.WriteFile(dst, b, 0o755)
}

// waitListening waits until addr accepts a TCP connection.
func waitListening(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s not listening: %w", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// saveMetrics saves the relay's /metrics text next to its profiles.
func (e *env) saveMetrics(h relayHandle) error {
	ph, ok := h.(*procRelay)
	if !ok {
		return nil
	}
	dir, err := e.profileDir()
	if err != nil {
		return err
	}
	resp, err := ph.client.Get("http://" + ph.admin + "/metrics")
	if err != nil {
		return fmt.Errorf("save /metrics: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("save /metrics: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, "relay-metrics.txt"), b, 0o644)
}
