// Package progress prints the bench's live progress: a line per running
// scenario once a second, with its elapsed and expected time, its current
// send rate and the messages sent so far.
package progress

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/logrelay/logrelay/internal/bench/report"
)

// Progress prints a live line per running scenario once a second:
// elapsed / expected duration, current send rate, messages so far. On a
// terminal it rewrites one line in place; otherwise it prints plain lines.
// A nil *Progress prints nothing.
type Progress struct {
	w   io.Writer
	tty bool

	mu      sync.Mutex
	running map[string]*progLine
	last    int // length of the line last drawn on a terminal
}

type progLine struct {
	start    time.Time
	expected time.Duration
	counter  func() uint64 // messages so far; nil = none yet
	prev     uint64
	prevAt   time.Time
	phase    string
}

// New returns a Progress writing to w; tty rewrites one line in place.
func New(w io.Writer, tty bool) *Progress {
	return &Progress{w: w, tty: tty, running: make(map[string]*progLine)}
}

// Start shows name as running, expected to take about expected.
func (p *Progress) Start(name string, expected time.Duration) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	p.running[name] = &progLine{start: now, expected: expected, prevAt: now}
}

// Track sets the message counter (and phase label) shown for name; a nil
// counter shows none.
func (p *Progress) Track(name, phase string, counter func() uint64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if l := p.running[name]; l != nil {
		l.counter, l.phase, l.prev, l.prevAt = counter, phase, 0, time.Now()
		if counter != nil {
			l.prev = counter()
		}
	}
}

// Done stops showing name.
func (p *Progress) Done(name string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.running, name)
}

// Printf prints a message line, clearing the live line first.
func (p *Progress) Printf(format string, a ...any) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearLocked()
	fmt.Fprintf(p.w, format, a...)
}

func (p *Progress) clearLocked() {
	if p.tty && p.last > 0 {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.last))
		p.last = 0
	}
}

// Run draws the lines once a second until ctx is done, then clears the
// live line.
func (p *Progress) Run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			p.mu.Lock()
			p.clearLocked()
			p.mu.Unlock()
			return
		case <-t.C:
			p.Draw()
		}
	}
}

// Draw draws the running scenarios' lines now.
func (p *Progress) Draw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	names := make([]string, 0, len(p.running))
	for n := range p.running {
		names = append(names, n)
	}
	sort.Strings(names)
	now := time.Now()
	var parts []string
	for _, n := range names {
		parts = append(parts, p.running[n].line(n, now))
	}
	if len(parts) == 0 {
		return
	}
	if p.tty {
		s := strings.Join(parts, " | ")
		p.clearLocked()
		fmt.Fprint(p.w, s)
		p.last = len(s)
		return
	}
	for _, s := range parts {
		fmt.Fprintln(p.w, s)
	}
}

func (l *progLine) line(name string, now time.Time) string {
	s := fmt.Sprintf("[%s] %4.1f/%.0f s", name, now.Sub(l.start).Seconds(), l.expected.Seconds())
	if l.phase != "" {
		s += " " + l.phase
	}
	if l.counter != nil {
		n := l.counter()
		rate := 0.0
		if dt := now.Sub(l.prevAt).Seconds(); dt > 0 && n >= l.prev {
			rate = float64(n-l.prev) / dt
		}
		l.prev, l.prevAt = n, now
		s += fmt.Sprintf(" %s msgs/s, %s sent", report.Human(rate), report.Human(float64(n)))
	}
	return s
}
