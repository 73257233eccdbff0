package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// TestSetupBulkSink: the _bulk sink's flags and credentials are checked
// at start (exit 2), and a secret never reaches stderr.
func TestSetupBulkSink(t *testing.T) {
	es := "elasticsearch+http://127.0.0.1:9200"
	for _, tc := range []struct {
		args []string
		env  map[string]string
		code int    // -1: the relay would run
		want string // in stderr
	}{
		{[]string{"--sink", es}, nil, -1, ""},
		{[]string{"--sink", "elasticsearch+https://127.0.0.1:9428/insert/elasticsearch/_bulk?_msg_field=message", "--es-id", "batch",
			"--sink-header", "X-Scope: a", "--sink-gzip", "--dead-letter", filepath.Join(t.TempDir(), "dead")}, nil, -1, ""},
		{[]string{"--sink", es, "--sink-header", "Authorization: Bearer hunter2"}, nil, 2, "never from a flag"},
		{[]string{"--sink", es, "--es-id", "uuid"}, nil, 2, "id mode"},
		{[]string{"--sink", es, "--sink-tls-cert", "/nonexistent.pem"}, nil, 2, "both the certificate and the key"},
		{[]string{"--sink", es, "--sink-tls-ca", "/nonexistent-ca.pem"}, nil, 2, "CA file"},
		{[]string{"--sink", "elasticsearch+http://u:hunter2@127.0.0.1:9200"}, nil, 2, "credentials"},
		{[]string{"--sink", es}, map[string]string{"LOGRELAY_SINK_TOKEN": "hunter2", "LOGRELAY_SINK_API_KEY": "hunter2"}, 2, "only one"},
		{[]string{"--sink", es}, map[string]string{"LOGRELAY_SINK_PASSWORD": "hunter2"}, 2, "without LOGRELAY_SINK_USER"},
		{[]string{"--sink", es}, map[string]string{"LOGRELAY_SINK_USER": "u", "LOGRELAY_SINK_PASSWORD": "hunter2"}, -1, ""},
		{[]string{"--sink", "quickwit+http://127.0.0.1:7280/logs", "--quickwit-commit", "wait_for", "--sink-gzip"}, nil, -1, ""},
		{[]string{"--sink", "quickwit+http://127.0.0.1:7280/logs", "--quickwit-commit", "later"}, nil, 2, "commit"},
		{[]string{"--sink", "loki+http://127.0.0.1:3100", "--loki-labels", "job=relay,host=web-1"}, nil, -1, ""},
		{[]string{"--sink", "loki+http://127.0.0.1:3100", "--loki-labels", "__name__=x"}, nil, 2, "reserved"},
		{[]string{"--sink", "loki+http://127.0.0.1:3100", "--sink-header", "Authorization: Bearer hunter2"}, nil, 2, "never from a flag"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var stderr bytes.Buffer
			a, code := setup(tc.args, &stderr)
			if code != tc.code || (code == -1) != (a != nil && a.relay != nil && a.log != nil) {
				t.Errorf("got app %v, exit code %d want %d (stderr %q)", a != nil, code, tc.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr %q want it to contain %q", stderr.String(), tc.want)
			}
			if strings.Contains(stderr.String(), "hunter2") {
				t.Errorf("stderr %q shows the secret", stderr.String())
			}
		})
	}
}
