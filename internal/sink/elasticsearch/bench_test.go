package elasticsearch

import (
	"strings"
	"testing"
	"time"
)

// BenchmarkClassifyVL100 reads VictoriaLogs' answer to a 100-document
// request (it ignores filter_path, so every item comes back).
func BenchmarkClassifyVL100(b *testing.B) {
	body := []byte(`{"took":3,"errors":false,"items":[` + strings.TrimSuffix(strings.Repeat(`{"create":{"status":201}},`, 100), ",") + `]}`)
	b.ReportAllocs()
	for b.Loop() {
		v := classify(200, nil, body, nil, nil, 100, time.Time{})
		if !v.allOK {
			b.Fatal(v.reason)
		}
	}
}
