// Package dialpadtest is an in-process fake Dialpad server in the style of
// net/http/httptest. It serves the REST resources the tunnel uses
// (websockets, webhooks, event subscriptions under /api/v2), the websocket
// event endpoint (/events/<token>) and delivers published events to
// websocket connections and webhooks the way Dialpad does
// (shared/dialpad/API.md). Tests steer it with methods such as
// FailNextREST, RefuseNextHandshakes and DropConnections, and Generator
// builds realistic events from the embedded sample payloads.
//
// Typical use:
//
//	s, err := dialpadtest.NewServer(dialpadtest.Config{TokenTTL: time.Second})
//	...
//	defer s.Close()
//	ws := s.AddWebsocket("secret")
//	_, _ = s.AddSubscription("call", ws, dialpadtest.SubscriptionOptions{})
//	// point the code under test at s.URL() with s.APIKey(), then:
//	_ = s.WaitConnections(ctx, 1)
//	for _, ev := range dialpadtest.NewGenerator(1).CallLifecycle() {
//		s.Publish("call", ev)
//	}
package dialpadtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Config configures a Server. The zero value is usable.
type Config struct {
	// Addr is the listen address; "" means 127.0.0.1:0.
	Addr string
	// APIKey is the one accepted API key; "" means a random "dptest_<hex>" key.
	APIKey string
	// TokenTTL is the lifetime of a websocket_url token and so of the
	// connections made with it; 0 means 1h.
	TokenTTL time.Duration
	// ClockOffset sets the fake's clock this far ahead of the host's
	// (negative: behind), for the times in its tokens (iat, exp), as when
	// the client's clock is off; connections still close after TokenTTL.
	ClockOffset time.Duration
	// PageSize is the number of items per list page; 0 means 50.
	PageSize int
	// MaxRESTCalls is how many REST requests RESTCalls keeps, the latest:
	// an emulator left running for weeks keeps no more; 0 means 10,000.
	MaxRESTCalls int
	// CloseCode is the close code sent when a connection's token lifetime
	// ends; 0 means 1000 (websocket.CloseNormalClosure).
	CloseCode int
	// WebhookContentTypeJWT is the Content-Type of webhook POSTs carrying a
	// JWT; "" means "application/jwt".
	WebhookContentTypeJWT string
	// JWTIssuedAt adds an "iat" claim to JWT frames, set to the time each
	// connection opened, so that one event has different bytes on two
	// connections (Dialpad may do this; API.md Q3).
	JWTIssuedAt bool
	// WriteTimeout is how long writing an event to a connection may block
	// (a client that does not read fills the socket) before the fake gives
	// up and drops the connection, as a server would; 0 means 5s.
	WriteTimeout time.Duration
	// Logger receives debug and info lines; nil means discard. Secrets, the
	// API key and tokens are never logged.
	Logger *slog.Logger
}

// WebhookTimeout bounds one webhook POST. Publish and the control
// endpoints POST to each webhook in turn, so an answer may take that long
// per event and webhook.
const WebhookTimeout = 5 * time.Second

const (
	// writeWait bounds every write to a websocket connection.
	writeWait = 5 * time.Second
	// closeGrace is how long the server waits for the client's close frame
	// after sending its own before it closes the TCP connection.
	closeGrace = time.Second
	// webhookTimeout bounds one webhook POST.
	webhookTimeout = WebhookTimeout
	// shutdownWait bounds how long Close waits for in-flight HTTP handlers.
	shutdownWait = 5 * time.Second
	// firstID is the first id issued to a websocket, webhook or subscription.
	firstID = 1000
)

// RESTCall is one logged REST request (paths under /api/v2).
type RESTCall struct {
	Method string
	Path   string // URL path without the query
	Status int
}

// Server is a running fake Dialpad. Create it with NewServer and stop it
// with Close. All methods are safe for concurrent use.
type Server struct {
	cfg      Config
	log      *slog.Logger
	ln       net.Listener
	hs       *http.Server
	url      string
	tokenKey []byte
	upgrader websocket.Upgrader
	hookTr   *http.Transport
	hooks    *http.Client
	served   chan struct{} // closed when the http.Server's Serve returned

	genMu sync.Mutex
	gen   *Generator // the control endpoints' generator; guarded by genMu

	wg sync.WaitGroup // connection readers, expiry watchers and Publish calls

	mu         sync.Mutex // guards everything below; never held across I/O
	closed     bool
	nextID     int64
	websockets map[int64]*websocketEP
	webhooks   map[int64]*webhookEP
	subs       map[int64]*subscription
	open       map[*conn]struct{}
	changed    chan struct{} // closed and replaced whenever open, handshakes or pings change
	handshakes int
	pings      int
	refuseN    int
	refuseCode int
	failN      int
	failCode   int
	failRetry  time.Duration
	noPong     bool
	calls      []RESTCall
	holds      []*hold // HoldNextAnswer's, taken or not
}

