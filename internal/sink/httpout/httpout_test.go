package httpout

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCredentialsFromEnv(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	os.WriteFile(pwFile, []byte("s3cret\n"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	tests := []struct {
		name    string
		env     map[string]string
		auth    string // Authorization header, "" = none
		str     string
		wantErr bool
	}{
		{"none", nil, "", "none", false},
		{"basic", map[string]string{EnvUser: "u", EnvPassword: "p"}, "Basic dTpw", `basic auth (user "u")`, false},
		{"basic from file", map[string]string{EnvUser: "u", EnvPassword + "_FILE": pwFile}, "Basic dTpzM2NyZXQ=", `basic auth (user "u")`, false},
		{"token", map[string]string{EnvToken: "xyzzy"}, "Bearer xyzzy", "bearer token", false},
		{"api key", map[string]string{EnvAPIKey: "aWQ6a2V5"}, "ApiKey aWQ6a2V5", "API key", false},
		{"both value and file", map[string]string{EnvToken: "a", EnvToken + "_FILE": pwFile}, "", "", true},
		{"two kinds", map[string]string{EnvToken: "a", EnvAPIKey: "b"}, "", "", true},
		{"password without user", map[string]string{EnvPassword: "p"}, "", "", true},
		{"missing file", map[string]string{EnvToken + "_FILE": filepath.Join(dir, "nope")}, "", "", true},
		{"empty file", map[string]string{EnvToken + "_FILE": empty}, "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := CredentialsFromEnv(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, ErrConfig) {
					t.Errorf("err %v does not wrap ErrConfig", err)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error %q shows the secret", err)
				}
				return
			}
			h := http.Header{}
			c.Apply(h)
			if got := h.Get("Authorization"); got != tt.auth {
				t.Errorf("Authorization = %q, want %q", got, tt.auth)
			}
			if got := c.String(); got != tt.str {
				t.Errorf("String() = %q, want %q", got, tt.str)
			}
			if s := c.LogValue().String(); strings.Contains(s, "s3cret") || strings.Contains(s, "xyzzy") {
				t.Errorf("LogValue %q shows the secret", s)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 19, 0, 0, 0, time.UTC)
	tests := []struct {
		v    string
		want time.Duration
	}{
		{"", 0}, {"3", 3 * time.Second}, {" 7 ", 7 * time.Second}, {"0", 0}, {"-1", 0}, {"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := RetryAfter(tt.v, now); got != tt.want {
			t.Errorf("RetryAfter(%q) = %v, want %v", tt.v, got, tt.want)
		}
	}
}

func TestReadBounded(t *testing.T) {
	t.Parallel()
	buf := make([]byte, 0, 4)
	got, err := ReadBounded(strings.NewReader("hello world"), buf, 11)
	if err != nil || string(got) != "hello world" {
		t.Errorf("got %q, %v; want the body", got, err)
	}
	if _, err := ReadBounded(strings.NewReader("hello world!"), buf, 11); !errors.Is(err, ErrResponseTooLarge) {
		t.Errorf("over the limit: err = %v, want ErrResponseTooLarge", err)
	}
}

func TestDeadLetter(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "dead.ndjson")
	d, err := OpenDeadLetter(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 19, 0, 0, 5, time.UTC)
	d.Write(now, 400, `mapper_parsing_exception: failed to parse "x"`, []byte("a\"\x01\xffb"))
	d.Write(now, 413, "", []byte("{}"))
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	lines := bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("got %d records, want 2: %q", len(lines), b)
	}
	var rec struct {
		Time   time.Time `json:"time"`
		Status int       `json:"status"`
		Reason string    `json:"reason"`
		Line   string    `json:"line"`
	}
	if err := json.Unmarshal(lines[0], &rec); err != nil {
		t.Fatalf("record %q: %v", lines[0], err)
	}
	if !rec.Time.Equal(now) || rec.Status != 400 || rec.Reason != `mapper_parsing_exception: failed to parse "x"` || rec.Line != "a\"\x01\uFFFDb" {
		t.Errorf("record = %+v", rec)
	}
}

func TestLimiter(t *testing.T) {
	t.Parallel()
	l := NewLimiter(time.Second)
	t0 := time.Unix(100, 0)
	steps := []struct {
		at         time.Duration
		ok         bool
		suppressed int
	}{{0, true, 0}, {100 * time.Millisecond, false, 0}, {900 * time.Millisecond, false, 0}, {time.Second, true, 2}, {1500 * time.Millisecond, false, 0}}
	for _, s := range steps {
		ok, n := l.Allow(t0.Add(s.at))
		if ok != s.ok || n != s.suppressed {
			t.Errorf("at %v: Allow = %v, %d; want %v, %d", s.at, ok, n, s.ok, s.suppressed)
		}
	}
}

// TestClientTLS: the CA file verifies the test server; without it the
// system roots reject it; insecure-skip-verify accepts it.
func TestClientTLS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) }))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the rejected handshake
	srv.StartTLS()
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	get := func(tc TLSConfig) error {
		c, err := NewClient(ClientConfig{Conns: 2, Timeout: 5 * time.Second, TLS: tc})
		if err != nil {
			return err
		}
		defer c.CloseIdleConnections()
		resp, err := c.Get(srv.URL)
		if err != nil {
			return err
		}
		return resp.Body.Close()
	}
	if err := get(TLSConfig{CAFile: ca}); err != nil {
		t.Errorf("with the CA file: %v", err)
	}
	if err := get(TLSConfig{}); err == nil {
		t.Errorf("with the system roots: no error for a self-signed server")
	}
	if err := get(TLSConfig{InsecureSkipVerify: true}); err != nil {
		t.Errorf("insecure: %v", err)
	}
	if _, err := NewClient(ClientConfig{TLS: TLSConfig{CAFile: filepath.Join(t.TempDir(), "none")}}); !errors.Is(err, ErrConfig) {
		t.Errorf("missing CA file: err = %v, want ErrConfig", err)
	}
	if _, err := NewClient(ClientConfig{TLS: TLSConfig{CertFile: ca}}); !errors.Is(err, ErrConfig) {
		t.Errorf("cert without key: err = %v, want ErrConfig", err)
	}
}
