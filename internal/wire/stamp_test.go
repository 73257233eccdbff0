package wire

import (
	"bytes"
	"testing"
)

func TestStampRoundTrip(t *testing.T) {
	t.Parallel()
	for _, s := range []Stamp{
		{Stream: 0, Seq: 1, SentNs: 0},
		{Stream: 99999999, Seq: 9999999999999999, SentNs: 1<<63 - 1},
		{Stream: 17, Seq: 42, SentNs: 1732800000123456789},
	} {
		line := append([]byte(`{"level":"info","id":"`), AppendStamp(nil, s)...)
		line = append(line, `","msg":"padding lr1:bogus"}`...)
		got, ok := ParseStamp(line)
		if !ok || got != s {
			t.Errorf("ParseStamp(%q): got %+v, %v want %+v", line, got, ok, s)
		}
	}
}

func TestPutStampSeqTime(t *testing.T) {
	t.Parallel()
	b := AppendStamp(nil, Stamp{Stream: 3, Seq: 1, SentNs: 100})
	PutStampSeqTime(b, 77, 555)
	got, ok := ParseStamp(b)
	if want := (Stamp{Stream: 3, Seq: 77, SentNs: 555}); !ok || got != want {
		t.Errorf("got %+v, %v want %+v", got, ok, want)
	}
}

func TestParseStamp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Stamp
		ok   bool
	}{
		{"lr1:1:2:3", Stamp{1, 2, 3}, true},
		{"prefix lr1:12:34:56 suffix", Stamp{12, 34, 56}, true},
		{"lr1:1:2:3lr1:4:5:6", Stamp{1, 2, 3}, true},
		{"no stamp here", Stamp{}, false},
		{"lr1:", Stamp{}, false},
		{"lr1:1:2", Stamp{}, false},
		{"lr1:1:2:", Stamp{}, false},
		{"lr1:a:2:3", Stamp{}, false},
		{"lr1:4294967296:2:3", Stamp{}, false},              // stream overflows uint32
		{"lr1:1:99999999999999999999999:3", Stamp{}, false}, // seq overflows
		{"lr1:1:2:9223372036854775808", Stamp{}, false},     // time overflows int64
		{"lr1:1:2:12345678901234567890", Stamp{}, false},    // 20-digit time
		{"lr1:00000007:0000000000123456:1732800000000000000 x", Stamp{7, 123456, 1732800000000000000}, true},
		{"lr1:99999999:9999999999999999:9223372036854775807", Stamp{99999999, 9999999999999999, 1<<63 - 1}, true},
		{"lr1:00000007:0000000000123456:9223372036854775808", Stamp{}, false}, // fixed width, time overflows
		{"lr1:0000000/:0000000000123456:1732800000000000000", Stamp{}, false}, // '/' is below '0'
		{"lr1:0000000::0000000000123456:1732800000000000000", Stamp{}, false},
		{"lr1:00000007:000000000012345a:1732800000000000000", Stamp{}, false},
		{"lr1:00000007:0000000000123456:17328000000000000009", Stamp{}, false}, // 20-digit time
	}
	for _, tt := range tests {
		got, ok := ParseStamp([]byte(tt.in))
		if ok != tt.ok || got != tt.want {
			t.Errorf("ParseStamp(%q): got %+v, %v want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzParseStamp(f *testing.F) {
	f.Add([]byte("lr1:00000001:0000000000000002:1732800000000000000"))
	f.Add([]byte("x lr1:1:2:3"))
	f.Add([]byte("lr1:00000001:0000000000000002:9223372036854775808"))
	f.Add([]byte("lr1:0000000a:0000000000000002:1732800000000000000"))
	f.Add([]byte("lr1:00000001:0000000000000002:17328000000000000001"))
	f.Fuzz(func(t *testing.T, in []byte) {
		if fs, fok, done := parseFixed(in); done {
			if ls, lok := parseLoose(in); fs != ls || fok != lok {
				t.Fatalf("%q: fixed-width parse %+v, %v; general parse %+v, %v", in, fs, fok, ls, lok)
			}
		}
		s, ok := ParseStamp(in)
		if !ok {
			return
		}
		if s.Stream > 99999999 || s.Seq > 9999999999999999 || s.SentNs < 0 {
			return // valid but too wide for the fixed-width form
		}
		re, ok2 := ParseStamp(AppendStamp(nil, s))
		if !ok2 || re != s {
			t.Fatalf("re-parse of %+v: got %+v, %v", s, re, ok2)
		}
	})
}

func BenchmarkParseStamp(b *testing.B) {
	line := append(bytes.Repeat([]byte("x"), 120), AppendStamp(nil, Stamp{Stream: 5, Seq: 123456, SentNs: 1732800000000000000})...)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := ParseStamp(line); !ok {
			b.Fatal("no stamp")
		}
	}
}

// TestStampLimits: MaxStampStream and MaxStampSeq are the largest values a
// written stamp carries intact; one more loses its high digits.
func TestStampLimits(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		s    Stamp
		fits bool
	}{
		{Stamp{Stream: MaxStampStream, Seq: 1, SentNs: 1}, true},
		{Stamp{Stream: MaxStampStream + 1, Seq: 1, SentNs: 1}, false},
		{Stamp{Stream: 1, Seq: MaxStampSeq, SentNs: 1}, true},
		{Stamp{Stream: 1, Seq: MaxStampSeq + 1, SentNs: 1}, false},
	} {
		got, ok := ParseStamp(AppendStamp(nil, tt.s))
		if fits := ok && got == tt.s; fits != tt.fits {
			t.Errorf("%+v: round trip gives %+v, %v: fits %v want %v", tt.s, got, ok, fits, tt.fits)
		}
	}
}
