// Package sink builds the relay's sinks from URLs: FromURL turns a sink
// URL and Options into a relay.Sink. It is the one place that knows the
// URL schemes; the relay itself only sees the relay.Sink interface.
//
// Schemes:
//
//	tcp://HOST:PORT   the wire package's framed batch protocol, acknowledged
//	                  in order (relay.NewTCPSink)
//	elasticsearch+http://HOST:PORT/PATH?QUERY
//	elasticsearch+https://HOST:PORT/PATH?QUERY
//	                  the Elasticsearch _bulk API (package elasticsearch):
//	                  PATH is the endpoint, /_bulk appended unless it ends in
//	                  _bulk (so elasticsearch+http://es:9200 posts to /_bulk);
//	                  QUERY is sent as it is (VictoriaLogs' _msg_field,
//	                  _time_field, _stream_fields)
//	file:///PATH      appended to the file PATH (package file); the host may
//	                  be empty or localhost
//	quickwit+http://HOST:PORT/INDEX
//	quickwit+https://HOST:PORT/PREFIX/INDEX
//	                  Quickwit's ingest API (package quickwit): POST
//	                  PREFIX/api/v1/INDEX/ingest?commit=…&detailed_response=true
//	loki+http://HOST:PORT/PATH?QUERY
//	loki+https://HOST:PORT/PATH?QUERY
//	                  Loki's push API, JSON (package loki): /loki/api/v1/push
//	                  appended unless PATH ends in it (so
//	                  loki+http://vl:9428/insert posts to VictoriaLogs'
//	                  /insert/loki/api/v1/push); QUERY is sent as it is
//
// The HTTP schemes share BulkOptions' Headers, Gzip, TLS and DeadLetter
// and the credentials from the environment.
package sink

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/logrelay/logrelay/internal/relay"
	"github.com/logrelay/logrelay/internal/sink/elasticsearch"
	"github.com/logrelay/logrelay/internal/sink/file"
	"github.com/logrelay/logrelay/internal/sink/httpout"
	"github.com/logrelay/logrelay/internal/sink/httpsink"
	"github.com/logrelay/logrelay/internal/sink/loki"
	"github.com/logrelay/logrelay/internal/sink/quickwit"
	"github.com/logrelay/logrelay/internal/wire"
)

// Options are a sink's settings that do not belong in its URL (index
// names, headers, TLS files, secrets read from the environment or a
// file). Each field belongs to one scheme, and other schemes ignore it.
// The tcp scheme takes none: everything it needs is in the URL and the
// relay's delivery policy (relay.Policy).
type Options struct {
	// File are the file scheme's settings; its Path comes from the URL.
	File file.Config
	// Bulk are the elasticsearch+http(s) scheme's options; its Headers,
	// Gzip, TLS and DeadLetter apply to every HTTP scheme, and its
	// TimeField and MessageField shape Quickwit's documents too.
	Bulk BulkOptions
	// Quickwit are the quickwit+http(s) scheme's options.
	Quickwit QuickwitOptions
	// Loki are the loki+http(s) scheme's options.
	Loki LokiOptions
	// Concurrency is the relay's --sink-concurrency; an HTTP sink keeps as
	// many idle connections.
	Concurrency int
	// LookupEnv reads the sink's credentials (httpout.CredentialsFromEnv);
	// nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// Logger receives construction warnings (insecure TLS); nil discards.
	Logger *slog.Logger
}

// BulkOptions configure the elasticsearch+http(s) scheme (see package
// elasticsearch).
type BulkOptions struct {
	// Index is every action's _index; "" leaves it to the URL or engine.
	Index string
	// TimeField and MessageField name the document fields ("" means
	// @timestamp and message).
	TimeField, MessageField string
	// IDs is the _id mode: "none" ("" too) or "batch".
	IDs string
	// Headers are extra request headers, each "Name: value".
	Headers []string
	// Gzip compresses request bodies.
	Gzip bool
	// NoFilterPath leaves out filter_path from the query (for an engine
	// that refuses it).
	NoFilterPath bool
	// TLS applies to https URLs.
	TLS httpout.TLSConfig
	// DeadLetter is the file rejected documents go to; "" means none.
	DeadLetter string
}

// QuickwitOptions configure the quickwit+http(s) scheme (see package
// quickwit).
type QuickwitOptions struct {
	// Commit is the ingest API's commit: auto ("" too), wait_for or force.
	Commit string
}

