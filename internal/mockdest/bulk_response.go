package mockdest

import (
	"strconv"
	"strings"
)

// The 200 answer to a _bulk request, encoded by hand (one append per
// field) in the shape of wire.BulkResponse; bulk_test.go checks that it
// decodes into those types as intended.

// Item fields selectable by filter_path, as bits.
const (
	fIndex uint16 = 1 << iota
	fID
	fVersion
	fResult
	fShards
	fSeqNo
	fPrimaryTerm
	fStatus
	fError
	fAllItem = fIndex | fID | fVersion | fResult | fShards | fSeqNo | fPrimaryTerm | fStatus | fError
)

var itemFieldBits = map[string]uint16{
	"_index": fIndex, "_id": fID, "_version": fVersion, "result": fResult, "_shards": fShards,
	"_seq_no": fSeqNo, "_primary_term": fPrimaryTerm, "status": fStatus, "error": fError,
}

// bulkFilter is a parsed filter_path: which top-level fields and item
// fields to write.
type bulkFilter struct {
	took, errors bool
	item         uint16
}

var noFilter = bulkFilter{took: true, errors: true, item: fAllItem}

// parseFilterPath parses the filter_path forms the shippers use: a comma
// list of took, errors, items, items.*, items.*.<field>. Any other form
// gives the full response.
func parseFilterPath(fp string) bulkFilter {
	if fp == "" {
		return noFilter
	}
	var f bulkFilter
	for _, p := range strings.Split(fp, ",") {
		switch p = strings.TrimSpace(p); p {
		case "took":
			f.took = true
		case "errors":
			f.errors = true
		case "items", "items.*", "items.**":
			f.item = fAllItem
		default:
			field, ok := strings.CutPrefix(p, "items.*.")
			bit := itemFieldBits[field]
			if !ok || bit == 0 {
				return noFilter
			}
			f.item |= bit
		}
	}
	return f
}

// appendBulkResponse appends the answer to q's items in the flavour's
// shape. Only the elasticsearch flavour honours filter_path; like
// Elasticsearch it leaves out an item with no selected field, and the
// items array when empty.
func (s *Server) appendBulkResponse(dst []byte, q *bulkReq, tookMs int64, filterPath string) []byte {
	flavour := s.bulk.cfg.Flavour
	f := noFilter
	if flavour == FlavourElasticsearch {
		f = parseFilterPath(filterPath)
	}
	errs := false
	for i := range q.items {
		if st := q.items[i].status; st != 200 && st != 201 {
			errs = true
			break
		}
	}
	dst = append(dst, '{')
	comma := false
	if f.took {
		dst = append(dst, `"took":`...)
		dst = strconv.AppendInt(dst, tookMs, 10)
		comma = true
	}
	if f.errors {
		if comma {
			dst = append(dst, ',')
		}
		dst = append(dst, `"errors":`...)
		dst = strconv.AppendBool(dst, errs)
		comma = true
	}
	if f.item != 0 {
		mark := len(dst)
		if comma {
			dst = append(dst, ',')
		}
		dst = append(dst, `"items":[`...)
		n := 0
		for i := range q.items {
			before := len(dst)
			if n > 0 {
				dst = append(dst, ',')
			}
			var ok bool
			if dst, ok = appendItem(dst, flavour, &q.items[i], f.item); ok {
				n++
			} else {
				dst = dst[:before]
			}
		}
		if n == 0 && f != noFilter {
			dst = dst[:mark]
		} else {
			dst = append(dst, ']')
		}
	}
	return append(dst, '}')
}

// appendItem appends {"<action>":{…}} with the fields of mask that the
// flavour sends; ok is false when none was.
func appendItem(dst []byte, flavour string, it *bulkItem, mask uint16) ([]byte, bool) {
	if it.create {
		dst = append(dst, `{"create":{`...)
	} else {
		dst = append(dst, `{"index":{`...)
	}
	open := len(dst)
	field := func(name string) {
		if len(dst) > open {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, name...)
		dst = append(dst, '"', ':')
	}
	stored := it.status == 200 || it.status == 201
	if flavour != FlavourVictoriaLogs {
		if mask&fIndex != 0 {
			field("_index")
			dst = appendJSONString(dst, it.index)
		}
		if mask&fID != 0 && flavour != FlavourQuickwit {
			field("_id")
			if it.id != "" {
				dst = appendJSONString(dst, it.id)
			} else {
				dst = appendGenID(dst, it.genID)
			}
		}
		if stored && flavour != FlavourQuickwit {
			if mask&fVersion != 0 {
				field("_version")
				dst = append(dst, '1')
			}
			if mask&fResult != 0 {
				field("result")
				dst = append(dst, `"created"`...)
			}
		}
		if stored && flavour == FlavourElasticsearch {
			if mask&fShards != 0 {
				field("_shards")
				dst = append(dst, `{"total":2,"successful":1,"failed":0}`...)
			}
			if mask&fSeqNo != 0 {
				field("_seq_no")
				dst = strconv.AppendUint(dst, it.seqNo, 10)
			}
			if mask&fPrimaryTerm != 0 {
				field("_primary_term")
				dst = append(dst, '1')
			}
		}
	}
	if mask&fStatus != 0 {
		field("status")
		dst = strconv.AppendInt(dst, int64(it.status), 10)
	}
	if !stored && mask&fError != 0 {
		field("error")
		e := itemErrs[it.err]
		dst = append(dst, `{"type":`...)
		dst = appendJSONString(dst, e.typ)
		dst = append(dst, `,"reason":"`...)
		if it.err == errConflict {
			dst = append(dst, '[')
			dst = appendJSONContent(dst, it.id)
			dst = append(dst, "]: "...)
		}
		dst = append(dst, e.reason...)
		if it.err == errNoIndex {
			dst = appendJSONContent(dst, it.index)
			dst = append(dst, ']')
		}
		dst = append(dst, '"', '}')
	}
	ok := len(dst) > open
	return append(dst, '}', '}'), ok
}

// appendGenID appends a generated document id: 20 characters of the URL
// base64 alphabet, as Elasticsearch's own are.
func appendGenID(dst []byte, n uint64) []byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	var b [20]byte
	x := n*0x9E3779B97F4A7C15 ^ n // spread consecutive numbers; still unique (n is kept below)
	for i := 0; i < 9; i++ {
		b[i] = alphabet[x&63]
		x >>= 6
	}
	b[9] = 'm'
	for i := 19; i >= 10; i-- {
		b[i] = alphabet[n&63]
		n >>= 6
	}
	dst = append(dst, '"')
	dst = append(dst, b[:]...)
	return append(dst, '"')
}

// appendJSONContent appends s JSON-escaped, without the quotes.
func appendJSONContent(dst []byte, s string) []byte {
	n := len(dst)
	dst = appendJSONString(dst, s)
	copy(dst[n:], dst[n+1:len(dst)-1])
	return dst[:len(dst)-2]
}
