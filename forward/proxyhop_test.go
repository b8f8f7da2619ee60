package forward

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testCA is a certificate authority made for a test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // its certificate, PEM
}

func newTestCA(t *testing.T, dir, name string) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, name+".pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return testCA{cert: cert, key: key, file: file}
}

// leaf issues a certificate for handler.test and 127.0.0.1, for a server
// or a client, and writes it and its key as PEM files in dir.
func (ca testCA) leaf(t *testing.T, dir, name string, usage x509.ExtKeyUsage) (pair tls.Certificate, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		DNSNames: []string{"handler.test"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if pair, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	return pair, certFile, keyFile
}

// testProxy is a forward proxy on loopback, https when it has a
// certificate: CONNECT tunnels and absolute-form requests both go to
// 127.0.0.1 at the port asked for, whatever the host (handler.test). It
// asks for a client certificate and counts those it is shown.
type testProxy struct {
	*httptest.Server
	requests    atomic.Int32 // CONNECTs and requests
	auth        atomic.Value // string: the last Proxy-Authorization
	clientCerts atomic.Int32 // handshakes in which the client showed one

	mu     sync.Mutex
	tunnel []net.Conn
}

func newTestProxy(t *testing.T, cert *tls.Certificate) *testProxy {
	t.Helper()
	p := &testProxy{}
	tr := &http.Transport{}
	rp := &httputil.ReverseProxy{Transport: tr, Rewrite: func(pr *httputil.ProxyRequest) {
		pr.Out.URL.Host = "127.0.0.1:" + pr.In.URL.Port()
	}}
	p.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		p.auth.Store(r.Header.Get("Proxy-Authorization"))
		if r.Method != http.MethodConnect {
			rp.ServeHTTP(w, r)
			return
		}
		_, port, _ := net.SplitHostPort(r.Host)
		up, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		down, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			up.Close()
			return
		}
		p.mu.Lock()
		p.tunnel = append(p.tunnel, up, down)
		p.mu.Unlock()
		io.WriteString(down, "HTTP/1.1 200 Connection established\r\n\r\n")
		go func() { // ends when either side closes
			io.Copy(up, down)
			up.Close()
		}()
		io.Copy(down, up)
		down.Close()
	}))
	p.Config.ErrorLog = quietLog // refused handshakes are the point
	if cert != nil {
		p.TLS = &tls.Config{
			Certificates: []tls.Certificate{*cert},
			ClientAuth:   tls.RequestClientCert,
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) > 0 {
					p.clientCerts.Add(1)
				}
				return nil
			},
		}
		p.StartTLS()
	} else {
		p.Start()
	}
	t.Cleanup(func() {
		p.Close()
		p.mu.Lock()
		for _, c := range p.tunnel {
			c.Close()
		}
		p.mu.Unlock()
		tr.CloseIdleConnections()
	})
	return p
}