// LokiOptions configure the loki+http(s) scheme (see package loki).
type LokiOptions struct {
	// Labels are the stream labels, "name=value,…"; "" means
	// loki.DefaultLabels.
	Labels string
}

// FromURL returns the sink for rawURL. It checks the URL completely, so a
// sink it returns can at least be dialled: an unknown scheme, a missing or
// out-of-range port (1-65535), credentials in the URL, a query, a
// fragment or a path the scheme does not use are errors wrapping ErrURL.
func FromURL(rawURL string, o Options) (relay.Sink, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// Not url.Error's text: it quotes the URL, password and all.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%w: %v (want SCHEME://HOST:PORT, e.g. tcp://127.0.0.1:9000)", ErrURL, err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w %q: "+format, append([]any{ErrURL, u.Redacted()}, args...)...)
	}
	switch u.Scheme {
	case "tcp":
		if err := checkHostPort(u, bad); err != nil {
			return nil, err
		}
		if u.Path != "" && u.Path != "/" {
			return nil, bad("path %q: want tcp://HOST:PORT", u.Path)
		}
		return relay.NewTCPSink(u.Host), nil
	case "file":
		return fileFromURL(u, o, bad)
	case "elasticsearch+http", "elasticsearch+https":
		return bulkFromURL(u, o, bad)
	case "quickwit+http", "quickwit+https":
		return quickwitFromURL(u, o, bad)
	case "loki+http", "loki+https":
		return lokiFromURL(u, o, bad)
	case "":
		return nil, bad("no scheme: want tcp://HOST:PORT")
	}
	return nil, bad("scheme %q not supported (want tcp, elasticsearch+http(s), quickwit+http(s), loki+http(s) or file)", u.Scheme)
}

// fileFromURL checks a file:///PATH URL: an absolute, clean path; no
// host but localhost; no credentials, query or fragment.
func fileFromURL(u *url.URL, o Options, bad func(string, ...any) error) (relay.Sink, error) {
	switch {
	case u.Opaque != "":
		return nil, bad("want file:///ABSOLUTE/PATH")
	case u.User != nil:
		return nil, bad("credentials in the URL are not allowed")
	case u.Host != "" && u.Host != "localhost":
		return nil, bad("host %q: want file:///ABSOLUTE/PATH (the host may only be localhost)", u.Host)
	case u.RawQuery != "" || u.ForceQuery:
		return nil, bad("query %q: not allowed", u.RawQuery)
	case u.Fragment != "" || u.RawFragment != "":
		return nil, bad("fragment %q: not allowed", u.Fragment)
	case u.Path == "" || u.Path == "/" || strings.HasSuffix(u.Path, "/"):
		return nil, bad("path %q: want file:///ABSOLUTE/PATH to a file", u.Path)
	}
	c := o.File
	c.Path = u.Path
	s, err := file.New(c)
	if err != nil {
		return nil, bad("%v", err)
	}
	return s, nil
}

