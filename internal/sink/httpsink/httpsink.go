// Package httpsink is the delivery engine logrelay's HTTP sinks share: a
// sink for one API (Elasticsearch _bulk, Quickwit ingest, Loki push) is an
// Engine that encodes a subset of a batch's messages into a request body
// and classifies the answer, and this package does the rest the same way
// for all of them.
//
// Policy.Concurrency workers each take a batch and drive it to its
// outcome, one request in flight per worker:
//
//   - an answer message by message (Verdict.Items) files each message:
//     delivered, a duplicate, resent alone after the backoff (Retry), or
//     rejected for good: counted by status, logged with the engine's
//     reason (rate-limited), dead-lettered when configured;
//   - ActRetry resends the whole request after the backoff (at least the
//     server's Retry-After, capped by Policy.RetryMax), counting its
//     messages as possible duplicates when the engine may have stored them;
//   - ActSplit resends each half, down to one message, which is then
//     rejected;
//   - ActBlocked (401, 403, 404, …: the destination's refusal, not the
//     messages' fault) is logged at error and retried with the backoff for
//     as long as it lasts, so backpressure reaches the clients and nothing
//     is dropped.
//
// A body larger than Config.MaxBody is never built: the messages are
// halved before sending, and a single message over it is rejected (413).
// A request the engine answered is never resent because another failed.
package httpsink

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/logrelay/logrelay/internal/sink/httpout"
)

// unhealthyAfter is how many consecutive failed requests (whole-request
// failures, or answers rejecting every message) make Health report the
// destination failing; any request that delivers a message resets it.
const unhealthyAfter = 3

// Client is what every HTTP sink takes beside its API's own settings.
type Client struct {
	// Headers are added to every request (see ParseHeader).
	Headers http.Header
	// Gzip compresses request bodies (Content-Encoding: gzip).
	Gzip bool
	// TLS applies to https endpoints.
	TLS httpout.TLSConfig
	// Credentials authenticate every request.
	Credentials httpout.Credentials
	// DeadLetter is the file rejected messages are appended to; "" means
	// none (they are counted and logged only).
	DeadLetter string
	// Concurrency sizes the client's idle connection pool: the relay's
	// --sink-concurrency. 0 means 1.
	Concurrency int
	// Logger receives construction warnings; nil discards them.
	Logger *slog.Logger
}

// Config configures a Core.
type Config struct {
	Client
	// Scheme names the sink's URL scheme ("elasticsearch", "quickwit",
	// "loki"): the destination's name in logs and /healthz is
	// SCHEME+ENDPOINT without its query and credentials.
	Scheme string
	// Endpoint is the URL every request is posted to, query included.
	Endpoint *url.URL
	// API names the requests in log lines ("_bulk", "Quickwit ingest").
	API string
	// ContentType is every request's Content-Type.
	ContentType string
	// MaxBody is the largest uncompressed body sent; 0 means no limit.
	MaxBody int
	// ResponseLimit bounds the answer to a request of n messages whose
	// body had bodyLen bytes; nil means 4096 + 1024 per message.
	ResponseLimit func(n, bodyLen int) int64
	// Metrics names the sink's metrics.
	Metrics MetricsConfig
	// NewEngine returns a worker's engine, for Run (a sink that runs its
	// own workers with RunWorkers may leave it nil).
	NewEngine func(*Core) Engine
}

// Core is what an HTTP sink's workers share: the client, the dead-letter
// file, the metrics and the destination's health. An engine's Sink embeds
// it, which makes the Sink a relay.Sink (Run), a prometheus.Collector and
// a relay.HealthReporter.
type Core struct {
	cfg      Config
	name     string // for logs
	endpoint string
	url      *url.URL // Endpoint, for the workers' request templates
	client   *http.Client
	// rt is the client's transport: workers send their requests to it
	// directly, as the client would only copy each request's headers for
	// redirects, which the sinks never follow.
	rt   http.RoundTripper
	dead *httpout.DeadLetter
	// M are the sink's counters.
	M *Metrics

	failing  atomic.Int64 // consecutive failed requests
	lastMu   sync.Mutex
	lastErr  string // the last failure, for Health
	rejLog   *httpout.Limiter
	blockLog *httpout.Limiter
	retryLog *httpout.Limiter
}

// NewCore checks c, builds the client and opens the dead-letter file.
func NewCore(c Config) (*Core, error) {
	if err := CheckURL(c.Endpoint); err != nil {
		return nil, err
	}
	if err := CheckHeaders(c.Headers); err != nil {
		return nil, err
	}
	client, err := httpout.NewClient(httpout.ClientConfig{Conns: c.Concurrency, TLS: c.TLS, Logger: c.Logger})
	if err != nil {
		return nil, err
	}
	name := *c.Endpoint
	name.RawQuery, name.ForceQuery, name.User = "", false, nil
	k := &Core{cfg: c, name: c.Scheme + "+" + name.String(), endpoint: c.Endpoint.String(), url: c.Endpoint, client: client, rt: client.Transport, M: NewMetrics(c.Metrics),
		rejLog: httpout.NewLimiter(time.Second), blockLog: httpout.NewLimiter(time.Second),
		retryLog: httpout.NewLimiter(time.Second)}
	if c.DeadLetter != "" {
		if k.dead, err = httpout.OpenDeadLetter(c.DeadLetter); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// String names the destination (no query, no credentials).
func (k *Core) String() string { return k.name }

// Endpoint returns the URL the sink posts to, query included.
func (k *Core) Endpoint() string { return k.endpoint }

// Close closes the dead-letter file and idle connections.
func (k *Core) Close() error {
	k.client.CloseIdleConnections()
	if k.dead != nil {
		return k.dead.Close()
	}
	return nil
}

// Health returns nil while the destination takes data; else the last
// failure, once unhealthyAfter requests in a row failed.
func (k *Core) Health() error {
	n := k.failing.Load()
	if n < unhealthyAfter {
		return nil
	}
	k.lastMu.Lock()
	defer k.lastMu.Unlock()
	return fmt.Errorf("%s: %d requests in a row failed, last: %s", k.name, n, k.lastErr)
}

func (k *Core) noteFailure(reason string) {
	k.lastMu.Lock()
	k.lastErr = reason
	k.lastMu.Unlock()
	k.failing.Add(1)
}

// Describe and Collect make the sink a prometheus.Collector.
func (k *Core) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(k, ch) }

// Collect reports the sink's metrics.
func (k *Core) Collect(ch chan<- prometheus.Metric) { k.M.collect(ch, k.Health() == nil) }
