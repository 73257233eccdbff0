// Package procstat samples a Linux process's CPU time, resident memory,
// open file descriptors and threads from /proc, so that the bench can
// report a relay's own cost separately from loadgen's and mockdest's.
package procstat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// ClockTicks is the kernel's USER_HZ, the unit of utime and stime in
// /proc/PID/stat. It is 100 on every Linux architecture Go supports.
const ClockTicks = 100

// ErrFormat means a /proc file did not have the expected layout.
var ErrFormat = errors.New("procstat: unexpected /proc format")

// Sample is one reading of a process.
type Sample struct {
	At         time.Time `json:"at"`
	CPUSeconds float64   `json:"cpu_seconds"` // user + system, since the process started
	RSS        uint64    `json:"rss_bytes"`   // resident set size
	PeakRSS    uint64    `json:"peak_rss_bytes"`
	Threads    int       `json:"threads"`
	FDs        int       `json:"fds"` // open file descriptors (-1 if unreadable)
}

// Read samples process pid (0 = this process) once.
func Read(pid int) (Sample, error) {
	dir := "/proc/self"
	if pid != 0 {
		dir = "/proc/" + strconv.Itoa(pid)
	}
	s := Sample{At: time.Now()}
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return s, fmt.Errorf("procstat: %w", err)
	}
	if s.CPUSeconds, err = ParseStat(stat); err != nil {
		return s, err
	}
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return s, fmt.Errorf("procstat: %w", err)
	}
	if s.RSS, s.PeakRSS, s.Threads, err = ParseStatus(status); err != nil {
		return s, err
	}
	s.FDs = -1
	if ents, err := os.ReadDir(dir + "/fd"); err == nil {
		s.FDs = len(ents)
	}
	return s, nil
}

// ParseStat returns utime + stime in seconds from the contents of
// /proc/PID/stat. The command name (field 2) may hold spaces and
// parentheses, so fields are counted from the last ')'.
func ParseStat(b []byte) (float64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("%w: stat has no ')'", ErrFormat)
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("%w: stat has %d fields after the name", ErrFormat, len(f))
	}
	ut, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	st, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%w: utime %q stime %q", ErrFormat, f[11], f[12])
	}
	return float64(ut+st) / ClockTicks, nil
}

// ParseStatus returns VmRSS, VmHWM (in bytes) and Threads from the contents
// of /proc/PID/status. A zombie has no Vm lines; its memory reads as 0.
func ParseStatus(b []byte) (rss, peak uint64, threads int, err error) {
	found := false
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		k, v, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		switch string(k) {
		case "VmRSS", "VmHWM", "Threads":
		default:
			continue
		}
		f := bytes.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, e := strconv.ParseUint(string(f[0]), 10, 64)
		if e != nil {
			return 0, 0, 0, fmt.Errorf("%w: %s: %q", ErrFormat, k, v)
		}
		switch string(k) {
		case "VmRSS":
			rss = n << 10
		case "VmHWM":
			peak = n << 10
		case "Threads":
			threads, found = int(n), true
		}
	}
	if !found {
		return 0, 0, 0, fmt.Errorf("%w: status has no Threads line", ErrFormat)
	}
	return rss, peak, threads, nil
}

// Sampler reads a process at a fixed interval until its context ends.
type Sampler struct {
	pid      int
	interval time.Duration

	mu      sync.Mutex
	samples []Sample
	peak    uint64
	err     error
}

// NewSampler returns a Sampler of pid (0 = this process) every interval.
func NewSampler(pid int, interval time.Duration) *Sampler {
	if interval <= 0 {
		interval = 250 * time.Millisecond
	}
	return &Sampler{pid: pid, interval: interval}
}

// Run samples until ctx is done or the process can no longer be read (it
// exited); it returns nil in both cases. The first sample is taken at once.
func (s *Sampler) Run(ctx context.Context) error {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		if !s.Sample() {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Sample takes one reading now and reports whether the process was readable.
func (s *Sampler) Sample() bool {
	x, err := Read(s.pid)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if s.err == nil {
			s.err = err
		}
		return false
	}
	s.samples = append(s.samples, x)
	s.peak = max(s.peak, x.RSS, x.PeakRSS)
	return true
}

// Summary describes a process over the sampled period.
type Summary struct {
	PID        int      `json:"pid"`
	CPUSeconds float64  `json:"cpu_seconds"` // CPU time used between the first and last sample
	Seconds    float64  `json:"seconds"`     // wall time between the first and last sample
	PeakRSS    uint64   `json:"peak_rss_bytes"`
	LastRSS    uint64   `json:"last_rss_bytes"`
	Samples    []Sample `json:"samples,omitempty"`
}

// CPUPercent returns the average CPU use in percent of one core.
func (s Summary) CPUPercent() float64 {
	if s.Seconds <= 0 {
		return 0
	}
	return 100 * s.CPUSeconds / s.Seconds
}

// Summary returns what was sampled so far; ok is false before two samples.
// PeakRSS is the kernel's high-water mark (VmHWM) when the process exposes
// it, so it also covers peaks between samples.
func (s *Sampler) Summary() (sum Summary, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sum.PID = s.pid
	if s.pid == 0 {
		sum.PID = os.Getpid()
	}
	if len(s.samples) < 2 {
		return sum, false
	}
	first, last := s.samples[0], s.samples[len(s.samples)-1]
	sum.CPUSeconds = last.CPUSeconds - first.CPUSeconds
	sum.Seconds = last.At.Sub(first.At).Seconds()
	sum.PeakRSS = s.peak
	sum.LastRSS = last.RSS
	sum.Samples = append([]Sample(nil), s.samples...)
	return sum, true
}

// Err returns the first error that stopped sampling, if any.
func (s *Sampler) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// A Watcher is a Sampler running in its own goroutine, from Watch to Stop.
type Watcher struct {
	s      *Sampler
	cancel context.CancelFunc
	done   chan struct{}
}

// Watch starts sampling process pid every interval until ctx is done or
// Stop is called. A pid ≤ 0 (a process not known, or not the relay's own)
// is not sampled: Watch returns nil, whose Stop reports nothing.
func Watch(ctx context.Context, pid int, interval time.Duration) *Watcher {
	if pid <= 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &Watcher{s: NewSampler(pid, interval), cancel: cancel, done: make(chan struct{})}
	go func() { defer close(w.done); w.s.Run(ctx) }()
	return w
}

// Stop takes a last sample, stops the sampling goroutine, waits for it and
// returns the summary (ok as for Sampler.Summary; false for a nil Watcher).
// Calling Stop again returns the same summary.
func (w *Watcher) Stop() (Summary, bool) {
	if w == nil {
		return Summary{}, false
	}
	select {
	case <-w.done:
	default:
		w.s.Sample()
		w.cancel()
		<-w.done
	}
	return w.s.Summary()
}
