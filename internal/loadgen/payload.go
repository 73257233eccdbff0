package loadgen

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

// A format returns a builder for one random message: given the length of
// its free text, the builder returns the line (without newline) and the
// offset of its stamp placeholder. The random fields are drawn once, so the
// builder is deterministic.
type format func(r *rand.Rand) func(textLen int) (line []byte, stampOff int)

var formats = map[string]format{
	"json":   jsonFormat,
	"syslog": syslogFormat,
	"apache": apacheFormat,
	"raw":    rawFormat,
}

// stampHole is written where the stamp goes; PutStamp overwrites it.
var stampHole = strings.Repeat("0", wire.StampLen)

var (
	levels   = []string{"debug", "info", "info", "info", "warn", "error"}
	services = []string{"checkout", "auth", "search", "billing", "inventory", "gateway", "mailer"}
	hosts    = []string{"web-01", "web-02", "web-07", "api-03", "worker-11", "db-proxy-2"}
	users    = []string{"-", "alice", "bob", "carol", "dave", "-", "-"}
	methods  = []string{"GET", "GET", "GET", "POST", "PUT", "DELETE"}
	paths    = []string{"/", "/api/v1/items", "/api/v1/cart", "/login", "/static/app.js", "/health", "/search"}
	statuses = []int{200, 200, 200, 201, 204, 301, 304, 404, 500, 503}
	words    = strings.Fields(`request completed user session token cache miss hit upstream timeout
		retry connection reset accepted rejected order payment invoice queue worker started stopped
		latency exceeded threshold database query slow index rebuilt config reloaded shard replica
		leader elected heartbeat lost recovered disk usage memory pressure gc pause flushed batch`)
)

// text returns n characters of random words separated by sep.
func text(r *rand.Rand, n int, sep byte) []byte {
	b := make([]byte, 0, n+16)
	for len(b) < n {
		if len(b) > 0 {
			b = append(b, sep)
		}
		b = append(b, words[r.IntN(len(words))]...)
		if r.IntN(4) == 0 {
			b = fmt.Appendf(b, "%c%d", sep, r.IntN(100000))
		}
	}
	return b[:n]
}

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

// baseTime is the first timestamp written into generated lines; lines do
// not carry the real time (the stamp does).
var baseTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func randTime(r *rand.Rand) time.Time {
	return baseTime.Add(time.Duration(r.Int64N(int64(300 * 24 * time.Hour))))
}

// build assembles prefix, the stamp hole, middle and text, then suffix.
func build(prefix, middle string, txt []byte, suffix string) ([]byte, int) {
	var b bytes.Buffer
	b.WriteString(prefix)
	off := b.Len()
	b.WriteString(stampHole)
	b.WriteString(middle)
	b.Write(txt)
	b.WriteString(suffix)
	return b.Bytes(), off
}

func jsonFormat(r *rand.Rand) func(int) ([]byte, int) {
	prefix := fmt.Sprintf(`{"ts":"%s","level":"%s","service":"%s","host":"%s","trace":"%016x","stamp":"`,
		randTime(r).Format("2006-01-02T15:04:05.000Z07:00"), pick(r, levels), pick(r, services), pick(r, hosts), r.Uint64())
	long := text(r, 4096, ' ')
	return func(n int) ([]byte, int) { return build(prefix, `","msg":"`, textOf(long, n, ' '), `"}`) }
}

func syslogFormat(r *rand.Rand) func(int) ([]byte, int) {
	prefix := fmt.Sprintf(`<%d>1 %s %s %s %d %s [lr@32473 stamp="`, 8+r.IntN(8)+8*r.IntN(23),
		randTime(r).Format("2006-01-02T15:04:05.000000Z07:00"), pick(r, hosts), pick(r, services),
		1+r.IntN(65535), "ID"+fmt.Sprint(r.IntN(100)))
	long := text(r, 4096, ' ')
	return func(n int) ([]byte, int) { return build(prefix, `"] `, textOf(long, n, ' '), "") }
}

func apacheFormat(r *rand.Rand) func(int) ([]byte, int) {
	prefix := fmt.Sprintf(`10.%d.%d.%d - %s [%s] "%s %s?stamp=`, r.IntN(256), r.IntN(256), r.IntN(256),
		pick(r, users), randTime(r).Format("02/Jan/2006:15:04:05 -0700"), pick(r, methods), pick(r, paths))
	suffix := fmt.Sprintf(` HTTP/1.1" %d %d`, pick(r, statuses), r.IntN(100000))
	long := text(r, 4096, '+')
	return func(n int) ([]byte, int) { return build(prefix, "&q=", textOf(long, n, '+'), suffix) }
}

