package relay

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Runs settled out of order are answered in seq order, once the prefix is
// complete; refused messages get a 500; a close is answered after all.
func TestRelpTrackOrder(t *testing.T) {
	t.Parallel()
	tr := newRelpTrack(6) // rounds up to 8
	if got := tr.free(); got != 8 {
		t.Fatalf("free %d, want 8", got)
	}
	for i := uint32(1); i <= 6; i++ {
		tr.add(i+10, i == 4) // TXNR 14 refused at ingest
	}
	if got := tr.free(); got != 2 {
		t.Fatalf("free %d, want 2", got)
	}
	steps := []struct {
		first, n uint64
		rejected []int
		want     string
	}{
		{3, 1, nil, ""},      // TXNR 14 (refused), waits for 0..2
		{4, 2, []int{1}, ""}, // 15 ok, 16 rejected by the sink
		{1, 2, nil, ""},      // still waiting for seq 0
		{0, 1, nil, "11 200|12 200|13 200|14 500|15 200|16 500|"},
	}
	for i, s := range steps {
		tr.settle(s.first, s.n, s.rejected)
		out, closed, _, _ := tr.answer(nil)
		if got := rspSummary(string(out)); got != s.want || closed {
			t.Errorf("step %d: answered %q closed %v, want %q", i, got, closed, s.want)
		}
	}
	if !tr.idle() || tr.free() != 8 {
		t.Fatalf("idle %v free %d after all answered", tr.idle(), tr.free())
	}
	seq := tr.add(17, false)
	tr.close(18)
	if out, closed, _, _ := tr.answer(nil); len(out) != 0 || closed {
		t.Fatalf("close answered before seq %d: %q", seq, out)
	}
	tr.settle(seq, 1, nil)
	out, closed, ok, refused := tr.answer(nil)
	if string(out) != "17 rsp 6 200 OK\n18 rsp 0\n" || !closed || ok != 1 || refused != 0 {
		t.Fatalf("answered %q closed %v ok %d refused %d", out, closed, ok, refused)
	}
}

// The ring wraps: seqs beyond the window reuse answered slots.
func TestRelpTrackWrap(t *testing.T) {
	t.Parallel()
	tr := newRelpTrack(4)
	txnr := uint32(1)
	var all strings.Builder
	for round := 0; round < 5; round++ {
		first := uint64(0)
		for i := 0; i < 3; i++ {
			s := tr.add(txnr, false)
			if i == 0 {
				first = s
			}
			txnr++
		}
		tr.settle(first+1, 2, nil)
		tr.settle(first, 1, nil)
		out, _, _, _ := tr.answer(nil)
		all.WriteString(rspSummary(string(out)))
	}
	want := ""
	for i := 1; i <= 15; i++ {
		want += itoa(i) + " 200|"
	}
	if all.String() != want {
		t.Fatalf("answered %q, want %q", all.String(), want)
	}
}

func TestSettleRuns(t *testing.T) {
	t.Parallel()
	a, b := newRelpTrack(16), newRelpTrack(16)
	for i := uint32(1); i <= 5; i++ {
		a.add(i, false)
		b.add(100+i, false)
	}
	// Batch: a[0..2] at 0..2, b[0..1] at 3..4, a[3..4] at 5..6, b[2..4] at 7..9.
	var runs []relpRun
	runs = addRelpRun(runs, a, 0, 0, 2)
	runs = addRelpRun(runs, a, 2, 2, 1) // extends
	runs = addRelpRun(runs, b, 0, 3, 2)
	runs = addRelpRun(runs, a, 3, 5, 2)
	runs = addRelpRun(runs, b, 2, 7, 3)
	if len(runs) != 4 {
		t.Fatalf("%d runs, want 4: %+v", len(runs), runs)
	}
	settleRuns(runs, []int{1, 4, 6, 9})
	outA, _, _, _ := a.answer(nil)
	outB, _, _, _ := b.answer(nil)
	if got, want := rspSummary(string(outA)), "1 200|2 500|3 200|4 200|5 500|"; got != want {
		t.Errorf("a answered %q, want %q", got, want)
	}
	if got, want := rspSummary(string(outB)), "101 200|102 500|103 200|104 200|105 500|"; got != want {
		t.Errorf("b answered %q, want %q", got, want)
	}
}

// rspSummary turns rsp frames into "TXNR CODE|" items.
func rspSummary(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && f[1] == "rsp" {
			b.WriteString(f[0] + " " + f[3] + "|")
		}
	}
	return b.String()
}

func itoa(i int) string { return strconv.Itoa(i) }

// A span settled while the writer encodes the answers before it (after
// answer took the prefix, before it moved answered) finds answered behind
// it; answer must wake the writer for it.
func TestRelpTrackSettleWhileEncoding(t *testing.T) {
	t.Parallel()
	tr := newRelpTrack(8)
	for i := uint32(1); i <= 4; i++ {
		tr.add(i, false)
	}
	tr.settle(0, 2, nil)
	<-tr.wake
	tr.encoded = func() { tr.encoded = nil; tr.settle(2, 2, nil) }
	if out, _, _, _ := tr.answer(nil); rspSummary(string(out)) != "1 200|2 200|" {
		t.Fatalf("first answers %q", out)
	}
	select {
	case <-tr.wake:
	default:
		t.Fatal("the writer was not woken for the span settled while it encoded")
	}
	if out, _, _, _ := tr.answer(nil); rspSummary(string(out)) != "3 200|4 200|" {
		t.Fatalf("second answers %q", out)
	}
}

// Settles racing with the writer never leave a settled span unanswered:
// 4 goroutines settle 5,000 single-seq spans in shuffled order while a
// writer answers whenever woken; every answer arrives, in order.
func TestRelpTrackConcurrentSettle(t *testing.T) {
	t.Parallel()
	const n = 5_000
	tr := newRelpTrack(n)
	for i := range n {
		tr.add(uint32(i+1), false)
	}
	perm := rand.Perm(n)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, s := range perm[w*n/4 : (w+1)*n/4] {
				tr.settle(uint64(s), 1, nil)
			}
		}()
	}
	next := uint32(1)
	timeout := time.After(10 * time.Second)
	for next <= n {
		select {
		case <-tr.wake:
		case <-timeout:
			t.Fatalf("stuck: answered up to %d of %d although all are settled", next-1, n)
		}
		out, _, _, _ := tr.answer(nil)
		for _, line := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
			if line == "" {
				continue
			}
			if want := strconv.Itoa(int(next)) + " rsp 6 200 OK"; line != want {
				t.Fatalf("answer %q, want %q", line, want)
			}
			next++
		}
	}
	wg.Wait()
}
