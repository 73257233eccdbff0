package wire

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

func frame(h Header, msgs ...string) []byte {
	var p []byte
	for _, m := range msgs {
		p = append(p, m...)
		p = append(p, '\n')
	}
	h.Count = uint32(len(msgs))
	h.PayloadLen = uint32(len(p))
	return append(AppendHeader(nil, h), p...)
}

func TestFrameRoundTrip(t *testing.T) {
	t.Parallel()
	hs := []Header{
		{Seq: 1, OldestNs: 1, FlushNs: 2, Reason: ReasonSize},
		{Seq: 1<<64 - 1, OldestNs: -5, FlushNs: 1<<63 - 1, Reason: ReasonAge},
		{Seq: 42, OldestNs: 1732800000000000000, FlushNs: 1732800010000000000, Reason: ReasonShutdown},
		{Seq: 7, Reason: ReasonBytes},
	}
	var stream []byte
	msgs := []string{"a", "", "\x00\xff not utf8 \r", "{\"msg\":\"hi\"}"}
	for _, h := range hs {
		stream = append(stream, frame(h, msgs...)...)
	}
	r := NewReader(bytes.NewReader(stream), 0)
	for i, want := range hs {
		got, p, err := r.ReadFrame()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		want.Count, want.PayloadLen = uint32(len(msgs)), uint32(len(p))
		if got != want {
			t.Errorf("frame %d: got %+v want %+v", i, got, want)
		}
		var gotMsgs []string
		ForEachMessage(p, func(m []byte) { gotMsgs = append(gotMsgs, string(m)) })
		if len(gotMsgs) != len(msgs) {
			t.Fatalf("frame %d: got %d messages want %d", i, len(gotMsgs), len(msgs))
		}
		for j := range msgs {
			if gotMsgs[j] != msgs[j] {
				t.Errorf("frame %d msg %d: got %q want %q", i, j, gotMsgs[j], msgs[j])
			}
		}
	}
	if _, _, err := r.ReadFrame(); err != io.EOF {
		t.Errorf("after last frame: got %v want io.EOF", err)
	}
}

func TestPutHeaderMatchesAppend(t *testing.T) {
	t.Parallel()
	h := Header{Seq: 9, Count: 3, PayloadLen: 10, OldestNs: 11, FlushNs: 12, Reason: ReasonAge}
	var b [HeaderSize]byte
	PutHeader(b[:], h)
	if got, want := b[:], AppendHeader(nil, h); !bytes.Equal(got, want) {
		t.Errorf("got %x want %x", got, want)
	}
}

func TestReadFrameErrors(t *testing.T) {
	t.Parallel()
	good := frame(Header{Seq: 1, Reason: ReasonSize}, "x", "y")
	corrupt := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	tests := []struct {
		name string
		in   []byte
		max  uint32
		want error
	}{
		{"bad magic", corrupt(func(b []byte) []byte { b[0] = 'X'; return b }), 0, ErrBadMagic},
		{"bad reason", corrupt(func(b []byte) []byte { b[36] = 9; return b }), 0, ErrBadReason},
		{"zero count", corrupt(func(b []byte) []byte { b[15] = 0; return b }), 0, ErrBadCount},
		{"count too high", corrupt(func(b []byte) []byte { b[15] = 3; return b }), 0, ErrBadCount},
		{"no final newline", corrupt(func(b []byte) []byte { b[len(b)-1] = 'z'; return b }), 0, ErrBadCount},
		{"reserved set", corrupt(func(b []byte) []byte { b[38] = 1; return b }), 0, ErrReserved},
		{"too large", good, 2, ErrTooLarge},
		{"truncated header", good[:20], 0, io.ErrUnexpectedEOF},
		{"truncated payload", good[:len(good)-1], 0, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := NewReader(bytes.NewReader(tt.in), tt.max).ReadFrame()
			if !errors.Is(err, tt.want) {
				t.Errorf("got %v want %v", err, tt.want)
			}
		})
	}
}

func TestAckRoundTrip(t *testing.T) {
	t.Parallel()
	for _, a := range []Ack{{Seq: 1, Status: AckOK}, {Seq: 1<<64 - 1, Status: AckNack}} {
		var s [AckSize]byte
		got, err := ReadAck(bytes.NewReader(AppendAck(nil, a)), &s)
		if err != nil || got != a {
			t.Errorf("got %+v, %v want %+v", got, err, a)
		}
	}
	bad := AppendAck(nil, Ack{Seq: 1})
	bad[12] = 7
	if _, err := ParseAck(bad); !errors.Is(err, ErrBadStatus) {
		t.Errorf("bad status: got %v want %v", err, ErrBadStatus)
	}
	if _, err := ParseAck([]byte("LRA1")); !errors.Is(err, ErrShort) {
		t.Errorf("short: got %v want %v", err, ErrShort)
	}
	if _, err := ParseAck([]byte("XXXXxxxxxxxxxxxx")); !errors.Is(err, ErrBadMagic) {
		t.Errorf("magic: got %v want %v", err, ErrBadMagic)
	}
}

func TestReasonString(t *testing.T) {
	t.Parallel()
	want := map[Reason]string{ReasonSize: "size", ReasonAge: "age", ReasonShutdown: "shutdown", ReasonBytes: "bytes", 0: "reason(0)"}
	for r, s := range want {
		if r.String() != s {
			t.Errorf("Reason(%d): got %q want %q", r, r.String(), s)
		}
	}
}

