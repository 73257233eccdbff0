package wire

import (
	"fmt"
	"net/http"
	"strconv"
)

// The batch facts an HTTP sink sends with each request, as headers that
// log engines ignore. They carry the frame header's fields (without the
// payload length, which the body gives), so a receiver can check the batch
// rules over HTTP as it does over the framed protocol. A request that
// carries part of a batch (items resent alone, or a half after a split)
// has the batch's Seq and times and its own Count.
const (
	HeaderSeq      = "X-Logrelay-Seq"       // batch sequence number, decimal
	HeaderCount    = "X-Logrelay-Count"     // messages (documents) in this request, decimal
	HeaderOldestNs = "X-Logrelay-Oldest-Ns" // receive time of the batch's oldest message, Unix ns, decimal
	HeaderFlushNs  = "X-Logrelay-Flush-Ns"  // the batch's flush time, Unix ns, decimal
	HeaderReason   = "X-Logrelay-Reason"    // why the batch was flushed: Reason.String()
)

// SetBatchHeaders sets h's batch facts on hdr, with count as the request's
// message count.
func SetBatchHeaders(hdr http.Header, h Header, count int) {
	hdr[HeaderSeq] = []string{strconv.FormatUint(h.Seq, 10)}
	hdr[HeaderCount] = []string{strconv.Itoa(count)}
	hdr[HeaderOldestNs] = []string{strconv.FormatInt(h.OldestNs, 10)}
	hdr[HeaderFlushNs] = []string{strconv.FormatInt(h.FlushNs, 10)}
	hdr[HeaderReason] = []string{h.Reason.String()}
}

// ParseBatchHeaders reads the batch facts from hdr. The returned Header's
// Count is the request's count; PayloadLen is zero.
func ParseBatchHeaders(hdr http.Header) (Header, error) {
	var h Header
	var err error
	field := func(name string) string { return hdr.Get(name) }
	if h.Seq, err = strconv.ParseUint(field(HeaderSeq), 10, 64); err != nil {
		return Header{}, fmt.Errorf("parse batch headers: %s: %w", HeaderSeq, err)
	}
	count, err := strconv.ParseUint(field(HeaderCount), 10, 32)
	if err != nil {
		return Header{}, fmt.Errorf("parse batch headers: %s: %w", HeaderCount, err)
	}
	h.Count = uint32(count)
	if h.OldestNs, err = strconv.ParseInt(field(HeaderOldestNs), 10, 64); err != nil {
		return Header{}, fmt.Errorf("parse batch headers: %s: %w", HeaderOldestNs, err)
	}
	if h.FlushNs, err = strconv.ParseInt(field(HeaderFlushNs), 10, 64); err != nil {
		return Header{}, fmt.Errorf("parse batch headers: %s: %w", HeaderFlushNs, err)
	}
	name := field(HeaderReason)
	for _, r := range Reasons {
		if r.String() == name {
			h.Reason = r
			return h, nil
		}
	}
	return Header{}, fmt.Errorf("parse batch headers: %s %q: %w", HeaderReason, name, ErrBadReason)
}
