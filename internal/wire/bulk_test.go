package wire

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestBulkResponseParse(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       BulkResponse
	}{
		{"elasticsearch", `{"took":3,"errors":true,"items":[` +
			`{"create":{"_index":"logs","_id":"a","_version":1,"result":"created","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":0,"_primary_term":1,"status":201}},` +
			`{"create":{"_index":"logs","_id":"b","status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}}]}`,
			BulkResponse{Took: 3, Errors: true, Items: []BulkItem{
				{BulkCreate, BulkItemResult{Index: "logs", ID: "a", Version: 1, Result: "created", Shards: &BulkShards{2, 1, 0}, SeqNo: new(int64), PrimaryTerm: 1, Status: 201}},
				{BulkCreate, BulkItemResult{Index: "logs", ID: "b", Status: 429, Error: &BulkError{BulkErrRejected, "queue full"}}},
			}}},
		{"victorialogs", `{"took":0,"errors":false,"items":[{"create":{"status":201}}]}`,
			BulkResponse{Items: []BulkItem{{BulkCreate, BulkItemResult{Status: 201}}}}},
		{"quickwit filtered", `{"errors":false,"items":[{"index":{"status":201}}]}`,
			BulkResponse{Items: []BulkItem{{BulkIndex, BulkItemResult{Status: 201}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got BulkResponse
			if err := json.Unmarshal([]byte(tc.body), &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			b, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			var again BulkResponse
			if err := json.Unmarshal(b, &again); err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("round trip of %s: %+v, %v", b, again, err)
			}
		})
	}
}

func TestBulkItemRejects(t *testing.T) {
	for _, body := range []string{`[]`, `{}`, `{"create":{"status":201},"index":{"status":201}}`, `{"create":3}`, `{"create":{"status":201}`} {
		var it BulkItem
		if err := json.Unmarshal([]byte(body), &it); err == nil {
			t.Errorf("%s: no error, got %+v", body, it)
		}
	}
}

func TestBulkItemStatus(t *testing.T) {
	for _, tc := range []struct {
		status        int
		ok, retryable bool
	}{{200, true, false}, {201, true, false}, {409, true, false}, {429, false, true}, {400, false, false}, {503, false, true}} {
		r := BulkItemResult{Status: tc.status}
		if r.OK() != tc.ok || r.Retryable() != tc.retryable {
			t.Errorf("status %d: OK %v Retryable %v, want %v %v", tc.status, r.OK(), r.Retryable(), tc.ok, tc.retryable)
		}
	}
}