func rawFormat(r *rand.Rand) func(int) ([]byte, int) {
	long := text(r, 4096, ' ')
	return func(n int) ([]byte, int) { return build("", " ", textOf(long, n, ' '), "") }
}

// textOf returns n characters of free text: a prefix of long, repeated when
// n is longer.
func textOf(long []byte, n int, sep byte) []byte {
	if n <= len(long) {
		return long[:n]
	}
	b := make([]byte, 0, n)
	for len(b) < n {
		b = append(b, long...)
		b = append(b, sep)
	}
	return b[:n]
}

// payloads holds pre-generated messages of one size, shared by all
// connections: each is Size bytes ending in '\n', with a stamp at stampOff.
type payloads struct {
	size     int
	data     []byte // n messages back to back
	stampOff []int
}

// maxTemplates and templateBytes bound the number of distinct messages.
const (
	maxTemplates  = 64
	templateBytes = 4 << 20
)

// newPayloads pre-generates the messages of a run from seed.
func newPayloads(formatName string, size int, seed int64) (*payloads, error) {
	f, ok := formats[formatName]
	if !ok {
		return nil, fmt.Errorf("%w: format %q", ErrConfig, formatName)
	}
	n := min(maxTemplates, max(1, templateBytes/size))
	p := &payloads{size: size, data: make([]byte, 0, n*size), stampOff: make([]int, n)}
	r := rand.New(rand.NewPCG(uint64(seed), 0x6c6f616467656e))
	for i := range n {
		// Fields are random, so a draw may be too long for a small size:
		// draw again (deterministically) before giving up.
		var b func(int) ([]byte, int)
		var min0 []byte
		least := -1
		for range 100 {
			b = f(r)
			min0, _ = b(0)
			if len(min0)+1 <= size {
				break
			}
			if least < 0 || len(min0)+1 < least {
				least = len(min0) + 1
			}
			b = nil
		}
		if b == nil {
			return nil, fmt.Errorf("%w: %s needs at least %d bytes, size is %d",
				ErrSizeTooSmall, formatName, least, size)
		}
		line, off := b(size - 1 - len(min0))
		if len(line) != size-1 {
			return nil, fmt.Errorf("loadgen: internal error: %s message is %d bytes, want %d", formatName, len(line), size-1)
		}
		wire.PutStamp(line[off:], wire.Stamp{}) // re-stamped per message
		p.data = append(p.data, line...)
		p.data = append(p.data, '\n')
		p.stampOff[i] = i*size + off
	}
	return p, nil
}

// MinSize returns a message size, newline included, that format's
// messages can always be padded to: the longest skeleton among many random
// draws. Smaller sizes may work for some seeds.
func MinSize(formatName string) (int, error) {
	f, ok := formats[formatName]
	if !ok {
		return 0, fmt.Errorf("%w: format %q", ErrConfig, formatName)
	}
	r := rand.New(rand.NewPCG(1, 1))
	longest := 0
	for range 1000 {
		line, _ := f(r)(0)
		longest = max(longest, len(line)+1)
	}
	return longest, nil
}

// count returns the number of distinct messages.
func (p *payloads) count() int { return len(p.stampOff) }

// appendMessage appends message k's template to dst with its stamp set to
// head (the "lr1:SSSSSSSS:" stream prefix), seq and sentNs.
func (p *payloads) appendMessage(dst []byte, k uint64, head *[stampHeadLen]byte, seq uint64, sentNs int64) []byte {
	i := int(k % uint64(len(p.stampOff)))
	n := len(dst)
	dst = append(dst, p.data[i*p.size:(i+1)*p.size]...)
	off := n + p.stampOff[i] - i*p.size
	copy(dst[off:], head[:])
	wire.PutStampSeqTime(dst[off:], seq, sentNs)
	return dst
}

// stampHeadLen is the length of a stamp's stream part, "lr1:SSSSSSSS:".
const stampHeadLen = 13

func stampHead(stream uint32) (h [stampHeadLen]byte) {
	var b [wire.StampLen]byte
	wire.PutStamp(b[:], wire.Stamp{Stream: stream})
	copy(h[:], b[:])
	return h
}
