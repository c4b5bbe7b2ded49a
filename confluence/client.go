package confluence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jonboulle/clockwork"
)

// Defaults used when the matching Config field is zero.
const (
	DefaultTimeout       = 15 * time.Second
	DefaultMaxRetries    = 3
	DefaultBaseBackoff   = 500 * time.Millisecond
	DefaultMaxRetryAfter = time.Minute
	// DefaultPageSize is what list calls ask for; Confluence caps limit per resource
	// and the client pages correctly with whatever it gets.
	DefaultPageSize = 200
)

// maxResponseBytes bounds how much of a response body is read.
const maxResponseBytes = 8 << 20

// maxBackoff caps one exponential wait between retries.
const maxBackoff = 30 * time.Second

// Config configures a Client; zero fields take the documented defaults.
type Config struct {
	// BaseURL is Confluence's base URL including any context path, e.g.
	// https://wiki.example.com or https://example.com/confluence. User info in it is
	// refused: credentials go in Credential, where they cannot leak into errors.
	BaseURL string
	// Credential is the identity calls are made as, usually BearerToken(service PAT);
	// the zero Credential is anonymous. WithCredential swaps it per call.
	Credential Credential
	HTTPClient *http.Client    // nil → a client with DefaultTimeout
	Clock      clockwork.Clock // nil → the real clock; drives retry waits and Retry-After dates
	Logger     *slog.Logger    // nil → slog.Default()
	Metrics    *Metrics        // nil → no metrics
	// MaxRetries is how many times a read is retried after the first attempt;
	// 0 → DefaultMaxRetries, < 0 → never.
	MaxRetries int
	// BaseBackoff is the first retry wait before jitter; 0 → DefaultBaseBackoff.
	BaseBackoff time.Duration
	// MaxRetryAfter is the longest Retry-After the client waits out; asked to wait
	// longer, it returns the error instead. 0 → DefaultMaxRetryAfter.
	MaxRetryAfter time.Duration
	// PageSize is the limit list calls ask for; 0 → DefaultPageSize.
	PageSize int
}

// Client calls the Confluence Data Center REST API as one Credential. It is safe for
// concurrent use; WithCredential derives clients for other identities.
type Client struct {
	base          string // BaseURL without a trailing slash
	cred          Credential
	http          *http.Client
	clock         clockwork.Clock
	log           *slog.Logger
	metrics       *Metrics
	maxRetries    int
	baseBackoff   time.Duration
	maxRetryAfter time.Duration
	pageSize      int
}

// New returns a Client for cfg, or an error when BaseURL is unusable.
func New(cfg Config) (*Client, error) {
	base, err := parseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	c := &Client{
		base:          base,
		cred:          cfg.Credential,
		http:          cfg.HTTPClient,
		clock:         cfg.Clock,
		log:           cfg.Logger,
		metrics:       cfg.Metrics,
		maxRetries:    cfg.MaxRetries,
		baseBackoff:   cfg.BaseBackoff,
		maxRetryAfter: cfg.MaxRetryAfter,
		pageSize:      cfg.PageSize,
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: DefaultTimeout}
	}
	if c.clock == nil {
		c.clock = clockwork.NewRealClock()
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	switch {
	case c.maxRetries == 0:
		c.maxRetries = DefaultMaxRetries
	case c.maxRetries < 0:
		c.maxRetries = 0
	}
	if c.baseBackoff <= 0 {
		c.baseBackoff = DefaultBaseBackoff
	}
	if c.maxRetryAfter <= 0 {
		c.maxRetryAfter = DefaultMaxRetryAfter
	}
	if c.pageSize <= 0 {
		c.pageSize = DefaultPageSize
	}
	return c, nil
}

func parseBaseURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	switch {
	case err != nil:
		// url.Parse errors quote the input, which may hold a password: say less.
		return "", errors.New("confluence: base URL does not parse")
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("confluence: base URL must start with http:// or https://, not %q", u.Scheme)
	case u.Host == "":
		return "", errors.New("confluence: base URL has no host")
	case u.User != nil:
		return "", errors.New("confluence: base URL must not carry user info; use Config.Credential")
	case u.RawQuery != "" || u.Fragment != "":
		return "", errors.New("confluence: base URL must not have a query or fragment")
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// String describes the client without its credential's secret. Value receivers, so a
// copied Client printed with %v or %+v is covered too.
func (c Client) String() string {
	return fmt.Sprintf("confluence.Client(%s as %s)", c.base, c.cred)
}

// GoString keeps %#v from printing the credential's secret.
func (c Client) GoString() string { return c.String() }

// BaseURL returns Confluence's base URL without a trailing slash.
func (c *Client) BaseURL() string { return c.base }

// Credential returns the identity this client calls as.
func (c *Client) Credential() Credential { return c.cred }

// WithCredential returns a copy of c that calls as cred and shares everything else
// (HTTP client, clock, logger, metrics); c itself is unchanged.
func (c *Client) WithCredential(cred Credential) *Client {
	cp := *c
	cp.cred = cred
	return &cp
}

// get GETs path (below BaseURL, already escaped) with query and decodes the JSON answer
// into out. Reads are idempotent, so get retries transient failures.
func (c *Client) get(ctx context.Context, api, path string, query url.Values, out any) error {
	return c.withRetry(ctx, api, func() error {
		return c.do(ctx, api, http.MethodGet, path, query, out)
	})
}

// withRetry runs op until it succeeds, fails permanently, or the retries are used up.
// backoff/v5 supplies the jittered exponential intervals; the loop stays here so waits
// run on the injected clock and every returned error keeps its context.
func (c *Client) withRetry(ctx context.Context, api string, op func() error) error {
	b := &backoff.ExponentialBackOff{
		InitialInterval:     c.baseBackoff,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         maxBackoff,
	}
	b.Reset()
	for retry := 0; ; retry++ {
		err := op()
		if err == nil || retry >= c.maxRetries || ctx.Err() != nil {
			return err
		}
		wait, ok := c.retryWait(err, b)
		if !ok {
			return err
		}
		c.metrics.retried(api)
		c.log.WarnContext(ctx, "confluence: retrying after transient error",
			slog.String("api", api), slog.Int("retry", retry+1), slog.Duration("wait", wait), slog.Any("error", err))
		t := c.clock.NewTimer(wait)
		select {
		case <-t.Chan():
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("confluence %s: gave up retrying (%w) after: %w", api, ctx.Err(), err)
		}
	}
}

// retryWait says whether err is worth another attempt and how long to wait first.
func (c *Client) retryWait(err error, b backoff.BackOff) (time.Duration, bool) {
	var te *transportError
	if errors.As(err, &te) {
		return b.NextBackOff(), true
	}
	var e *Error
	if !errors.As(err, &e) || !retryableStatus(e.Status) {
		return 0, false
	}
	if e.RetryAfter > 0 {
		// Asked to stay away for longer than we are willing to hold the caller: give the
		// caller the error (with RetryAfter) rather than hammering Confluence early.
		return e.RetryAfter, e.RetryAfter <= c.maxRetryAfter
	}
	return b.NextBackOff(), true
}

// retryableStatus: throttling, and the unavailable/gateway answers of Confluence or a
// reverse proxy in front of it during a restart.
func retryableStatus(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// transportError is a failure below HTTP: connect, TLS, timeout, a dropped connection.
type transportError struct {
	api, method, path string
	err               error
}

func (e *transportError) Error() string {
	return fmt.Sprintf("confluence %s: %s %s: %v", e.api, e.method, e.path, e.err)
}
func (e *transportError) Unwrap() error { return e.err }

// do makes one HTTP request and decodes a 2xx JSON answer into out.
func (c *Client) do(ctx context.Context, api, method, path string, query url.Values, out any) error {
	target := c.base + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, target, nil)
	if err != nil {
		return fmt.Errorf("confluence %s: build request: %w", api, err)
	}
	req.Header.Set("Accept", "application/json")
	// Confluence refuses state-changing requests without it ("XSRF check failed").
	req.Header.Set("X-Atlassian-Token", "no-check")
	c.cred.apply(req.Header)

	countCall(ctx)
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.metrics.observeCall(api, classError, time.Since(start))
		// *url.Error repeats the whole URL; keep only what went wrong.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = fmt.Errorf("%s request: %w", uerr.Op, uerr.Err)
		}
		return &transportError{api: api, method: method, path: path, err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		c.metrics.observeCall(api, classError, time.Since(start))
		return &transportError{api: api, method: method, path: path, err: fmt.Errorf("read response: %w", err)}
	}
	c.metrics.observeCall(api, statusClass(resp.StatusCode), time.Since(start))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return c.httpError(api, method, path, resp, raw)
	}
	if out == nil {
		return nil
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		// A login page or a proxy's error page answered instead of the API.
		return fmt.Errorf("confluence %s: %s %s: answer is %q, not JSON", api, method, path, mt)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("confluence %s: %s %s: decode answer: %w", api, method, path, err)
	}
	return nil
}

func (c *Client) httpError(api, method, path string, resp *http.Response, raw []byte) *Error {
	e := &Error{
		API:     api,
		Status:  resp.StatusCode,
		Method:  method,
		Path:    path,
		Message: errorMessage(resp.Header, c.cred.scrub(string(raw))),
	}
	if retryableStatus(resp.StatusCode) {
		e.RetryAfter = c.parseRetryAfter(resp.Header.Get("Retry-After"))
	}
	return e
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent or unreadable.
func (c *Client) parseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		return max(0, time.Duration(n)*time.Second)
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, t.Sub(c.clock.Now()))
	}
	return 0
}
