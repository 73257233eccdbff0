package sink

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logrelay/logrelay/internal/sink/elasticsearch"
	"github.com/logrelay/logrelay/internal/sink/httpout"
)

func TestFromURLBulk(t *testing.T) {
	t.Parallel()
	const fp = "filter_path=errors%2Citems.%2A.status%2Citems.%2A.error"
	noEnv := func(string) (string, bool) { return "", false }
	for _, tc := range []struct {
		url      string
		o        BulkOptions
		env      map[string]string
		endpoint string // or a part of the error
		ok       bool
		errIs    error
	}{
		{url: "elasticsearch+http://127.0.0.1:9200", endpoint: "http://127.0.0.1:9200/_bulk?" + fp, ok: true},
		{url: "elasticsearch+https://es.example:443/", endpoint: "https://es.example:443/_bulk?" + fp, ok: true},
		{url: "elasticsearch+http://127.0.0.1:9428/insert/elasticsearch/_bulk?_msg_field=message&_time_field=@timestamp",
			endpoint: "http://127.0.0.1:9428/insert/elasticsearch/_bulk?_msg_field=message&_time_field=%40timestamp&" + fp, ok: true},
		{url: "elasticsearch+http://127.0.0.1:7280/api/v1/_elastic", o: BulkOptions{NoFilterPath: true},
			endpoint: "http://127.0.0.1:7280/api/v1/_elastic/_bulk", ok: true},
		{url: "elasticsearch+http://127.0.0.1:9200/_bulk?filter_path=took", endpoint: "http://127.0.0.1:9200/_bulk?filter_path=took", ok: true},
		{url: "elasticsearch+http://u:secret@127.0.0.1:9200", endpoint: "credentials", errIs: ErrURL},
		{url: "elasticsearch+http://127.0.0.1", endpoint: "no port", errIs: ErrURL},
		{url: "elasticsearch+http://127.0.0.1:9200#x", endpoint: "fragment", errIs: ErrURL},
		{url: "elasticsearch+http://127.0.0.1:9200?a=%zz", endpoint: "query", errIs: ErrURL},
		{url: "elasticsearch+http://127.0.0.1:9200", o: BulkOptions{Headers: []string{"Authorization: Basic c2VjcmV0"}},
			endpoint: "never from a flag", errIs: elasticsearch.ErrConfig},
		{url: "elasticsearch+http://127.0.0.1:9200", o: BulkOptions{Headers: []string{"nocolon"}}, endpoint: "Name: value", errIs: elasticsearch.ErrConfig},
		{url: "elasticsearch+http://127.0.0.1:9200", o: BulkOptions{IDs: "random"}, endpoint: "id mode", errIs: elasticsearch.ErrConfig},
		{url: "elasticsearch+http://127.0.0.1:9200", o: BulkOptions{DeadLetter: filepath.Join(t.TempDir(), "no", "dir")},
			endpoint: "dead-letter", errIs: elasticsearch.ErrConfig},
		{url: "elasticsearch+http://127.0.0.1:9200", env: map[string]string{httpout.EnvToken: "t", httpout.EnvAPIKey: "k"},
			endpoint: "only one", errIs: httpout.ErrConfig},
	} {
		lookup := noEnv
		if tc.env != nil {
			lookup = func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
		}
		s, err := FromURL(tc.url, Options{Bulk: tc.o, LookupEnv: lookup})
		if tc.ok {
			if err != nil {
				t.Errorf("%q: %v", tc.url, err)
				continue
			}
			es := s.(*elasticsearch.Sink)
			if got := es.Endpoint(); got != tc.endpoint {
				t.Errorf("%q: endpoint %q, want %q", tc.url, got, tc.endpoint)
			}
			if strings.Contains(es.String(), "?") || strings.Contains(es.String(), "secret") {
				t.Errorf("%q: String() = %q shows the query", tc.url, es)
			}
			es.Close()
			continue
		}
		switch {
		case err == nil:
			t.Errorf("%q %+v: no error, want %q", tc.url, tc.o, tc.endpoint)
		case !errors.Is(err, tc.errIs):
			t.Errorf("%q: error %v does not wrap %v", tc.url, err, tc.errIs)
		case !strings.Contains(err.Error(), tc.endpoint):
			t.Errorf("%q: error %q, want it to contain %q", tc.url, err, tc.endpoint)
		case strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "c2VjcmV0"):
			t.Errorf("%q: error %q shows a secret", tc.url, err)
		}
	}
}
