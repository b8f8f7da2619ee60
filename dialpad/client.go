// Package dialpad is the REST client for Dialpad's websocket endpoints, event
// subscriptions and webhooks (API v2). It authenticates with a bearer key,
// follows list cursors, retries idempotent requests with jittered backoff
// and reports HTTP failures as *APIError. Neither the key nor the token inside
// a websocket_url ever reaches an error string or a log line.
package dialpad

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/dialpad-tunnel/dialpad-tunnel/retryafter"
)

// Base URLs of the Dialpad API; paths below them start with /api/v2.
const (
	ProductionBase = "https://dialpad.com"
	SandboxBase    = "https://sandbox.dialpad.com"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultUserAgent    = "dialpad-tunnel"
	DefaultTimeout      = 15 * time.Second
	DefaultMaxRetries   = 4
	DefaultRetryWaitMin = 500 * time.Millisecond
	DefaultRetryWaitMax = 30 * time.Second
)

// maxBodySize bounds every response body this client reads.
const maxBodySize = 4 << 20

// apiPrefix is prepended to every resource path.
const apiPrefix = "/api/v2"

// Config configures a Client. BaseURL and APIKey are required; New fills the
// other zero fields with the defaults above.
type Config struct {
	// BaseURL is the scheme and host, e.g. ProductionBase or
	// http://127.0.0.1:PORT, without /api/v2.
	BaseURL string
	// APIKey is sent as "Authorization: Bearer <key>". It is never logged
	// and never appears in an error.
	APIKey string
	// UserAgent is sent on every request. Default DefaultUserAgent.
	UserAgent string
	// Timeout bounds each request attempt, reading the body included.
	Timeout time.Duration
	// MaxRetries is how many times a GET, PATCH or DELETE is retried after a
	// transport error, a 429 or a 5xx. A negative value disables retries.
	// POSTs create objects and are never retried.
	MaxRetries int
	// RetryWaitMin and RetryWaitMax bound the jittered exponential backoff
	// between retries. A Retry-After header (seconds or HTTP date) that asks
	// for longer wins, capped at RetryWaitMax. RetryWaitMin must not exceed
	// RetryWaitMax.
	RetryWaitMin, RetryWaitMax time.Duration
	// Transport carries the requests. Default: a clone of
	// http.DefaultTransport, which honours the proxy environment variables.
	Transport http.RoundTripper
	// Logger receives a debug line per retry. Default: discard.
	Logger *slog.Logger
}

// Client calls the Dialpad REST API. It is safe for concurrent use.
type Client struct {
	base   string // scheme://host[/prefix], no trailing slash
	apiKey string
	cfg    Config
	http   *http.Client
	log    *slog.Logger
}

// New validates cfg and returns a Client using a copy of it with defaults
// filled in.
func New(cfg Config) (*Client, error) {
	if strings.TrimSpace(cfg.APIKey) == "" {
		return nil, errors.New("dialpad: config: APIKey is required")
	}
	if strings.ContainsAny(cfg.APIKey, "\r\n") {
		return nil, errors.New("dialpad: config: APIKey contains a line break")
	}
	base, err := parseBase(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultUserAgent
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = DefaultMaxRetries
	}
	if cfg.MaxRetries < 0 {
		cfg.MaxRetries = 0
	}
	if cfg.RetryWaitMin <= 0 {
		cfg.RetryWaitMin = DefaultRetryWaitMin
	}
	if cfg.RetryWaitMax <= 0 {
		cfg.RetryWaitMax = max(DefaultRetryWaitMax, cfg.RetryWaitMin)
	}
	if cfg.RetryWaitMin > cfg.RetryWaitMax {
		return nil, fmt.Errorf("dialpad: config: RetryWaitMin %s exceeds RetryWaitMax %s", cfg.RetryWaitMin, cfg.RetryWaitMax)
	}
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Client{
		base:   base,
		apiKey: cfg.APIKey,
		cfg:    cfg,
		http:   &http.Client{Transport: cfg.Transport, Timeout: cfg.Timeout, CheckRedirect: sameOrigin},
		log:    cfg.Logger,
	}, nil
}

// maxRedirects is the most redirects one request follows, as net/http.
const maxRedirects = 10

// errOtherOrigin is the error of a redirect to another scheme, host or
// port: net/http would send it the Authorization header (it compares host
// names only, so http:// and another port keep it, as do subdomains).
var errOtherOrigin = errors.New("redirected to another origin (scheme, host or port); not followed, so that the API key stays with the API")

// sameOrigin is the client's CheckRedirect: it follows a redirect only
// to the scheme, host and port of the first request.
func sameOrigin(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	if origin(req.URL) != origin(via[0].URL) {
		return errOtherOrigin
	}
	return nil
}

// origin is u's scheme, host and port, the port given even when u leaves
// it out (https://h and https://h:443 are one origin).
func origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
	}
	return strings.ToLower(u.Scheme) + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// CanonicalBase is the API base raw names, as the Client uses it: without
