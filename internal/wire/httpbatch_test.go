package wire

import (
	"errors"
	"net/http"
	"testing"
)

func TestBatchHeadersRoundTrip(t *testing.T) {
	for _, r := range Reasons {
		want := Header{Seq: 1<<63 + 7, Count: 100, OldestNs: 1_700_000_000_123_456_789, FlushNs: 1_700_000_010_000_000_000, Reason: r}
		hdr := http.Header{}
		SetBatchHeaders(hdr, Header{Seq: want.Seq, Count: 9999, PayloadLen: 5, OldestNs: want.OldestNs, FlushNs: want.FlushNs, Reason: r}, 100)
		got, err := ParseBatchHeaders(hdr)
		if err != nil || got != want {
			t.Errorf("reason %v: got %+v, %v; want %+v", r, got, err, want)
		}
	}
}

func TestParseBatchHeadersErrors(t *testing.T) {
	good := func() http.Header {
		h := http.Header{}
		SetBatchHeaders(h, Header{Seq: 1, OldestNs: 2, FlushNs: 3, Reason: ReasonAge}, 4)
		return h
	}
	for _, tc := range []struct {
		name, header, value string
		want                error
	}{
		{"seq", HeaderSeq, "x", nil},
		{"count", HeaderCount, "-1", nil},
		{"oldest", HeaderOldestNs, "", nil},
		{"flush", HeaderFlushNs, "1.5", nil},
		{"reason", HeaderReason, "sizes", ErrBadReason},
	} {
		h := good()
		h.Set(tc.header, tc.value)
		_, err := ParseBatchHeaders(h)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s=%q: got %v, want an error (%v)", tc.header, tc.value, err, tc.want)
		}
	}
}