// FuzzReadFrame checks that no input crashes the reader, and that every
// frame it accepts re-encodes to the same bytes.
func FuzzReadFrame(f *testing.F) {
	f.Add(frame(Header{Seq: 1, Reason: ReasonSize}, "hello", "world"))
	f.Add(frame(Header{Seq: 2, Reason: ReasonAge, OldestNs: 5, FlushNs: 6}, ""))
	f.Add([]byte("LRB1"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bytes.NewReader(in), 1<<16)
		off := 0
		for {
			h, p, err := r.ReadFrame()
			if err != nil {
				return
			}
			re := append(AppendHeader(nil, h), p...)
			if !bytes.Equal(re, in[off:off+len(re)]) {
				t.Fatalf("re-encoding differs:\n got %x\nwant %x", re, in[off:off+len(re)])
			}
			off += len(re)
			n := uint32(0)
			ForEachMessage(p, func(m []byte) {
				if bytes.IndexByte(m, '\n') >= 0 {
					t.Fatalf("message contains newline: %q", m)
				}
				n++
			})
			if n != h.Count {
				t.Fatalf("ForEachMessage saw %d messages, header says %d", n, h.Count)
			}
		}
	})
}

func BenchmarkReadFrame(b *testing.B) {
	msg := bytes.Repeat([]byte("x"), 199)
	msgs := make([]string, 100)
	for i := range msgs {
		msgs[i] = string(msg)
	}
	one := frame(Header{Seq: 1, Reason: ReasonSize}, msgs...)
	rd := bytes.NewReader(nil)
	r := NewReader(rd, 0)
	b.SetBytes(int64(len(one)))
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(one)
		r.br.Reset(rd)
		if _, _, err := r.ReadFrame(); err != nil {
			b.Fatal(err)
		}
	}
}

// hugeHeader returns a header announcing a DefaultMaxPayload-byte payload,
// followed by the first sent bytes of that payload.
func hugeHeader(sent int) []byte {
	b := AppendHeader(nil, Header{Seq: 1, Count: 1, PayloadLen: DefaultMaxPayload, Reason: ReasonSize})
	return append(b, bytes.Repeat([]byte("x"), sent)...)
}

// TestReadFrameAllocatesWhatArrives: a header announcing 64 MiB followed by
// a few bytes and the end of the stream costs the Reader memory in
// proportion to the bytes that arrived, not to the announced length.
func TestReadFrameAllocatesWhatArrives(t *testing.T) {
	for _, sent := range []int{0, 1000, 300 << 10} {
		in := hugeHeader(sent)
		rd := bytes.NewReader(nil)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		const runs = 8
		for range runs {
			rd.Reset(in)
			_, _, err := NewReader(rd, 0).ReadFrame()
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("sent %d: got %v want %v", sent, err, io.ErrUnexpectedEOF)
			}
		}
		runtime.ReadMemStats(&after)
		// Per run: the 256 KiB bufio buffer, and payload buffers doubling
		// to at most twice what arrived (at least minGrow), which add up to
		// at most twice the last.
		perRun := (after.TotalAlloc - before.TotalAlloc) / runs
		limit := uint64(256<<10 + 4*max(sent, minGrow) + 4<<10)
		if perRun > limit {
			t.Errorf("sent %d of %d announced bytes: allocated %d bytes per frame, want ≤ %d",
				sent, DefaultMaxPayload, perRun, limit)
		}
	}
}

// TestReadFrameGrows: frames larger than any before them, arriving in small
// pieces, read back intact, and the buffer then serves smaller frames.
func TestReadFrameGrows(t *testing.T) {
	t.Parallel()
	var in []byte
	var want [][]string
	for _, size := range []int{10, 100 << 10, 1 << 20, 3<<20 + 7, 50} {
		var msgs []string
		for i := 0; i*1000 < size; i++ {
			msgs = append(msgs, strings.Repeat(string(rune('a'+i%26)), min(999, size-i*1000)))
		}
		want = append(want, msgs)
		in = append(in, frame(Header{Seq: uint64(len(want)), Reason: ReasonSize}, msgs...)...)
	}
	r := NewReader(iotest.HalfReader(bytes.NewReader(in)), 0)
	for i, msgs := range want {
		h, p, err := r.ReadFrame()
		if err != nil {
			t.Fatalf("frame %d: %v", i+1, err)
		}
		var got []string
		ForEachMessage(p, func(m []byte) { got = append(got, string(m)) })
		if h.Seq != uint64(i+1) || !slices.Equal(got, msgs) {
			t.Fatalf("frame %d: seq %d, %d messages, want seq %d and %d messages as sent", i+1, h.Seq, len(got), i+1, len(msgs))
		}
	}
	if _, _, err := r.ReadFrame(); err != io.EOF {
		t.Errorf("after the last frame: got %v want io.EOF", err)
	}
}

// TestReadFrameNoAllocs: once the buffer has grown to a frame's size, the
// Reader reads such frames without allocating.
func TestReadFrameNoAllocs(t *testing.T) {
	one := frame(Header{Seq: 1, Reason: ReasonSize}, strings.Repeat("x", 20<<10), "y")
	rd := bytes.NewReader(one)
	r := NewReader(rd, 0)
	if _, _, err := r.ReadFrame(); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		rd.Reset(one)
		r.br.Reset(rd)
		if _, _, err := r.ReadFrame(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("got %v allocations per frame want 0", allocs)
	}
}
