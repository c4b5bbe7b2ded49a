// Package dingtalk is a typed client for the legacy DingTalk open API (oapi.dingtalk.com):
// access tokens, work notifications and the contacts calls dingfluence needs.
//
// Every call waits on a per-API rate limiter, refreshes a rejected token once, and opens a
// circuit for five minutes when DingTalk bans the egress IP. Each API has a retry policy:
// the reads are idempotent and retry throttling and transport failures with jittered
// exponential backoff; a work notification is not, so it is retried only when it
// provably did not reach DingTalk or DingTalk said it did not take it (throttled, busy,
// token rejected). A send whose outcome is unknown comes back as *OutcomeUnknownError
// and is never repeated by the client.
//
// All waiting (rate limiter, backoff, the per-attempt timeout) and all time-keeping
// (token expiry, the ban circuit) go through one clockwork.Clock, so tests drive them
// with a fake clock.
package dingtalk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jonboulle/clockwork"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"
)

// Defaults used when the matching Config field is zero.
const (
	DefaultQPS         = 18 // DingTalk allows 20 calls/s per app per API; stay a little under.
	DefaultMaxRetries  = 4
	DefaultBaseBackoff = 500 * time.Millisecond
	DefaultTimeout     = 15 * time.Second
)

// banDuration is how long DingTalk bans an egress IP that exceeded 10,000 calls per 20 s.
const banDuration = 5 * time.Minute

// errAttemptTimeout is the cause of an attempt cancelled after Config.Timeout.
var errAttemptTimeout = errors.New("attempt timed out")

// maxResponseBytes bounds how much of a response body is read.
const maxResponseBytes = 8 << 20

// Short API names, used in errors, logs and metric labels.
const (
	apiToken            = "gettoken"
	apiSendMessage      = "message.asyncsend_v2"
	apiListSubDepts     = "department.listsub"
	apiGetDepartment    = "department.get"
	apiListUserIDs      = "user.listid"
	apiGetUser          = "user.get"
	apiListUsers        = "user.list"
	apiGetUserByMobile  = "user.getbymobile"
	defaultDingTalkHost = "https://oapi.dingtalk.com"
)

// Endpoints are the full URLs of the DingTalk APIs the client calls.
type Endpoints struct {
	Token              string
	SendMessage        string
	ListSubDepartments string
	GetDepartment      string
	ListUserIDs        string
	GetUser            string
	ListUsers          string
	GetUserByMobile    string
}

// DefaultEndpoints returns the production oapi.dingtalk.com URLs.
func DefaultEndpoints() Endpoints {
	return EndpointsAt(defaultDingTalkHost)
}

// EndpointsAt returns the standard API paths under base (scheme and host, no trailing slash).
func EndpointsAt(base string) Endpoints {
	return Endpoints{
		Token:              base + "/gettoken",
		SendMessage:        base + "/topapi/message/corpconversation/asyncsend_v2",
		ListSubDepartments: base + "/topapi/v2/department/listsub",
		GetDepartment:      base + "/topapi/v2/department/get",
		ListUserIDs:        base + "/topapi/user/listid",
		GetUser:            base + "/topapi/v2/user/get",
		ListUsers:          base + "/topapi/v2/user/list",
		GetUserByMobile:    base + "/topapi/v2/user/getbymobile",
	}
}

// Config configures a Client; zero fields take the documented defaults.
type Config struct {
	AppKey, AppSecret string
	AgentID           int64
	Endpoints         Endpoints    // empty fields fall back to DefaultEndpoints
	HTTPClient        *http.Client // nil → a plain client; Timeout bounds each attempt
	// QPS is the per-API client-side limit; 0 → DefaultQPS, < 0 → no limit (when
	// something else paces the calls).
	QPS float64
	// Clock drives the rate limiter, backoff, the per-attempt timeout, token expiry and
	// the ban circuit; nil → the real clock.
	Clock clockwork.Clock
	// Timeout bounds one HTTP attempt, on Clock; 0 → DefaultTimeout, < 0 → only the
	// caller's context bounds it.
	Timeout     time.Duration
	Logger      *slog.Logger  // nil → slog.Default()
	Metrics     *Metrics      // nil → no metrics
	MaxRetries  int           // retries after the first attempt; 0 → DefaultMaxRetries, < 0 → none
	BaseBackoff time.Duration // first retry wait before jitter; 0 → DefaultBaseBackoff
}

