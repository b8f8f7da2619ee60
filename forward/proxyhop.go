package forward

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/url"
	"time"
)

// An https proxy (HTTPS_PROXY=https://…) is a hop of its own. net/http's
// Transport does the proxy's handshake with TLSClientConfig, the
// handler's: --forward-insecure would not check the proxy's certificate,
// --forward-ca's authority would vouch for it, and --forward-cert's
// certificate would be shown to it. So a request through an https proxy
// goes to a Transport of that proxy's own, which sees an http proxy at
// the proxy's address and whose every connection, being to the proxy, is
// dialled here with the system's TLS defaults. Only the handler's
// handshake, inside the proxy's tunnel, uses Config.TLS.

// proxyHop returns the Transport of the requests through the https proxy
// p, made on first use and kept for the transport's life.
func (t *transport) proxyHop(p *url.URL) *http.Transport {
	key := p.String()
	t.mu.Lock()
	defer t.mu.Unlock()
	if h := t.hops[key]; h != nil {
		return h
	}
	h := newProxyHop(t.maxIdle, t.tls, p)
	t.hops[key] = h
	return h
}

// newProxyHop returns a Transport that sends every request through the
// https proxy p, with handlerTLS for an https handler only.
func newProxyHop(conns int, handlerTLS *tls.Config, p *url.URL) *http.Transport {
	hop := *p
	hop.Scheme = "http" // the TLS is dialTLS's
	port := p.Port()
	if port == "" {
		port = "443"
	}
	hop.Host = net.JoinHostPort(p.Hostname(), port)
	h := newTransport(conns, handlerTLS)
	h.Proxy = http.ProxyURL(&hop)
	nd := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	// addr is always the proxy's: the only dial a Transport with a proxy
	// makes. The system's authorities check it; no client certificate.
	h.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		d := &tls.Dialer{NetDialer: nd, Config: &tls.Config{ServerName: host, NextProtos: []string{"http/1.1"}}}
		return d.DialContext(ctx, network, addr)
	}
	return h
}

// ProxyHop returns a Transport for requests to a handler through the https
// proxy p, as listen sends them: the proxy checked with the system's TLS
// defaults, handlerTLS (which may be nil) for an https handler only. For
// doctor's check of the handler, which makes one request of its own.
func ProxyHop(handlerTLS *tls.Config, p *url.URL) *http.Transport {
	return newProxyHop(1, handlerTLS, p)
}

// errProxyChanged is the fallback's error for a request whose proxy has
// turned into an https one since RoundTrip chose the fallback.
var errProxyChanged = errors.New("forward: the proxy changed to an https one while the request was sent")

// plainProxy is the fallback's proxy: the transport's, but never an https
// one, which must go through proxyHop (the fallback would do its
// handshake with the handler's TLS configuration).
func (t *transport) plainProxy(req *http.Request) (*url.URL, error) {
	p, err := t.proxy(req)
	if err == nil && p != nil && p.Scheme == "https" {
		return nil, errProxyChanged
	}
	return p, err
}