// NewServer validates cfg, fills its defaults, starts listening and serves
// at once. The serving goroutine stops in Close.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.APIKey == "" {
		cfg.APIKey = "dptest_" + randomHex(16)
	}
	if cfg.TokenTTL == 0 {
		cfg.TokenTTL = time.Hour
	}
	if cfg.MaxRESTCalls <= 0 {
		cfg.MaxRESTCalls = 10_000
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = 50
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = writeWait
	}
	if cfg.CloseCode == 0 {
		cfg.CloseCode = websocket.CloseNormalClosure
	}
	if cfg.WebhookContentTypeJWT == "" {
		cfg.WebhookContentTypeJWT = "application/jwt"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	switch {
	case cfg.TokenTTL < 0:
		return nil, fmt.Errorf("dialpadtest: negative TokenTTL %v", cfg.TokenTTL)
	case cfg.PageSize < 0:
		return nil, fmt.Errorf("dialpadtest: negative PageSize %d", cfg.PageSize)
	case cfg.CloseCode < 1000 || cfg.CloseCode > 4999:
		return nil, fmt.Errorf("dialpadtest: invalid CloseCode %d", cfg.CloseCode)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("dialpadtest: listen: %w", err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		ln:       ln,
		url:      "http://" + ln.Addr().String(),
		tokenKey: key,
		upgrader: websocket.Upgrader{
			HandshakeTimeout: writeWait,
			CheckOrigin:      func(*http.Request) bool { return true },
		},
		hookTr: tr,
		hooks: &http.Client{
			Transport:     tr,
			Timeout:       webhookTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		served:     make(chan struct{}),
		gen:        NewGenerator(time.Now().UnixNano()),
		nextID:     firstID,
		websockets: make(map[int64]*websocketEP),
		webhooks:   make(map[int64]*webhookEP),
		subs:       make(map[int64]*subscription),
		open:       make(map[*conn]struct{}),
		changed:    make(chan struct{}),
	}
	s.hs = &http.Server{Handler: http.HandlerFunc(s.serveHTTP), ReadHeaderTimeout: writeWait}
	go func() { // owns the listener; stops when Close shuts s.hs down
		defer close(s.served)
		_ = s.hs.Serve(ln)
	}()
	s.log.Info("dialpadtest: serving", "url", s.url)
	return s, nil
}

// URL returns the API base, e.g. "http://127.0.0.1:38123"; REST paths are
// /api/v2/... below it.
func (s *Server) URL() string { return s.url }

// APIKey returns the one API key the server accepts.
func (s *Server) APIKey() string { return s.cfg.APIKey }

// Close sends a going-away close frame to and closes every websocket
// connection, stops the listener, waits for in-flight requests and for all
// goroutines the server started.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	open := s.openConns()
	s.mu.Unlock()
	s.releaseHolds()
	for _, c := range open {
		c.sendClose(websocket.CloseGoingAway, "server closing")
		c.ws.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
	defer cancel()
	if err := s.hs.Shutdown(ctx); err != nil {
		s.hs.Close()
	}
	<-s.served
	s.wg.Wait()
	s.hookTr.CloseIdleConnections()
}

// serveHTTP routes every request the server receives.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	switch p := r.URL.Path; {
	case strings.HasPrefix(p, "/events/"):
		s.serveEvents(w, r, strings.TrimPrefix(p, "/events/"))
	case strings.HasPrefix(p, "/dialpadtest/"):
		if !s.authorized(r) {
			writeError(w, http.StatusUnauthorized, "invalid or missing API key")
			return
		}
		s.serveControl(w, r, strings.TrimPrefix(p, "/dialpadtest/"))
	case strings.HasPrefix(p, "/api/v2/"):
		s.serveREST(&callRecorder{ResponseWriter: w, s: s, method: r.Method, path: p, ctx: r.Context(), hold: s.takeHold(r.Method, p)}, r,
			strings.TrimPrefix(p, "/api/v2/"))
	default:
		writeError(w, http.StatusNotFound, "not found")
	}
}

// errNotFound is returned by store methods for unknown ids.
var errNotFound = errors.New("not found")

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
