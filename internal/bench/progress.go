package bench

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// progress prints a live line per running scenario once a second:
// elapsed / expected duration, current send rate, messages so far. On a
// terminal it rewrites one line in place; otherwise it prints plain lines.
type progress struct {
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

func newProgress(w io.Writer, tty bool) *progress {
	return &progress{w: w, tty: tty, running: make(map[string]*progLine)}
}

func (p *progress) start(name string, expected time.Duration) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	p.running[name] = &progLine{start: now, expected: expected, prevAt: now}
}

// track sets the message counter (and phase label) shown for name.
func (p *progress) track(name, phase string, counter func() uint64) {
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

func (p *progress) done(name string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.running, name)
}

// printf prints a message line, clearing the live line first.
func (p *progress) printf(format string, a ...any) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearLocked()
	fmt.Fprintf(p.w, format, a...)
}

func (p *progress) clearLocked() {
	if p.tty && p.last > 0 {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.last))
		p.last = 0
	}
}

func (p *progress) run(ctx context.Context) {
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
			p.draw()
		}
	}
}

func (p *progress) draw() {
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
		s += fmt.Sprintf(" %s msgs/s, %s sent", human(rate), human(float64(n)))
	}
	return s
}
