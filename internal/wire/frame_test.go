package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"
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
