package doctor

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestForwardCheckProxyTLS: the check of the handler goes through an https
// proxy as listen's POSTs do: --forward-insecure (ForwardTLS) skips the
// handler's certificate check only, not the proxy's. The check did the
// proxy's handshake with ForwardTLS, so it passed through a proxy whose
// certificate nothing vouches for, and blamed the handler's certificate.
func TestForwardCheckProxyTLS(t *testing.T) {
	handler := httptest.NewTLSServer(http.NotFoundHandler())
	defer handler.Close()
	proxy := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		up, err := net.Dial("tcp", r.Host)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer up.Close()
		down, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer down.Close()
		io.WriteString(down, "HTTP/1.1 200 Connection established\r\n\r\n")
		go io.Copy(up, down)
		io.Copy(down, up)
	}))
	proxy.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point
	proxy.StartTLS()
	defer proxy.Close()
	proxied := func(*http.Request) (*url.URL, error) { return url.Parse(proxy.URL) }

	cfg := Config{ForwardTo: handler.URL + "/hook", ForwardTLS: &tls.Config{InsecureSkipVerify: true}, Proxy: proxied, Timeout: 10 * time.Second}
	c := checkForward(context.Background(), cfg)
	if c.Status != Fail || !strings.Contains(c.Detail, "proxyconnect") || !strings.Contains(c.Fix, "the proxy") {
		t.Errorf("through a proxy nothing vouches for, with --forward-insecure: %s %q, fix %q; want a failure at the proxy", c.Status, c.Detail, c.Fix)
	}

	// Without a proxy, --forward-insecure still skips the handler's check.
	cfg.Proxy = func(*http.Request) (*url.URL, error) { return nil, nil }
	if c := checkForward(context.Background(), cfg); c.Status != Warn || !strings.Contains(c.Detail, "404") {
		t.Errorf("direct, with --forward-insecure: %s %q; want the handler's 404", c.Status, c.Detail)
	}
}
