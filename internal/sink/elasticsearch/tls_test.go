package elasticsearch

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/sink/httpout"
)

// writeCert writes a self-signed certificate (its own CA) and its key as
// PEM files in dir and returns their paths and the certificate.
func writeCert(t *testing.T, dir, name string, usage x509.ExtKeyUsage) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		BasicConstraintsValid: true, IsCA: true, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile, cert
}

// TestDeliverTLS: over https the sink verifies the server with the CA
// file and presents its client certificate to a server that requires one;
// without the client certificate the handshake fails, which is a
// retryable failure, not a loss.
func TestDeliverTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srvCert, srvKey, _ := writeCert(t, dir, "localhost", x509.ExtKeyUsageServerAuth)
	cliCert, cliKey, cli := writeCert(t, dir, "relay", x509.ExtKeyUsageClientAuth)
	pair, err := tls.LoadX509KeyPair(srvCert, srvKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cli)
	var got atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		got.Add(1)
		io.WriteString(w, `{"errors":false}`)
	}))
	strict := &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	lax := &tls.Config{Certificates: []tls.Certificate{pair}}
	var relaxed atomic.Bool
	srv.TLS = &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		if relaxed.Load() {
			return lax, nil
		}
		return strict, nil
	}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	u.Host = "localhost:" + u.Port()

	e := &engine{t: t, srv: srv}
	ts := newTestSink(t, e, func(c *Config) {
		c.URL = u
		c.TLS = httpout.TLSConfig{CAFile: srvCert, CertFile: cliCert, KeyFile: cliKey}
	})
	if o := ts.deliver(t, "a", "b"); len(o.Rejected) != 0 || got.Load() != 1 {
		t.Errorf("with the CA and client certificate: outcome %+v, %d requests; want delivered in 1", o, got.Load())
	}

	noCert := newTestSink(t, e, func(c *Config) {
		c.URL = u
		c.TLS = httpout.TLSConfig{CAFile: srvCert}
	})
	noCert.w.h = &stopAfter{testHooks: noCert.hooks, n: 3, cancel: func() { relaxed.Store(true) }}
	if o := noCert.deliver(t, "c"); len(o.Rejected) != 0 {
		t.Errorf("without a client certificate: outcome %+v, want delivered once the server stops requiring one", o)
	}
	if noCert.hooks.attempts < 3 {
		t.Errorf("%d attempts: want the failed handshakes retried", noCert.hooks.attempts)
	}
}

// stopAfter calls cancel on the n-th attempt.
type stopAfter struct {
	*testHooks
	n      int
	cancel func()
}

func (s *stopAfter) attempt() {
	s.testHooks.attempt()
	if s.testHooks.attempts == s.n {
		s.cancel()
	}
}