// a trailing slash or /api/v2 suffix, scheme and host in lower case
// ("https://Dialpad.com/api/v2/" is "https://dialpad.com"), so that files
// that record an API (setup's state, migrate's record) match it however
// it was written. A base New would refuse is returned as it is.
func CanonicalBase(raw string) string {
	base, err := parseBase(raw)
	if err != nil {
		return raw
	}
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	u.Host = strings.ToLower(u.Host)
	return u.String()
}

// parseBase checks a base URL and returns it without a trailing slash or
// /api/v2 suffix. The error never echoes the URL, which may hold credentials.
func parseBase(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("dialpad: config: BaseURL is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("dialpad: config: BaseURL is not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", errors.New("dialpad: config: BaseURL must start with http:// or https://")
	}
	if u.Host == "" {
		return "", errors.New("dialpad: config: BaseURL has no host")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("dialpad: config: BaseURL must not contain credentials, a query or a fragment")
	}
	p := strings.TrimSuffix(u.Path, "/")
	p = strings.TrimSuffix(p, apiPrefix)
	return u.Scheme + "://" + u.Host + p, nil
}

// do sends one API request and decodes a 2xx JSON response into out (when
// out is non-nil). in, when non-nil, is sent as the JSON body. POSTs get a
// single attempt; other methods are retried as Config describes.
func (c *Client) do(ctx context.Context, op, method, path string, query url.Values, in, out any) error {
	target := c.base + apiPrefix + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	var body any // stays an untyped nil for requests without a body
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return errf(op, fmt.Errorf("encode request: %w", err))
		}
		body = b
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return errf(op, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.apiKey)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	resp, err := c.retrier(op, method).Do(req)
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		return errf(op, err)
	}
	defer func() {
		io.CopyN(io.Discard, resp.Body, 4<<10) // let the connection be reused
		resp.Body.Close()
	}()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return newAPIError(op, resp, b, c.apiKey)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBodySize+1))
	if err != nil {
		return errf(op, fmt.Errorf("read response: %w", err))
	}
	if len(b) > maxBodySize {
		return errf(op, fmt.Errorf("response body exceeds %d bytes", maxBodySize))
	}
	if out == nil {
		return nil
	}
	if len(bytes.TrimSpace(b)) == 0 {
		if method == http.MethodDelete || resp.StatusCode == http.StatusNoContent {
			return nil // nothing to decode; the caller fills in what it knows
		}
		return errf(op, fmt.Errorf("%d response has an empty body", resp.StatusCode))
	}
	if err := json.Unmarshal(b, out); err != nil {
		return errf(op, fmt.Errorf("decode response: %w", err))
	}
	return nil
}

// retrier returns the retryablehttp client for one call. Creating POSTs get
// no retries, so a lost response can never create a duplicate object.
func (c *Client) retrier(op, method string) *retryablehttp.Client {
	retries := c.cfg.MaxRetries
	if method == http.MethodPost {
		retries = 0
	}
	// failed is the transport error of the attempt Backoff follows: one
	// call's attempts run in turn, CheckRetry then Backoff.
	var failed error
	return &retryablehttp.Client{
		HTTPClient:   c.http,
		RetryWaitMin: c.cfg.RetryWaitMin,
		RetryWaitMax: c.cfg.RetryWaitMax,
		RetryMax:     retries,
		CheckRetry: func(ctx context.Context, resp *http.Response, err error) (bool, error) {
			failed = err
			if errors.Is(err, errOtherOrigin) {
				return false, nil // it would be redirected again
			}
			return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
		},
		Backoff: func(lo, hi time.Duration, attempt int, resp *http.Response) time.Duration {
			wait := backoff(lo, hi, attempt, resp, time.Now())
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			// The wait before this retry, the client's own (its attempt
			// after the last retry failing ends the call): shown to the
			// millisecond, as the agent's retry_in is.
			attrs := []any{"op", op, "retry", attempt + 1, "of", c.cfg.MaxRetries, "status", status, "wait", wait.Round(time.Millisecond).String()}
			if failed != nil {
				attrs = append(attrs, "error", retryReason(failed, c.apiKey))
			}
			c.log.Warn("dialpad: API request failed; retrying", attrs...)
			return wait
		},
		// Hand back the last response so a 429/5xx that outlived the
		// retries becomes an *APIError with its body and Retry-After.
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
}

// retryReason is why an attempt failed without a response, for a log
// line: the transport's error without the request's URL (whose query may
// carry a cursor or token), and never the API key.
func retryReason(err error, apiKey string) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return redactKey(err.Error(), apiKey, "xxxxx")
}

// backoff returns the wait before retry attempt+1: drawn uniformly from
// [lo, min(lo*2^(attempt+1), hi)], or a Retry-After header's delay when
// that is longer, capped at hi. (A Retry-After of 0, or a date past, does
// not make an API that is refusing calls get the next one at once.)
func backoff(lo, hi time.Duration, attempt int, resp *http.Response, now time.Time) time.Duration {
	ceiling := lo
	for i := 0; i <= attempt && ceiling < hi; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, hi)
	wait := lo
	if ceiling > lo {
		wait = lo + rand.N(ceiling-lo+1)
	}
	if resp != nil {
		if d, ok := retryafter.Parse(resp.Header.Get("Retry-After"), now); ok {
			wait = min(max(d, wait), hi)
		}
	}
	return wait
}
