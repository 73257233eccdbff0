// Package httpout provides what logrelay's HTTP sinks share: a keep-alive
// client with TLS options, credentials read from the environment or files
// (never flags), Retry-After, bounded response
// reading, a dead-letter file, and a rate limit for repeated log lines.
package httpout

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// ErrConfig marks an invalid client configuration.
var ErrConfig = errors.New("invalid http sink configuration")

// ErrResponseTooLarge means a response body exceeded the reader's bound.
var ErrResponseTooLarge = errors.New("response body exceeds the limit")

// TLSConfig selects how the client verifies the server and identifies
// itself. The zero value verifies with the system roots.
type TLSConfig struct {
	// CAFile is a PEM file of CA certificates to verify the server with,
	// instead of the system roots; "" means the system roots.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and its key, for
	// servers that require one; both or neither.
	CertFile, KeyFile string
	// InsecureSkipVerify accepts any server certificate. NewClient logs a
	// warning when it is set.
	InsecureSkipVerify bool
}

// ClientConfig configures NewClient.
type ClientConfig struct {
	// Conns is the number of requests the sink keeps in flight; the client
	// keeps that many idle connections to the host.
	Conns int
	// Timeout bounds one attempt: connecting, sending the request and
	// reading the whole response. 0 means none (the caller's context must
	// bound it).
	Timeout time.Duration
	// TLS applies to https URLs.
	TLS TLSConfig
	// Logger receives the insecure-skip-verify warning; nil discards it.
	Logger *slog.Logger
}

// NewClient returns one HTTP client for a sink: keep-alive connections (up
// to Conns idle ones kept to the host), no redirects followed (a sink URL
// that redirects is a configuration error the caller sees as a 3xx), and
// the TLS options.
func NewClient(c ClientConfig) (*http.Client, error) {
	tc, err := c.TLS.build()
	if err != nil {
		return nil, err
	}
	if c.TLS.InsecureSkipVerify && c.Logger != nil {
		c.Logger.Warn("sink TLS: server certificates are NOT verified (--sink-tls-insecure-skip-verify)")
	}
	conns := max(c.Conns, 1)
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   10 * time.Second,
		MaxIdleConns:          conns,
		MaxIdleConnsPerHost:   conns,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true, // a _bulk answer is read with a bound, as sent
		// A request body is tens of KiB: write it in few system calls.
		WriteBufferSize: 64 << 10,
		ReadBufferSize:  16 << 10,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   c.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}, nil
}

func (t TLSConfig) build() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: CA file: %w", ErrConfig, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: CA file %s: no PEM certificate in it", ErrConfig, t.CAFile)
		}
		tc.RootCAs = pool
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, fmt.Errorf("%w: a client certificate needs both the certificate and the key file", ErrConfig)
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: client certificate: %w", ErrConfig, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Credentials authenticate a sink's requests. At most one kind is set.
// Its String never shows a secret.
type Credentials struct {
	user, password string // HTTP basic
	token          string // Authorization: Bearer
	apiKey         string // Authorization: ApiKey (Elasticsearch API key, base64 id:key)
}

// The environment variables credentials come from. Each also has a _FILE
// variant (LOGRELAY_SINK_PASSWORD_FILE, …) naming a file that holds the
// value; one trailing newline is removed from a file's content.
const (
	EnvUser     = "LOGRELAY_SINK_USER"     // basic auth user name
	EnvPassword = "LOGRELAY_SINK_PASSWORD" // basic auth password (needs the user)
	EnvToken    = "LOGRELAY_SINK_TOKEN"    // bearer token
	EnvAPIKey   = "LOGRELAY_SINK_API_KEY"  // Elasticsearch API key, the base64 "id:key" form
)

// CredentialsFromEnv reads the sink's credentials from the variables above,
// through lookup (os.LookupEnv in production). Setting a variable and its
// _FILE variant, or two kinds of credentials, is an error; so is a
// password without a user.
func CredentialsFromEnv(lookup func(string) (string, bool)) (Credentials, error) {
	var c Credentials
	get := func(name string) (string, error) {
		v, ok := lookup(name)
		path, fok := lookup(name + "_FILE")
		switch {
		case ok && fok:
			return "", fmt.Errorf("%w: both %s and %s_FILE are set", ErrConfig, name, name)
		case fok:
			b, err := os.ReadFile(path)
			if err != nil {
				return "", fmt.Errorf("%w: %s_FILE: %w", ErrConfig, name, err)
			}
			s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
			if s == "" {
				return "", fmt.Errorf("%w: %s_FILE %s is empty", ErrConfig, name, path)
			}
			return s, nil
		}
		return v, nil
	}
	var err error
	for _, f := range []struct {
		dst  *string
		name string
	}{{&c.user, EnvUser}, {&c.password, EnvPassword}, {&c.token, EnvToken}, {&c.apiKey, EnvAPIKey}} {
		if *f.dst, err = get(f.name); err != nil {
			return Credentials{}, err
		}
	}
	kinds := 0
	for _, set := range []bool{c.user != "" || c.password != "", c.token != "", c.apiKey != ""} {
		if set {
			kinds++
		}
	}
	switch {
	case kinds > 1:
		return Credentials{}, fmt.Errorf("%w: set only one of basic auth (%s), %s and %s", ErrConfig, EnvUser, EnvToken, EnvAPIKey)
	case c.password != "" && c.user == "":
		return Credentials{}, fmt.Errorf("%w: %s is set without %s", ErrConfig, EnvPassword, EnvUser)
	}
	return c, nil
}

// Apply sets the request's Authorization header, if there are credentials.
func (c Credentials) Apply(h http.Header) {
	switch {
	case c.user != "":
		r := http.Request{Header: h}
		r.SetBasicAuth(c.user, c.password)
	case c.token != "":
		h.Set("Authorization", "Bearer "+c.token)
	case c.apiKey != "":
		h.Set("Authorization", "ApiKey "+c.apiKey)
	}
}

// String names the kind of credentials, never their value.
func (c Credentials) String() string {
	switch {
	case c.user != "":
		return "basic auth (user " + strconv.Quote(c.user) + ")"
	case c.token != "":
		return "bearer token"
	case c.apiKey != "":
		return "API key"
	}
	return "none"
}

// LogValue keeps secrets out of structured logs.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

// RetryAfter parses a Retry-After header value, seconds or an HTTP date,
// relative to now; it returns 0 for an absent or unparsable value.
func RetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(min(s, 1<<31)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// ReadBounded reads r to its end into buf[:0] and returns the result, or
// ErrResponseTooLarge once more than limit bytes came.
func ReadBounded(r io.Reader, buf []byte, limit int64) ([]byte, error) {
	buf = buf[:0]
	lr := io.LimitReader(r, limit+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return buf[:limit], fmt.Errorf("read response: %w (%d bytes)", ErrResponseTooLarge, limit)
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, fmt.Errorf("read response: %w", err)
		}
	}
}