// Client calls the DingTalk API for one app. It is safe for concurrent use.
type Client struct {
	cfg     Config
	apis    map[string]endpoint // fixed in New, only read afterwards
	http    *http.Client
	clock   clockwork.Clock
	log     *slog.Logger
	metrics *Metrics

	mu          sync.Mutex // guards token, refreshAt and bannedUntil
	token       string
	refreshAt   time.Time
	bannedUntil time.Time

	tokenFlight singleflight.Group
	calls       atomic.Int64
}

type endpoint struct {
	name    string
	url     string
	limiter *rate.Limiter
	// idempotent says a repeat does no harm, so any failed attempt may be retried. A
	// call that is not (the send) is retried only when it provably was not taken.
	idempotent bool
}

// New returns a Client for cfg.
func New(cfg Config) *Client {
	if cfg.HTTPClient == nil {
		// No Timeout of its own: that would run on the real clock. Timeout below bounds
		// each attempt on cfg.Clock instead.
		cfg.HTTPClient = &http.Client{}
	}
	limit := rate.Limit(cfg.QPS)
	switch {
	case cfg.QPS == 0:
		limit = DefaultQPS
	case cfg.QPS < 0:
		limit = rate.Inf
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	switch {
	case cfg.MaxRetries == 0:
		cfg.MaxRetries = DefaultMaxRetries
	case cfg.MaxRetries < 0:
		cfg.MaxRetries = 0
	}
	if cfg.BaseBackoff <= 0 {
		cfg.BaseBackoff = DefaultBaseBackoff
	}
	def := DefaultEndpoints()
	urls := map[string]struct{ configured, fallback string }{
		apiToken:           {cfg.Endpoints.Token, def.Token},
		apiSendMessage:     {cfg.Endpoints.SendMessage, def.SendMessage},
		apiListSubDepts:    {cfg.Endpoints.ListSubDepartments, def.ListSubDepartments},
		apiGetDepartment:   {cfg.Endpoints.GetDepartment, def.GetDepartment},
		apiListUserIDs:     {cfg.Endpoints.ListUserIDs, def.ListUserIDs},
		apiGetUser:         {cfg.Endpoints.GetUser, def.GetUser},
		apiListUsers:       {cfg.Endpoints.ListUsers, def.ListUsers},
		apiGetUserByMobile: {cfg.Endpoints.GetUserByMobile, def.GetUserByMobile},
	}
	apis := make(map[string]endpoint, len(urls))
	for name, u := range urls {
		if u.configured == "" {
			u.configured = u.fallback
		}
		// DingTalk limits each API separately, so each gets its own bucket; burst 1 keeps
		// concurrent callers from landing a second's worth of calls at once.
		apis[name] = endpoint{
			name: name, url: u.configured, limiter: rate.NewLimiter(limit, 1),
			idempotent: name != apiSendMessage,
		}
	}
	return &Client{
		cfg:     cfg,
		apis:    apis,
		http:    cfg.HTTPClient,
		clock:   cfg.Clock,
		log:     cfg.Logger,
		metrics: cfg.Metrics,
	}
}

// Calls returns how many HTTP requests this client has made, token requests included.
func (c *Client) Calls() int64 {
	return c.calls.Load()
}

// Token returns a valid access token, fetching one when the cached one is due for refresh.
// Concurrent callers share a single fetch.
func (c *Client) Token(ctx context.Context) (string, error) {
	if tok, ok := c.cachedToken(); ok {
		return tok, nil
	}
	ch := c.tokenFlight.DoChan("token", func() (any, error) {
		// Detached so that one caller giving up does not fail the others sharing this fetch;
		// the HTTP client timeout and the retry limit still bound it.
		return c.refreshToken(context.WithoutCancel(ctx))
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return "", r.Err
		}
		return r.Val.(string), nil
	case <-ctx.Done():
		return "", fmt.Errorf("dingtalk: waiting for access token: %w", ctx.Err())
	}
}

// refreshToken fetches a token unless one is cached: a caller that missed the cache may
// start its flight just after the previous flight filled it.
func (c *Client) refreshToken(ctx context.Context) (string, error) {
	if tok, ok := c.cachedToken(); ok {
		return tok, nil
	}
	return c.fetchToken(ctx)
}

func (c *Client) cachedToken() (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token, c.token != "" && c.clock.Now().Before(c.refreshAt)
}

// dropToken forgets tok unless another caller has already replaced it.
func (c *Client) dropToken(tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == tok {
		c.token = ""
	}
}

func (c *Client) fetchToken(ctx context.Context) (string, error) {
	ep := c.apis[apiToken]
	query := url.Values{"appkey": {c.cfg.AppKey}, "appsecret": {c.cfg.AppSecret}}
	var out struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	// Taken before the request so the expiry errs on the early side.
	issuedAt := c.clock.Now()
	err := c.withRetry(ctx, ep.name, func() error {
		return c.do(ctx, ep, http.MethodGet, query, nil, &out)
	})
	if err != nil {
		return "", err
	}
	if out.AccessToken == "" || out.ExpiresIn <= 0 {
		return "", fmt.Errorf("dingtalk %s: answer without access_token or expires_in", ep.name)
	}
	ttl := time.Duration(out.ExpiresIn) * time.Second
	// Refresh early so a token never expires in flight: 10 minutes as DingTalk advises,
	// or a tenth of the lifetime for short-lived tokens.
	refreshAt := issuedAt.Add(ttl - min(10*time.Minute, ttl/10))

	c.mu.Lock()
	c.token, c.refreshAt = out.AccessToken, refreshAt
	c.mu.Unlock()
	c.metrics.tokenFetched()
	c.log.InfoContext(ctx, "dingtalk: fetched access token", slog.Int64("expires_in", out.ExpiresIn))
	return out.AccessToken, nil
}

// call POSTs body as JSON to the named API with the access token and decodes the answer
// into out. A rejected token is replaced and the call retried once.
func (c *Client) call(ctx context.Context, api string, body, out any) error {
	ep := c.apis[api]
	payload, err := marshal(body)
	if err != nil {
		return fmt.Errorf("dingtalk %s: encode request: %w", api, err)
	}
	tok, err := c.Token(ctx)
	if err != nil {
		return err
	}
	send := func(tok string) error {
		query := url.Values{"access_token": {tok}}
		return c.withRetry(ctx, api, func() error {
			return c.do(ctx, ep, http.MethodPost, query, payload, out)
		})
	}
	err = send(tok)
	if !isTokenCode(Code(err)) {
		return err
	}
	c.log.InfoContext(ctx, "dingtalk: access token rejected, fetching a new one",
		slog.String("api", api), slog.Int("code", Code(err)))
	c.dropToken(tok)
	if tok, err = c.Token(ctx); err != nil {
		return err
	}
	return send(tok)
}

// withRetry runs op until it succeeds, fails in a way not worth retrying (see retryable),
// or MaxRetries retries are used up. backoff/v5 supplies the jittered exponential
// intervals; the loop itself stays here so that every returned error keeps its context,
// and so that it sleeps on the client's clock.
func (c *Client) withRetry(ctx context.Context, api string, op func() error) error {
	b := &backoff.ExponentialBackOff{
		InitialInterval:     c.cfg.BaseBackoff,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         30 * time.Second,
	}
	b.Reset()
	for retry := 0; ; retry++ {
		err := op()
		if err == nil || retry >= c.cfg.MaxRetries || !retryable(err) || ctx.Err() != nil {
			return err
		}
		wait := b.NextBackOff()
		c.log.WarnContext(ctx, "dingtalk: retrying after transient error",
			slog.String("api", api), slog.Int("retry", retry+1), slog.Duration("wait", wait), slog.Any("error", err))
		t := c.clock.NewTimer(wait)
		select {
		case <-t.Chan():
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("dingtalk %s: gave up retrying (%w) after: %w", api, ctx.Err(), err)
		}
	}
}

// transportError is a failure below the DingTalk envelope (network, HTTP status) that is
// safe to retry: any failure of an idempotent call, and for the send only those that
// provably left DingTalk without the message. The send's other failures are
// *OutcomeUnknownError instead.
type transportError struct {
	api string
	err error
}

func (e *transportError) Error() string { return fmt.Sprintf("dingtalk %s: %v", e.api, e.err) }
func (e *transportError) Unwrap() error { return e.err }

// retryable reports whether another attempt may fix err and cannot do harm: transport
// failures that are safe to repeat, and DingTalk's "busy" and throttling codes, which
// mean the call was not taken.
func retryable(err error) bool {
	var unknown *OutcomeUnknownError
	if errors.As(err, &unknown) {
		return false
	}
	var te *transportError
	if errors.As(err, &te) {
		return true
	}
	var e *Error
	return errors.As(err, &e) && isTransientCode(e.Code)
}

// failed wraps cause, a failure after the request may have reached DingTalk: for an
// idempotent call a retryable transport error, for the send an unknown outcome.
func (c *Client) failed(ctx context.Context, ep endpoint, cause error) error {
	if ep.idempotent {
		return &transportError{api: ep.name, err: cause}
	}
	c.log.WarnContext(ctx, "dingtalk: outcome of a send is unknown; it is not repeated",
		slog.String("api", ep.name), slog.Any("error", cause))
	return &OutcomeUnknownError{API: ep.name, Err: cause}
}

// wait blocks until ep's rate limiter lets a call through, on the client's clock
// (rate.Limiter.Wait would sleep on the real one).
func (c *Client) wait(ctx context.Context, ep endpoint) error {
	now := c.clock.Now()
	r := ep.limiter.ReserveN(now, 1)
	if !r.OK() {
		return fmt.Errorf("dingtalk %s: rate limiter refused the call", ep.name)
	}
	d := r.DelayFrom(now)
	if d <= 0 {
		return nil
	}
	t := c.clock.NewTimer(d)
	select {
	case <-t.Chan():
		return nil
	case <-ctx.Done():
		t.Stop()
		// Hand the slot back so the callers behind this one need not wait for it.
		r.CancelAt(c.clock.Now())
		return fmt.Errorf("dingtalk %s: rate limiter: %w", ep.name, ctx.Err())
	}
}

// isDialError reports a failure to open the connection (refused, DNS, unreachable, TLS
// handshake): no byte of the request went out.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// do makes one HTTP request and decodes a successful envelope into out.
func (c *Client) do(ctx context.Context, ep endpoint, method string, query url.Values, body []byte, out any) error {
	if err := c.circuitOpen(ep.name); err != nil {
		return err
	}
	if err := c.wait(ctx, ep); err != nil {
		return err
	}
	target, err := url.Parse(ep.url)
	if err != nil {
		return fmt.Errorf("dingtalk %s: endpoint URL: %w", ep.name, err)
	}
	q := target.Query()
	for k, v := range query {
		q[k] = v
	}
	target.RawQuery = q.Encode()
	var reqBody io.Reader
	if body != nil {
		reqBody = bytes.NewReader(body)
	}
	attemptCtx := ctx
	if c.cfg.Timeout > 0 {
		// A timer on the client's clock cancels the attempt. Not a context deadline: the
		// dialer reads a deadline against the real clock, which a fake one is not.
		var cancel context.CancelCauseFunc
		attemptCtx, cancel = context.WithCancelCause(ctx)
		timer := c.clock.AfterFunc(c.cfg.Timeout, func() { cancel(errAttemptTimeout) })
		defer func() {
			timer.Stop()
			cancel(nil)
		}()
	}
	// Until the transport has a connection nothing of the request can have left, so a
	// failure before then is safe to retry even for the send.
	var gotConn atomic.Bool
	attemptCtx = httptrace.WithClientTrace(attemptCtx, &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { gotConn.Store(true) },
	})
	req, err := http.NewRequestWithContext(attemptCtx, method, target.String(), reqBody)
	if err != nil {
		return fmt.Errorf("dingtalk %s: build request: %w", ep.name, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	c.calls.Add(1)
	start := c.clock.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.metrics.observeCall(ep.name, "transport_error", c.clock.Since(start))
		// *url.Error prints the URL, which carries the access token or app secret.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = fmt.Errorf("%s request: %w", uerr.Op, uerr.Err)
		}
		if ctx.Err() == nil && errors.Is(context.Cause(attemptCtx), errAttemptTimeout) {
			err = fmt.Errorf("no answer within %v: %w", c.cfg.Timeout, err)
		}
		// A dial error is final for its connection; the transport re-dials for the same
		// request only when nothing of it was written, so it too proves the request unsent.
		if !gotConn.Load() || isDialError(err) {
			return &transportError{api: ep.name, err: err}
		}
		return c.failed(ctx, ep, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		c.metrics.observeCall(ep.name, "transport_error", c.clock.Since(start))
		return c.failed(ctx, ep, fmt.Errorf("read response: %w", err))
	}
	if resp.StatusCode != http.StatusOK {
		c.metrics.observeCall(ep.name, fmt.Sprintf("http_%d", resp.StatusCode), c.clock.Since(start))
		err := fmt.Errorf("unexpected HTTP status %s", resp.Status)
		// DingTalk itself always answers 200, so another status comes from something in
		// between, possibly after DingTalk took the send. Only 429 says plainly that the
		// request was turned away unprocessed.
		if resp.StatusCode == http.StatusTooManyRequests {
			return &transportError{api: ep.name, err: err}
		}
		return c.failed(ctx, ep, err)
	}
	code, err := c.decode(ctx, ep, raw, out)
	c.metrics.observeCall(ep.name, code, c.clock.Since(start))
	return err
}

// envelope is the part every DingTalk answer shares, plus the marker of an IP ban page.
type envelope struct {
	Errcode   *int       `json:"errcode"`
	Errmsg    string     `json:"errmsg"`
	SubCode   flexString `json:"sub_code"`
	SubMsg    string     `json:"sub_msg"`
	RequestID string     `json:"request_id"`
	Punish    string     `json:"punish"`
}

// decode checks the envelope and fills out on success. It returns the metric code label.
func (c *Client) decode(ctx context.Context, ep endpoint, raw []byte, out any) (string, error) {
	api := ep.name
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		// DingTalk's IP ban answers 200 with an HTML page; retrying within seconds only
		// prolongs it. A page could also come from a proxy after DingTalk took a send.
		ban := c.openCircuit(api)
		if !ep.idempotent {
			return "ip_banned", c.failed(ctx, ep, ban)
		}
		return "ip_banned", fmt.Errorf("dingtalk %s: %w", api, ban)
	}
	if env.Punish == "deny" {
		// The ban's own JSON object: the gateway turned the call away.
		return "ip_banned", fmt.Errorf("dingtalk %s: %w", api, c.openCircuit(api))
	}
	if env.Errcode == nil {
		return "bad_response", c.failedAnswer(ctx, ep, errors.New("answer without errcode"))
	}
	code := *env.Errcode
	if code == 88 {
		if sub, err := strconv.Atoi(string(env.SubCode)); err == nil {
			code = sub
		}
	}
	if code != 0 {
		return fmt.Sprint(code), &Error{
			API: api, Code: code, Errcode: *env.Errcode, SubCode: string(env.SubCode),
			SubMsg: env.SubMsg, Errmsg: env.Errmsg, RequestID: env.RequestID,
		}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			// errcode 0: DingTalk took the send, but which task it made is lost.
			return "bad_response", c.failedAnswer(ctx, ep, fmt.Errorf("decode answer: %w", err))
		}
	}
	return "0", nil
}