func bulkFromURL(u *url.URL, o Options, bad func(string, ...any) error) (relay.Sink, error) {
	if err := checkQueryURL(u, bad); err != nil {
		return nil, err
	}
	eu := *u
	eu.Scheme = strings.TrimPrefix(u.Scheme, "elasticsearch+")
	if !strings.HasSuffix(eu.Path, "_bulk") {
		eu.Path = strings.TrimSuffix(eu.Path, "/") + "/_bulk"
		eu.RawPath = ""
	}
	creds, hdr, err := httpParts(o, elasticsearch.ParseHeader)
	if err != nil {
		return nil, err
	}
	s, err := elasticsearch.New(elasticsearch.Config{
		URL:         &eu,
		Format:      wire.BulkFormat{Index: o.Bulk.Index, TimeField: o.Bulk.TimeField, MessageField: o.Bulk.MessageField},
		IDs:         o.Bulk.IDs,
		Headers:     hdr,
		Gzip:        o.Bulk.Gzip,
		FilterPath:  !o.Bulk.NoFilterPath,
		TLS:         o.Bulk.TLS,
		Credentials: creds,
		DeadLetter:  o.Bulk.DeadLetter,
		Concurrency: o.Concurrency,
		Logger:      o.Logger,
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// httpParts reads what every HTTP scheme takes beside its URL: the
// credentials from the environment and the extra headers, parsed by parse.
func httpParts(o Options, parse func(http.Header, string) error) (httpout.Credentials, http.Header, error) {
	lookup := o.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	creds, err := httpout.CredentialsFromEnv(lookup)
	if err != nil {
		return httpout.Credentials{}, nil, err
	}
	hdr := http.Header{}
	for _, h := range o.Bulk.Headers {
		if err := parse(hdr, h); err != nil {
			return httpout.Credentials{}, nil, err
		}
	}
	return creds, hdr, nil
}

// httpClient is the quickwit and loki schemes' share of o.
func httpClient(o Options, creds httpout.Credentials, hdr http.Header) httpsink.Client {
	return httpsink.Client{Headers: hdr, Gzip: o.Bulk.Gzip, TLS: o.Bulk.TLS, Credentials: creds,
		DeadLetter: o.Bulk.DeadLetter, Concurrency: o.Concurrency, Logger: o.Logger}
}

func quickwitFromURL(u *url.URL, o Options, bad func(string, ...any) error) (relay.Sink, error) {
	if err := checkHostPort(u, bad); err != nil {
		return nil, err
	}
	prefix, index := path.Split(strings.TrimSuffix(u.Path, "/"))
	if index == "" {
		return nil, bad("no index: want %s://HOST:PORT/INDEX", u.Scheme)
	}
	creds, hdr, err := httpParts(o, httpsink.ParseHeader)
	if err != nil {
		return nil, err
	}
	qu := *u
	qu.Scheme = strings.TrimPrefix(u.Scheme, "quickwit+")
	qu.Path, qu.RawPath = strings.TrimSuffix(prefix, "/"), ""
	s, err := quickwit.New(quickwit.Config{
		URL: &qu, Index: index, Commit: o.Quickwit.Commit,
		Format: wire.BulkFormat{TimeField: o.Bulk.TimeField, MessageField: o.Bulk.MessageField},
		Client: httpClient(o, creds, hdr),
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

func lokiFromURL(u *url.URL, o Options, bad func(string, ...any) error) (relay.Sink, error) {
	if err := checkQueryURL(u, bad); err != nil {
		return nil, err
	}
	spec := o.Loki.Labels
	if spec == "" {
		spec = loki.DefaultLabels
	}
	labels, err := wire.ParseLokiLabels(spec)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", loki.ErrConfig, err)
	}
	creds, hdr, err := httpParts(o, httpsink.ParseHeader)
	if err != nil {
		return nil, err
	}
	lu := *u
	lu.Scheme = strings.TrimPrefix(u.Scheme, "loki+")
	if !strings.HasSuffix(lu.Path, wire.LokiPushPath) {
		lu.Path, lu.RawPath = strings.TrimSuffix(lu.Path, "/")+wire.LokiPushPath, ""
	}
	s, err := loki.New(loki.Config{
		URL: &lu, Labels: labels, Client: httpClient(o, creds, hdr),
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// checkQueryURL is checkHostPort for a URL that may have a query, which
// must parse.
func checkQueryURL(u *url.URL, bad func(string, ...any) error) error {
	q := *u
	q.RawQuery, q.ForceQuery = "", false
	if err := checkHostPort(&q, bad); err != nil {
		return err
	}
	if _, err := url.ParseQuery(u.RawQuery); err != nil {
		return bad("query: %v", err)
	}
	return nil
}

// checkHostPort checks what every network sink's URL needs: a host, a
// port in 1-65535, no credentials (secrets come from the environment or a
// file, never the command line), no query and no fragment.
func checkHostPort(u *url.URL, bad func(string, ...any) error) error {
	switch {
	case u.Opaque != "":
		return bad("want %s://HOST:PORT", u.Scheme)
	case u.User != nil:
		return bad("credentials in the URL are not allowed")
	case u.RawQuery != "" || u.ForceQuery:
		return bad("query %q: not allowed", u.RawQuery)
	case u.Fragment != "" || u.RawFragment != "":
		return bad("fragment %q: not allowed", u.Fragment)
	case u.Hostname() == "":
		return bad("no host: want %s://HOST:PORT", u.Scheme)
	case u.Port() == "":
		return bad("no port: want %s://HOST:PORT", u.Scheme)
	}
	p, err := strconv.Atoi(u.Port())
	if err != nil || p < 1 || p > 65535 {
		return bad("port %s: want 1-65535", u.Port())
	}
	return nil
}
