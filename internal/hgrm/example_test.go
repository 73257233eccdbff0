package hgrm_test

import (
	"os"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/logrelay/logrelay/internal/hgrm"
)

func ExampleWrite() {
	h := hdrhistogram.New(1, 60_000_000, 3) // µs, up to a minute
	for _, v := range []int64{1000, 2000, 3000, 4000} {
		_ = h.RecordValue(v)
	}
	// Values above 2048 share buckets of 2 µs: 3000 prints as 3.001 ms.
	_ = hgrm.Write(os.Stdout, h, 1000) // print milliseconds
	// Output:
	//        Value   Percentile   TotalCount 1/(1-Percentile)
	//
	//        1.000     0.000000            1         1.00
	//        1.000     0.100000            1         1.11
	//        1.000     0.200000            1         1.25
	//        2.000     0.300000            2         1.43
	//        2.000     0.400000            2         1.67
	//        2.000     0.500000            2         2.00
	//        3.001     0.550000            3         2.22
	//        3.001     0.600000            3         2.50
	//        3.001     0.650000            3         2.86
	//        3.001     0.700000            3         3.33
	//        3.001     0.750000            3         4.00
	//        4.001     0.775000            4         4.44
	//        4.001     1.000000            4          inf
	// #[Mean    =        2.501, StdDeviation   =        1.118]
	// #[Max     =        4.001, Total count    =            4]
	// #[Buckets =           16, SubBuckets     =         2048]
}