// failedAnswer is an answer that cannot be read: a permanent error for an idempotent
// call, an unknown outcome for the send.
func (c *Client) failedAnswer(ctx context.Context, ep endpoint, err error) error {
	if ep.idempotent {
		return fmt.Errorf("dingtalk %s: %w", ep.name, err)
	}
	return c.failed(ctx, ep, err)
}

// openCircuit makes every call fail fast for banDuration and returns the ban as an error
// (without the API name, which the caller adds).
func (c *Client) openCircuit(api string) error {
	c.mu.Lock()
	c.bannedUntil = c.clock.Now().Add(banDuration)
	until := c.bannedUntil
	c.mu.Unlock()
	c.log.Error("dingtalk: egress IP banned, failing fast until the ban ends",
		slog.String("api", api), slog.Time("until", until))
	return fmt.Errorf("%w until %s", ErrIPBanned, until.Format(time.RFC3339))
}

func (c *Client) circuitOpen(api string) error {
	c.mu.Lock()
	until := c.bannedUntil
	c.mu.Unlock()
	if c.clock.Now().Before(until) {
		return fmt.Errorf("dingtalk %s: %w until %s", api, ErrIPBanned, until.Format(time.RFC3339))
	}
	return nil
}

// flexString accepts a JSON string or number; sub_code is a string in practice,
// but nothing is lost by tolerating a number.
type flexString string

// UnmarshalJSON accepts "40014" and 40014 alike.
func (f *flexString) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*f = flexString(n)
	return nil
}
