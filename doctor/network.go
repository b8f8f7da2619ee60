package doctor

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/forward"
)

// checkWebsocket fetches a websocket_url, dials its host the way the agent
// would (through the proxy, TLS for wss) and compares the local clock with
// the token's iat and exp.
func checkWebsocket(ctx context.Context, cfg Config, listed []dialpad.Websocket) []Check {
	host, clock := Check{Name: "websocket host"}, Check{Name: "clock"}
	id := cfg.WebsocketID
	if id == 0 && len(listed) > 0 {
		id = listed[0].ID
	}
	if id == 0 {
		host.Status, host.Detail = Skip, "no websocket on this account yet"
		host.Fix = "create one with " + cfg.command("setup") + " or " + cfg.command("listen", "--create") + ", then run doctor again"
		clock.Status, clock.Detail = Skip, "needs a websocket URL"
		return []Check{host, clock}
	}
	ws, err := cfg.Client.Websocket(ctx, id)
	if err != nil {
		host.Status, host.Detail = Fail, err.Error()
		host.Fix = "check " + cmp.Or(cfg.WebsocketIDFrom, "--websocket-id") + "; " + cfg.command("websockets", "list") + " lists the ids"
		if cfg.WebsocketID == 0 {
			host.Fix = "the first websocket listed could not be read: pass --websocket-id with the one listen uses"
		}
		clock.Status, clock.Detail = Skip, "needs a websocket URL"
		return []Check{host, clock}
	}
	via, err := Dial(ctx, ws.URL, cfg.Proxy, cfg.Timeout)
	if err != nil {
		host.Status, host.Detail = Fail, dialpad.RedactURL(ws.URL)+": "+err.Error()
		host.Fix = "allow outbound connections to this host on port 443, or set HTTPS_PROXY to a proxy that allows CONNECT to it"
	} else {
		host.Status, host.Detail = OK, dialpad.RedactURL(ws.URL)+" reachable "+via
	}
	return []Check{host, checkClock(cfg, ws.URL)}
}

