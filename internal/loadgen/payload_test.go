package loadgen

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"testing"

	"github.com/logrelay/logrelay/internal/wire"
)

var formatRE = map[string]*regexp.Regexp{
	// RFC 5424: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG
	"syslog": regexp.MustCompile(`^<\d{1,3}>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z \S+ \S+ \d+ \S+ \[lr@32473 stamp="lr1:[0-9:]+"\] [^\n]*$`),
	// Apache common log: host ident user [time] "request" status bytes
	"apache": regexp.MustCompile(`^\S+ - \S+ \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "[A-Z]+ \S+ HTTP/1\.1" \d{3} \d+$`),
	"raw":    regexp.MustCompile(`^lr1:[0-9:]+ [^\n]*$`),
}

func TestPayloadFormats(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"json", "syslog", "apache", "raw"} {
		min, err := MinSize(format)
		if err != nil {
			t.Fatal(err)
		}
		for _, size := range []int{min + 40, 200, 1000, 70000} {
			p, err := newPayloads(format, size, 42)
			if err != nil {
				t.Fatalf("%s size %d: %v", format, size, err)
			}
			head := stampHead(123)
			var buf []byte
			for k := range uint64(p.count() + 3) {
				buf = p.appendMessage(buf[:0], k, &head, k+1, 1732800000000000000+int64(k))
				if len(buf) != size || buf[size-1] != '\n' || bytes.Count(buf, []byte{'\n'}) != 1 {
					t.Fatalf("%s size %d msg %d: got %d bytes, %d newlines, want %d bytes ending in one newline",
						format, size, k, len(buf), bytes.Count(buf, []byte{'\n'}), size)
				}
				line := buf[:size-1]
				st, ok := wire.ParseStamp(line)
				want := wire.Stamp{Stream: 123, Seq: k + 1, SentNs: 1732800000000000000 + int64(k)}
				if !ok || st != want {
					t.Fatalf("%s size %d: stamp got %+v, %v want %+v in %q", format, size, st, ok, want, line)
				}
				if bytes.Count(line, []byte(wire.StampPrefix)) != 1 {
					t.Fatalf("%s: %d stamps in %q", format, bytes.Count(line, []byte(wire.StampPrefix)), line)
				}
				if format == "json" && !json.Valid(line) {
					t.Fatalf("json: invalid JSON %q", line)
				}
				if re := formatRE[format]; re != nil && !re.Match(line) {
					t.Fatalf("%s: %q does not match %v", format, line, re)
				}
			}
		}
	}
}

func TestPayloadsReproducible(t *testing.T) {
	t.Parallel()
	a, _ := newPayloads("syslog", 300, 7)
	b, _ := newPayloads("syslog", 300, 7)
	c, _ := newPayloads("syslog", 300, 8)
	if !bytes.Equal(a.data, b.data) {
		t.Error("same seed: got different payloads want equal")
	}
	if bytes.Equal(a.data, c.data) {
		t.Error("different seeds: got equal payloads want different")
	}
}

func TestPayloadTooSmall(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"json", "syslog", "apache", "raw"} {
		min, _ := MinSize(format)
		if _, err := newPayloads(format, min/2, 1); !errors.Is(err, ErrSizeTooSmall) {
			t.Errorf("%s size %d: got %v want ErrSizeTooSmall", format, min/2, err)
		}
	}
	for _, format := range []string{"json", "syslog", "apache", "raw"} {
		min, _ := MinSize(format)
		for seed := range int64(20) {
			if _, err := newPayloads(format, min, seed+1); err != nil {
				t.Errorf("%s at MinSize %d, seed %d: got %v want nil", format, min, seed+1, err)
			}
		}
	}
	if _, err := newPayloads("raw", wire.StampLen+2, 1); err != nil {
		t.Errorf("raw at its minimum %d: got %v want nil", wire.StampLen+2, err)
	}
}
