package hgrm

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

func TestWriteFormat(t *testing.T) {
	t.Parallel()
	h := hdrhistogram.New(1, 3_600_000_000, 3)
	for v := int64(1); v <= 10000; v++ {
		if err := h.RecordValue(v * 100); err != nil {
			t.Fatal(err)
		}
	}
	var b bytes.Buffer
	if err := Write(&b, h, 1000); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	wantHead := "       Value   Percentile   TotalCount 1/(1-Percentile)"
	if lines[0] != wantHead || lines[1] != "" {
		t.Fatalf("got header %q %q want %q and an empty line", lines[0], lines[1], wantHead)
	}
	// Every value line is four fixed-width columns of 12 separated by spaces.
	var values, last []string
	for _, l := range lines[2:] {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if len(l) != 4*12+3 {
			t.Errorf("line %q: got %d chars want 51", l, len(l))
		}
		last = strings.Fields(l)
		values = append(values, l)
	}
	if len(values) < 50 {
		t.Fatalf("got %d value lines want ≥ 50", len(values))
	}
	first := strings.Fields(values[0])
	if first[1] != "0.000000" || first[2] != "1" || first[3] != "1.00" {
		t.Errorf("first line %q: want percentile 0.000000, count 1, 1.00", values[0])
	}
	if last[1] != "1.000000" || last[2] != "10000" || last[3] != "inf" {
		t.Errorf("last line %v: want percentile 1.000000, count 10000, inf", last)
	}
	if v, err := strconv.ParseFloat(last[0], 64); err != nil || v < 999 || v > 1001 {
		t.Errorf("last value %q: want ≈ 1000 ms (1e6 µs / 1000)", last[0])
	}
	footer := lines[len(lines)-4 : len(lines)-1]
	for i, p := range []string{"#[Mean    = ", "#[Max     = ", "#[Buckets = "} {
		if !strings.HasPrefix(footer[i], p) {
			t.Errorf("footer line %d %q: want prefix %q", i, footer[i], p)
		}
	}
	if !strings.Contains(footer[1], "Total count    =        10000]") {
		t.Errorf("footer %q: want total count 10000", footer[1])
	}
}

func TestWriteBadScale(t *testing.T) {
	t.Parallel()
	if err := Write(&bytes.Buffer{}, hdrhistogram.New(1, 1000, 3), 0); err == nil {
		t.Error("got nil error for unit scale 0, want an error")
	}
}