// checkClock compares the local clock with the iat and exp of the URL's
// token, which Dialpad's clock issued just now.
func checkClock(cfg Config, websocketURL string) Check {
	c := Check{Name: "clock"}
	iat, exp, err := tokenTimes(websocketURL)
	if err != nil {
		c.Status, c.Detail = Warn, err.Error()
		c.Fix = "nothing to do unless rotations misbehave: the agent then rotates every 55 minutes"
		return c
	}
	now := cfg.Now()
	skew := now.Sub(iat)
	switch {
	case skew > cfg.MaxSkew || skew < -cfg.MaxSkew || !exp.After(now):
		c.Status = Fail
		c.Detail = fmt.Sprintf("local clock is %s off Dialpad's (token issued %s, expires %s, local %s)",
			skew.Round(time.Second), iat.UTC().Format(time.RFC3339), exp.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		c.Fix = "synchronise the clock (e.g. `timedatectl set-ntp true`): rotation is scheduled from the token's exp"
	default:
		c.Status, c.Detail = OK, fmt.Sprintf("within %s of Dialpad's; token valid for %s", skew.Abs().Round(time.Millisecond), exp.Sub(now).Round(time.Second))
	}
	return c
}

// tokenTimes reads iat and exp from the token in a websocket URL without
// verifying it. Errors never contain the token.
func tokenTimes(websocketURL string) (iat, exp time.Time, err error) {
	u, err := url.Parse(websocketURL)
	if err != nil {
		return iat, exp, errors.New("websocket_url is not a URL")
	}
	parts := strings.Split(u.Path[strings.LastIndexByte(u.Path, '/')+1:], ".")
	if len(parts) != 3 {
		return iat, exp, errors.New("websocket_url token is not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	var claims struct{ Iat, Exp float64 }
	if err != nil || json.Unmarshal(b, &claims) != nil || claims.Iat <= 0 || claims.Exp <= 0 {
		return iat, exp, errors.New("websocket_url token has no readable iat and exp")
	}
	at := func(s float64) time.Time { return time.UnixMilli(int64(s * 1000)) }
	return at(claims.Iat), at(claims.Exp), nil
}

// Dial opens a TCP connection to the host of a ws:// or wss:// URL, through
// the proxy that proxy picks (HTTP CONNECT), completes a TLS handshake for
// wss, and closes it. It returns how the host was reached, e.g. "directly"
// or "via proxy http://proxy:3128", never with proxy credentials.
func Dial(ctx context.Context, rawURL string, proxy ProxyFunc, timeout time.Duration) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return "", errors.New("not a valid URL")
	}
	secure := u.Scheme == "wss" || u.Scheme == "https"
	port, httpScheme := "80", "http"
	if secure {
		port, httpScheme = "443", "https"
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pu, err := proxy(&http.Request{Method: http.MethodGet, URL: &url.URL{Scheme: httpScheme, Host: u.Host}, Header: http.Header{}})
	if err != nil {
		return "", fmt.Errorf("proxy settings: %w", err)
	}
	var d net.Dialer
	via := "directly"
	var conn net.Conn
	if pu == nil {
		conn, err = d.DialContext(ctx, "tcp", addr)
	} else {
		via = "via proxy " + pu.Scheme + "://" + pu.Host
		conn, err = connect(ctx, &d, pu, addr)
	}
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	if secure {
		tc := tls.Client(conn, &tls.Config{ServerName: u.Hostname()})
		if err := tc.HandshakeContext(ctx); err != nil {
			return "", fmt.Errorf("TLS handshake %s: %w", via, err)
		}
		via += ", TLS ok"
	}
	return via, nil
}

// connect opens a tunnel to addr through the HTTP(S) proxy pu.
func connect(ctx context.Context, d *net.Dialer, pu *url.URL, addr string) (net.Conn, error) {
	paddr := pu.Host
	if pu.Port() == "" {
		paddr = net.JoinHostPort(pu.Hostname(), "80")
		if pu.Scheme == "https" {
			paddr = net.JoinHostPort(pu.Hostname(), "443")
		}
	}
	conn, err := d.DialContext(ctx, "tcp", paddr)
	if err != nil {
		return nil, fmt.Errorf("proxy %s: %w", pu.Host, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	if pu.Scheme == "https" {
		tc := tls.Client(conn, &tls.Config{ServerName: pu.Hostname()})
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("proxy %s: TLS: %w", pu.Host, err)
		}
		conn = tc
	}
	req := &http.Request{Method: http.MethodConnect, URL: &url.URL{Opaque: addr}, Host: addr, Header: http.Header{}}
	if pu.User != nil {
		pass, _ := pu.User.Password()
		req.Header.Set("Proxy-Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(pu.User.Username()+":"+pass)))
	}
	if err := req.Write(conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("proxy %s: %w", pu.Host, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("proxy %s: %w", pu.Host, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		conn.Close()
		return nil, fmt.Errorf("proxy %s refused CONNECT %s: %s", pu.Host, addr, resp.Status)
	}
	return conn, nil
}

// checkForward sends a HEAD request to the handler: any HTTP answer, even
// 405, proves that something listens there. A 404 or 410 is a warning:
// most likely the path is wrong, though a handler that routes only POST
// may answer HEAD so (a doctor POSTs no event to find out).
func checkForward(ctx context.Context, cfg Config) Check {
	c := Check{Name: "forward target"}
	if cfg.ForwardTo == "" {
		c.Status, c.Detail = Skip, "no --forward-to given"
		return c
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, cfg.ForwardTo, nil)
	if err != nil {
		c.Status, c.Detail, c.Fix = Fail, "not a valid URL", "pass --forward-to http://host:port/path"
		return c
	}
	shown := forward.RedactURL(req.URL) // no password, no query: they may hold secrets
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.ForwardTLS != nil {
		tr.TLSClientConfig = cfg.ForwardTLS.Clone()
	}
	// An https proxy's handshake is not the handler's: a Transport would do
	// it with the --forward-* settings (skip its check, show it the client
	// certificate). listen sends through such a proxy so; the check does too.
	tr.Proxy = cfg.Proxy
	if p, err := cfg.Proxy(req); err == nil && p != nil && p.Scheme == "https" {
		tr = forward.ProxyHop(cfg.ForwardTLS, p)
	}
	tr.DisableKeepAlives = true
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		c.Status, c.Detail = Fail, shown+": "+err.Error()
		c.Fix = "start your webhook handler, or fix --forward-to"
		var unknownCA x509.UnknownAuthorityError
		var alert *net.OpError // a TLS alert from the handler is a "remote error"
		var proxy *net.OpError
		switch {
		case errors.As(err, &proxy) && proxy.Op == "proxyconnect":
			c.Fix = "the proxy (HTTPS_PROXY, HTTP_PROXY) cannot be reached, or its certificate is not signed by an authority this system trusts (SSL_CERT_FILE): fix the proxy setting, or set NO_PROXY for the handler's host; --forward-ca and --forward-insecure are for the handler only"
		case errors.As(err, &unknownCA):
			// listen makes each event a dead letter at its first attempt.
			c.Fix = "the handler's certificate is not signed by an authority this system trusts: give listen (and doctor) --forward-ca with its certificate, or its CA's"
		case errors.As(err, &alert) && alert.Op == "remote error" && (cfg.ForwardTLS == nil || len(cfg.ForwardTLS.Certificates) == 0):
			// It is running: it ended the handshake, most likely for want
			// of a client certificate.
			c.Fix = "the handler refused the TLS handshake: if it asks for a client certificate (mutual TLS), give listen (and doctor) --forward-cert and --forward-key"
		case errors.As(err, &alert) && alert.Op == "remote error":
			c.Fix = "the handler refused the TLS handshake: check that it trusts the issuer of --forward-cert's certificate"
		}
		return c
	}
	resp.Body.Close()
	c.Status, c.Detail = OK, fmt.Sprintf("%s answers (HEAD: %s)", shown, resp.Status)
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone {
		c.Status = Warn
		c.Fix = "check the path of --forward-to: events are POSTed there, and an answer of 404 or 410 makes each a dead letter (some handlers answer HEAD so on a path that takes POST: then all is well)"
	}
	return c
}
