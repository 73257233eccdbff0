// Package hgrm writes an HdrHistogram's percentile distribution in the
// standard ".hgrm" text format: the "Detailed Percentile spectrum" that wrk2
// and the C and Java HdrHistogram libraries print, which the HdrHistogram
// plotter (hdrhistogram.github.io/HdrHistogram/plotFiles.html) reads.
package hgrm

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// TicksPerHalfDistance is the number of percentile lines printed per halving
// of the distance to 100%, as wrk2 prints them.
const TicksPerHalfDistance = 5

// header is the column header of the C library's CLASSIC format
// ("%12s %12s %12s %12s\n\n"), which wrk2 prints.
var header = fmt.Sprintf("%12s %12s %12s %12s\n\n", "Value", "Percentile", "TotalCount", "1/(1-Percentile)")

// errLayout means hdrhistogram-go's output does not have the layout Write parses.
var errLayout = errors.New("hgrm: unexpected layout from PercentilesPrint")

// Write writes h's percentile distribution to w, dividing every value by
// unitScale (1000 turns a histogram of microseconds into milliseconds, as
// wrk2 prints them; 1 keeps the recorded unit).
//
// The lines and the footer come from hdrhistogram-go's PercentilesPrint,
// whose value lines ("%12.3f %12f %12d %12.2f", "inf" at 100%) and footer
// (Mean, StdDeviation, Max, Total count, Buckets, SubBuckets) already match
// the C library; only its tab-separated column header differs, so Write
// replaces that header with the C library's.
func Write(w io.Writer, h *hdrhistogram.Histogram, unitScale float64) error {
	if unitScale <= 0 {
		return fmt.Errorf("hgrm: unit scale %v: must be positive", unitScale)
	}
	var buf bytes.Buffer
	if _, err := h.PercentilesPrint(&buf, TicksPerHalfDistance, unitScale); err != nil {
		return fmt.Errorf("hgrm: print percentiles: %w", err)
	}
	out := buf.Bytes()
	i := bytes.Index(out, []byte("\n\n"))
	if i < 0 || !bytes.Contains(out[:i], []byte("Percentile")) {
		return errLayout
	}
	if _, err := io.WriteString(w, header); err != nil {
		return fmt.Errorf("hgrm: write: %w", err)
	}
	if _, err := w.Write(out[i+2:]); err != nil {
		return fmt.Errorf("hgrm: write: %w", err)
	}
	return nil
}
