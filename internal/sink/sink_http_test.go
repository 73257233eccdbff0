package sink

import (
	"errors"
	"strings"
	"testing"

	"github.com/logrelay/logrelay/internal/sink/httpsink"
	"github.com/logrelay/logrelay/internal/sink/loki"
	"github.com/logrelay/logrelay/internal/sink/quickwit"
)

// TestFromURLQuickwitLoki: the quickwit+ and loki+ schemes' URLs, options
// and errors.
func TestFromURLQuickwitLoki(t *testing.T) {
	t.Parallel()
	noEnv := func(string) (string, bool) { return "", false }
	for _, tc := range []struct {
		url      string
		o        Options
		endpoint string // or a part of the error
		name     string
		errIs    error
	}{
		{url: "quickwit+http://127.0.0.1:7280/logs", endpoint: "http://127.0.0.1:7280/api/v1/logs/ingest?commit=auto&detailed_response=true",
			name: "quickwit+http://127.0.0.1:7280/api/v1/logs/ingest"},
		{url: "quickwit+https://qw.example:443/proxy/app-logs/", o: Options{Quickwit: QuickwitOptions{Commit: "force"}},
			endpoint: "https://qw.example:443/proxy/api/v1/app-logs/ingest?commit=force&detailed_response=true"},
		{url: "quickwit+http://127.0.0.1:7280", endpoint: "no index", errIs: ErrURL},
		{url: "quickwit+http://127.0.0.1:7280/logs?commit=force", endpoint: "query", errIs: ErrURL},
		{url: "quickwit+http://127.0.0.1:7280/x", endpoint: "index id", errIs: quickwit.ErrConfig},
		{url: "quickwit+http://127.0.0.1:7280/logs", o: Options{Quickwit: QuickwitOptions{Commit: "sometimes"}}, endpoint: "commit", errIs: quickwit.ErrConfig},
		{url: "quickwit+http://127.0.0.1:7280/logs", o: Options{Bulk: BulkOptions{Headers: []string{"Content-Type: text/plain"}}},
			endpoint: "set by the sink", errIs: httpsink.ErrConfig},
		{url: "loki+http://127.0.0.1:3100", endpoint: "http://127.0.0.1:3100/loki/api/v1/push", name: "loki+http://127.0.0.1:3100/loki/api/v1/push"},
		{url: "loki+http://127.0.0.1:9428/insert?_msg_field=msg", endpoint: "http://127.0.0.1:9428/insert/loki/api/v1/push?_msg_field=msg",
			name: "loki+http://127.0.0.1:9428/insert/loki/api/v1/push"},
		{url: "loki+https://loki.example:443/loki/api/v1/push", o: Options{Loki: LokiOptions{Labels: "job=a,host=b"}},
			endpoint: "https://loki.example:443/loki/api/v1/push"},
		{url: "loki+http://127.0.0.1:3100", o: Options{Loki: LokiOptions{Labels: "bad-name=x"}}, endpoint: "label name", errIs: loki.ErrConfig},
		{url: "loki+http://127.0.0.1:3100", o: Options{Bulk: BulkOptions{Headers: []string{"Authorization: Bearer x"}}},
			endpoint: "never from a flag", errIs: httpsink.ErrConfig},
		{url: "loki+http://u:secret@127.0.0.1:3100", endpoint: "credentials", errIs: ErrURL},
		{url: "loki+http://127.0.0.1", endpoint: "no port", errIs: ErrURL},
		{url: "loki+ftp://127.0.0.1:3100", endpoint: "not supported", errIs: ErrURL},
	} {
		o := tc.o
		o.LookupEnv = noEnv
		s, err := FromURL(tc.url, o)
		if tc.errIs != nil {
			if err == nil || !errors.Is(err, tc.errIs) || !strings.Contains(err.Error(), tc.endpoint) || strings.Contains(err.Error(), "secret") {
				t.Errorf("%q: error %v, want %v containing %q", tc.url, err, tc.errIs, tc.endpoint)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.url, err)
			continue
		}
		hs := s.(interface {
			Endpoint() string
			String() string
			Close() error
		})
		if got := hs.Endpoint(); got != tc.endpoint {
			t.Errorf("%q: endpoint %q, want %q", tc.url, got, tc.endpoint)
		}
		if tc.name != "" && hs.String() != tc.name {
			t.Errorf("%q: name %q, want %q", tc.url, hs.String(), tc.name)
		}
		hs.Close()
	}
}
