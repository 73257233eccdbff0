package wire

import (
	"encoding/json"
	"testing"
)

func TestQuickwitIngestIndex(t *testing.T) {
	for _, tc := range []struct {
		path, index string
		ok          bool
	}{
		{"/api/v1/logs/ingest", "logs", true},
		{QuickwitIngestPath("app-logs.v2"), "app-logs.v2", true},
		{"/api/v1//ingest", "", false},
		{"/api/v1/a/b/ingest", "", false},
		{"/api/v1/_elastic/_bulk", "", false},
		{"/logs/ingest", "", false},
	} {
		if index, ok := QuickwitIngestIndex(tc.path); index != tc.index || ok != tc.ok {
			t.Errorf("%s: got %q %v, want %q %v", tc.path, index, ok, tc.index, tc.ok)
		}
	}
	for id, want := range map[string]bool{"logs": true, "a-b_c.d": true, "ab": false, "1logs": false, "lo gs": false, "_elastic": false} {
		if got := QuickwitValidIndexID(id); got != want {
			t.Errorf("QuickwitValidIndexID(%q) = %v, want %v", id, got, want)
		}
	}
}

func TestQuickwitDecode(t *testing.T) {
	body := `{
  "num_docs_for_processing": 2,
  "num_ingested_docs": 1,
  "num_rejected_docs": 1,
  "parse_failures": [
    {
      "message": "failed to parse JSON document",
      "document": "not json",
      "reason": "invalid_json"
    }
  ]
}`
	var r QuickwitIngestResponse
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	if r.NumDocsForProcessing != 2 || *r.NumIngestedDocs != 1 || *r.NumRejectedDocs != 1 ||
		len(r.ParseFailures) != 1 || r.ParseFailures[0] != (QuickwitParseFailure{"failed to parse JSON document", "not json", QuickwitInvalidJSON}) {
		t.Errorf("got %+v", r)
	}
	if m := ParseQuickwitError([]byte("{\n  \"message\": \"index `x` not found\"\n}")); m != "index `x` not found" {
		t.Errorf("message %q", m)
	}
	if m := ParseQuickwitError([]byte("oops\n")); m != "oops" {
		t.Errorf("message %q", m)
	}
}
