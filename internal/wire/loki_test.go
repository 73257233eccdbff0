package wire

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseLokiLabels(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []LokiLabel
		err  string
	}{
		{in: "job=relay", want: []LokiLabel{{"job", "relay"}}},
		{in: " job = relay , host=web-1,_x=é ", want: []LokiLabel{{"_x", "é"}, {"host", "web-1"}, {"job", "relay"}}},
		{in: "", err: "at least one"},
		{in: "job", err: "want name=value"},
		{in: "1job=a", err: "label name"},
		{in: "jo-b=a", err: "label name"},
		{in: "__name__=a", err: "reserved"},
		{in: "job=", err: "empty value"},
		{in: "job=a,job=b", err: "twice"},
	} {
		got, err := ParseLokiLabels(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || len(got) != len(tc.want) {
			t.Errorf("%q: %v %v", tc.in, got, err)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%q: %v, want %v", tc.in, got, tc.want)
			}
		}
	}
}

// TestLokiEncoder: the body is Loki's JSON push request, lines escaped,
// invalid UTF-8 replaced and counted, with no allocation per entry.
func TestLokiEncoder(t *testing.T) {
	e := NewLokiEncoder([]LokiLabel{{"host", "a\"b"}, {"job", "relay"}})
	b := e.Begin(nil)
	b = e.Append(b, []byte(`{"msg":"x"}`), 1764620538438741434, true)
	b = e.Append(b, []byte("tab\there \xff"), -5, false)
	b = e.End(b)
	var req struct {
		Streams []struct {
			Stream map[string]string `json:"stream"`
			Values [][]string        `json:"values"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(b, &req); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if len(req.Streams) != 1 || req.Streams[0].Stream["host"] != `a"b` || req.Streams[0].Stream["job"] != "relay" {
		t.Fatalf("streams %+v", req.Streams)
	}
	v := req.Streams[0].Values
	if len(v) != 2 || v[0][0] != "1764620538438741434" || v[0][1] != `{"msg":"x"}` || v[1][0] != "-5" || v[1][1] != "tab\there \uFFFD" {
		t.Errorf("values %q", v)
	}
	if e.Replaced() != 1 {
		t.Errorf("replaced %d", e.Replaced())
	}
	buf := make([]byte, 0, 4096)
	line := []byte("a line of text")
	if n := testing.AllocsPerRun(100, func() { e.Append(buf[:0], line, 1, false) }); n != 0 {
		t.Errorf("%v allocations per entry", n)
	}
}

// TestParseLokiRejections: the 400 texts of Loki's ingester and
// distributor name the entries they refused.
func TestParseLokiRejections(t *testing.T) {
	ns := time.Date(2022, 10, 10, 13, 25, 44, 123456789, time.UTC)
	sec := time.Date(2022, 10, 10, 13, 25, 45, 0, time.UTC)
	body := "entry with timestamp " + ns.String() + " ignored, reason: 'entry too far behind, entry timestamp is: 2022-10-10T13:25:44Z, oldest acceptable timestamp is: 2022-10-28T23:10:16Z',\n" +
		"entry with timestamp " + sec.String() + " ignored, reason: 'entry out of order',\n" +
		"entry for stream '{job=\"relay\"}' has timestamp too new: 2030-01-02T03:04:05.5Z\n" +
		"entry for stream '{job=\"relay\"}' has timestamp too old: 2001-01-02T03:04:05Z, oldest acceptable timestamp is: 2022-01-01T00:00:00Z\n" +
		"Max entry size '256' bytes exceeded for stream '{job=\"relay\"}' while adding an entry with length '300' bytes\n" +
		"total ignored: 6 out of 10"
	r := ParseLokiRejections([]byte(body))
	if r.Total != 6 || len(r.Entries) != 5 {
		t.Fatalf("%+v", r)
	}
	want := []LokiRejection{
		{Ns: ns.UnixNano(), HasTime: true, Len: -1},
		{Ns: sec.UnixNano(), HasTime: true, Second: true, Len: -1},
		{Ns: time.Date(2030, 1, 2, 3, 4, 5, 5e8, time.UTC).UnixNano(), HasTime: true, Len: -1},
		{Ns: time.Date(2001, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano(), HasTime: true, Second: true, Len: -1},
		{Len: 300},
	}
	for i, w := range want {
		g := r.Entries[i]
		if g.Ns != w.Ns || g.HasTime != w.HasTime || g.Second != w.Second || g.Len != w.Len || g.Reason == "" {
			t.Errorf("entry %d: %+v, want %+v", i, g, w)
		}
	}
	// the newer ingester's form, a server in another time zone
	cest := time.Date(2026, 12, 1, 22, 0, 0, 7, time.FixedZone("CEST", 2*3600))
	r = ParseLokiRejections([]byte("entry with timestamp " + cest.String() + " ignored, reason: 'entry out of order' for stream: {job=\"relay\"},\n" +
		"user 'fake', total ignored: 1 out of 3 for stream: {job=\"relay\"}"))
	if r.Total != 1 || len(r.Entries) != 1 || r.Entries[0].Ns != cest.UnixNano() || r.Entries[0].Second {
		t.Errorf("newer form: %+v", r)
	}
	if r := ParseLokiRejections([]byte("error at least one label pair is required per stream")); r.Total != -1 || len(r.Entries) != 0 {
		t.Errorf("whole-request 400: %+v", r)
	}
}