// proxyEnv are the environment variables the child of
// TestForwardProxyTLS is given afresh.
var proxyEnv = []string{"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "REQUEST_METHOD", "SSL_CERT_FILE", "SSL_CERT_DIR", "GORACE"}

// TestForwardProxyTLS: Config.TLS (listen's --forward-ca, --forward-cert
// and --forward-key, --forward-insecure) is the handler's alone. Through
// an https proxy (HTTPS_PROXY=https://…), the proxy's certificate is
// checked against the system's authorities (SSL_CERT_FILE here) even with
// InsecureSkipVerify, the handler's authority does not vouch for it, and
// the client certificate is not shown to it; the handler, through the
// proxy's tunnel, is checked per Config.TLS, as through an http proxy.
// net/http's Transport did the proxy's handshake with Config.TLS. Each
// case runs in a child process (the proxy settings and the system's
// authorities are read once per process), with the real environment.
func TestForwardProxyTLS(t *testing.T) {
	dir := t.TempDir()
	proxyCA := newTestCA(t, dir, "proxy-ca")
	handlerCA := newTestCA(t, dir, "handler-ca")
	otherCA := newTestCA(t, dir, "other-ca") // the system's, when it trusts neither
	proxyCert, _, _ := proxyCA.leaf(t, dir, "proxy", x509.ExtKeyUsageServerAuth)
	byHandlerCA, _, _ := handlerCA.leaf(t, dir, "proxy-by-handler-ca", x509.ExtKeyUsageServerAuth)
	handlerCert, _, _ := handlerCA.leaf(t, dir, "handler", x509.ExtKeyUsageServerAuth)
	_, clientFile, clientKey := handlerCA.leaf(t, dir, "client", x509.ExtKeyUsageClientAuth)

	var hits atomic.Int32
	count := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		hits.Add(1)
	})
	plain := httptest.NewServer(count)
	defer plain.Close()
	serve := func(auth tls.ClientAuthType) *httptest.Server {
		s := httptest.NewUnstartedServer(count)
		s.Config.ErrorLog = quietLog
		pool := x509.NewCertPool()
		pool.AddCert(handlerCA.cert)
		s.TLS = &tls.Config{Certificates: []tls.Certificate{handlerCert}, ClientAuth: auth, ClientCAs: pool}
		s.StartTLS()
		return s
	}
	handler := serve(tls.NoClientCert)
	defer handler.Close()
	mutual := serve(tls.RequireAndVerifyClientCert)
	defer mutual.Close()
	hostURL := func(s *httptest.Server) string { // handler.test: not loopback, so proxied
		return strings.Replace(s.URL, "127.0.0.1", "handler.test", 1) + "/hook"
	}

	httpsProxy := newTestProxy(t, &proxyCert)
	evilProxy := newTestProxy(t, &byHandlerCA)
	httpProxy := newTestProxy(t, nil)

	ca := []string{"DPT_CA=" + handlerCA.file}
	insecure := []string{"DPT_INSECURE=1"}
	for _, tc := range []struct {
		name    string
		proxy   *testProxy
		url     string
		trusted string   // SSL_CERT_FILE
		env     []string // the child's Config.TLS
		want    string   // in the delivery's error; "" for delivered
		tunnels int32    // CONNECTs or requests the proxy took
	}{
		{"insecure does not skip the proxy's check", httpsProxy, hostURL(handler), otherCA.file, insecure, "proxyconnect tcp: tls: failed to verify certificate: x509: certificate signed by unknown authority", 0},
		{"insecure skips the handler's check only", httpsProxy, hostURL(handler), proxyCA.file, insecure, "", 1},
		{"insecure, http handler", httpsProxy, hostURL(plain), otherCA.file, insecure, "proxyconnect tcp: tls: failed to verify certificate: x509: certificate signed by unknown authority", 0},
		{"handler's CA does not vouch for the proxy", evilProxy, hostURL(handler), otherCA.file, ca, "proxyconnect tcp: tls: failed to verify certificate: x509: certificate signed by unknown authority", 0},
		{"handler's CA besides the system's", httpsProxy, hostURL(handler), proxyCA.file, ca, "", 1},
		{"client certificate for the handler only", httpsProxy, hostURL(mutual), proxyCA.file, append([]string{"DPT_CERT=" + clientFile, "DPT_KEY=" + clientKey}, ca...), "", 1},
		{"http proxy, handler checked", httpProxy, hostURL(handler), otherCA.file, nil, "tls: failed to verify certificate: x509: certificate signed by unknown authority", 1},
		{"http proxy, handler's CA", httpProxy, hostURL(handler), otherCA.file, ca, "", 1},
		{"http proxy, insecure", httpProxy, hostURL(handler), otherCA.file, insecure, "", 1},
		{"loopback is not proxied", httpsProxy, handler.URL + "/hook", otherCA.file, ca, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hits.Store(0)
			tc.proxy.requests.Store(0)
			tc.proxy.clientCerts.Store(0)
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProxyChild$", "-test.count=1")
			for _, kv := range os.Environ() {
				name, _, _ := strings.Cut(kv, "=")
				if !containsFold(proxyEnv, name) {
					cmd.Env = append(cmd.Env, kv)
				}
			}
			// GORACE: a race-enabled child waits a second at exit by default.
			tc.proxy.auth.Store("")
			// With a user and password: net/http sends them through the
			// proxy's own Transport as through any other.
			proxyURL := strings.Replace(tc.proxy.URL, "://", "://u:p@", 1)
			cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0", "DPT_PROXY_CHILD=1", "DPT_URL="+tc.url,
				"HTTPS_PROXY="+proxyURL, "HTTP_PROXY="+proxyURL,
				"SSL_CERT_FILE="+tc.trusted, "SSL_CERT_DIR="+t.TempDir())
			cmd.Env = append(cmd.Env, tc.env...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			_, got, ok := strings.Cut(string(out), "RESULT ")
			if !ok {
				t.Fatalf("child printed no result:\n%s", out)
			}
			got, _, _ = strings.Cut(got, "\n")
			if tc.want == "" && got != "delivered" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("delivery: %s\nwant %q", got, tc.want)
			}
			wantHits := int32(0)
			if tc.want == "" {
				wantHits = 1
			}
			if n := hits.Load(); n != wantHits {
				t.Errorf("handler got %d requests, want %d", n, wantHits)
			}
			if n := tc.proxy.requests.Load(); n != tc.tunnels {
				t.Errorf("proxy took %d requests, want %d", n, tc.tunnels)
			}
			if a := tc.proxy.auth.Load(); tc.tunnels > 0 && a != "Basic dTpw" {
				t.Errorf("proxy got Proxy-Authorization %q, want the user and password", a)
			}
			if n := tc.proxy.clientCerts.Load(); n != 0 {
				t.Errorf("the proxy was shown a client certificate %d times", n)
			}
		})
	}
}

// quietLog is the error log of the test's servers.
var quietLog = log.New(io.Discard, "", 0)

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// TestHelperProxyChild is TestForwardProxyTLS's child: with
// DPT_PROXY_CHILD set, it delivers one event to DPT_URL with the TLS
// configuration listen makes of --forward-ca (DPT_CA), --forward-cert and
// --forward-key (DPT_CERT, DPT_KEY) and --forward-insecure (DPT_INSECURE),
// and prints "RESULT delivered" or "RESULT " and the error.
func TestHelperProxyChild(t *testing.T) {
	if os.Getenv("DPT_PROXY_CHILD") == "" {
		t.Skip("run by TestForwardProxyTLS")
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: os.Getenv("DPT_INSECURE") != ""}
	if file := os.Getenv("DPT_CA"); file != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(file)
		if err != nil || !pool.AppendCertsFromPEM(b) {
			t.Fatalf("%s: %v", file, err)
		}
		cfg.RootCAs = pool
	}
	if cert := os.Getenv("DPT_CERT"); cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, os.Getenv("DPT_KEY"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	f := newForwarder(t, os.Getenv("DPT_URL"), Config{MaxAttempts: 1, TLS: cfg})
	res := f.Deliver(context.Background(), Request{Body: []byte(jsonEvent)})
	if res.Err != nil {
		fmt.Printf("RESULT %v\n", res.Err)
		return
	}
	fmt.Printf("RESULT delivered\n")
}
