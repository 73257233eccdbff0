package procstat

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	t.Parallel()
	good := "13828 (cat) R 13824 13824 7548 0 -1 4194304 98 0 0 0 250 37 0 0 20 0 1 0 1999580 3133440 373 0\n"
	odd := "7 (a b) c)) S 1 1 1 0 -1 0 0 0 0 0 1234 766 0 0 20 0 1 0 5 6 7 0\n"
	tests := []struct {
		in      string
		want    float64
		wantErr bool
	}{
		{good, 2.87, false},
		{odd, 20, false},
		{"13828 cat R 1 2", 0, true},
		{"1 (x) R 1 2 3", 0, true},
		{"1 (x) R 1 1 1 0 -1 0 0 0 0 0 zz 1 0", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseStat([]byte(tt.in))
		if (err != nil) != tt.wantErr || (err == nil && got != tt.want) {
			t.Errorf("ParseStat(%q): got %v, %v want %v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !errors.Is(err, ErrFormat) {
			t.Errorf("ParseStat(%q): error %v is not ErrFormat", tt.in, err)
		}
	}
}

func TestParseStatus(t *testing.T) {
	t.Parallel()
	in := "Name:\tcat\nVmHWM:\t    1948 kB\nVmRSS:\t    1900 kB\nThreads:\t3\n"
	rss, peak, th, err := ParseStatus([]byte(in))
	if err != nil || rss != 1900<<10 || peak != 1948<<10 || th != 3 {
		t.Errorf("got rss=%d peak=%d threads=%d err=%v", rss, peak, th, err)
	}
	if _, _, _, err := ParseStatus([]byte("Name:\tx\n")); !errors.Is(err, ErrFormat) {
		t.Errorf("no Threads: got %v want ErrFormat", err)
	}
	if _, _, _, err := ParseStatus([]byte("VmRSS:\tlots kB\nThreads:\t1\n")); !errors.Is(err, ErrFormat) {
		t.Errorf("bad number: got %v want ErrFormat", err)
	}
}

func TestReadSelf(t *testing.T) {
	t.Parallel()
	s, err := Read(0)
	if err != nil {
		t.Fatal(err)
	}
	if s.RSS == 0 || s.Threads == 0 || s.FDs <= 0 || s.CPUSeconds < 0 {
		t.Errorf("implausible sample of self: %+v", s)
	}
	if _, err := Read(1 << 30); err == nil {
		t.Error("Read of a missing pid: got nil error")
	}
}

func TestSampler(t *testing.T) {
	t.Parallel()
	sm := NewSampler(os.Getpid(), 5*time.Millisecond)
	if _, ok := sm.Summary(); ok {
		t.Fatal("Summary before any sample: ok")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sm.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	var x uint64
	for {
		for i := range 200000 { // burn a little CPU
			x += uint64(i * i)
		}
		if sum, ok := sm.Summary(); ok && len(sum.Samples) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("sampler took no samples")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	sum, _ := sm.Summary()
	if sum.PeakRSS == 0 || sum.Seconds <= 0 || sum.CPUSeconds < 0 || sum.PID != os.Getpid() {
		t.Errorf("implausible summary (x=%d): %+v", x, sum)
	}
	if err := NewSampler(1<<30, time.Millisecond).Run(context.Background()); err != nil {
		t.Errorf("Run on a missing pid: got %v want nil (stops)", err)
	}
}

func TestWatch(t *testing.T) {
	t.Parallel()
	if w := Watch(context.Background(), 0, time.Millisecond); w != nil {
		t.Fatalf("Watch of pid 0: got %v want nil", w)
	}
	var none *Watcher
	if _, ok := none.Stop(); ok {
		t.Error("nil Watcher: Stop reported a summary")
	}
	w := Watch(context.Background(), os.Getpid(), time.Millisecond)
	s, ok := w.Stop()
	if !ok || s.PID != os.Getpid() || s.PeakRSS == 0 || len(s.Samples) < 2 {
		t.Errorf("Stop: got %+v, %v want ≥ 2 samples of this process", s, ok)
	}
	s2, ok2 := w.Stop()
	if !ok2 || len(s2.Samples) != len(s.Samples) {
		t.Errorf("second Stop: got %d samples, %v want the same %d", len(s2.Samples), ok2, len(s.Samples))
	}
}
