// Package dingtalk is a typed client for the legacy DingTalk open API (oapi.dingtalk.com):
// access tokens, work notifications and the contacts calls dingfluence needs.
//
// Every call waits on a per-API rate limiter, retries throttling and transport failures
// with jittered exponential backoff, refreshes a rejected token once, and opens a
// circuit for five minutes when DingTalk bans the egress IP.
package dingtalk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
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
	Endpoints         Endpoints        // empty fields fall back to DefaultEndpoints
	HTTPClient        *http.Client     // nil → a client with DefaultTimeout
	QPS               float64          // per-API client-side limit; 0 → DefaultQPS
	Now               func() time.Time // nil → time.Now; drives token expiry and the ban circuit
	Logger            *slog.Logger     // nil → slog.Default()
	Metrics           *Metrics         // nil → no metrics
	MaxRetries        int              // retries after the first attempt; 0 → DefaultMaxRetries, < 0 → none
	BaseBackoff       time.Duration    // first retry wait before jitter; 0 → DefaultBaseBackoff
}

// Client calls the DingTalk API for one app. It is safe for concurrent use.
type Client struct {
	cfg     Config
	apis    map[string]endpoint // fixed in New, only read afterwards
	http    *http.Client
	now     func() time.Time
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
}

// New returns a Client for cfg.
func New(cfg Config) *Client {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: DefaultTimeout}
	}
	if cfg.QPS <= 0 {
		cfg.QPS = DefaultQPS
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
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
		apis[name] = endpoint{name: name, url: u.configured, limiter: rate.NewLimiter(rate.Limit(cfg.QPS), 1)}
	}
	return &Client{
		cfg:     cfg,
		apis:    apis,
		http:    cfg.HTTPClient,
		now:     cfg.Now,
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
	return c.token, c.token != "" && c.now().Before(c.refreshAt)
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
	issuedAt := c.now()
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

// withRetry runs op until it succeeds, fails permanently, or MaxRetries retries are used up.
// backoff/v5 supplies the jittered exponential intervals; the loop itself stays here so
// that every returned error keeps its context.
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
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("dingtalk %s: gave up retrying (%w) after: %w", api, ctx.Err(), err)
		}
	}
}

// transportError is a failure below the DingTalk envelope (network, HTTP status); always worth a retry.
type transportError struct {
	api string
	err error
}

func (e *transportError) Error() string { return fmt.Sprintf("dingtalk %s: %v", e.api, e.err) }
func (e *transportError) Unwrap() error { return e.err }

func retryable(err error) bool {
	var te *transportError
	if errors.As(err, &te) {
		return true
	}
	var e *Error
	return errors.As(err, &e) && isTransientCode(e.Code)
}

// do makes one HTTP request and decodes a successful envelope into out.
func (c *Client) do(ctx context.Context, ep endpoint, method string, query url.Values, body []byte, out any) error {
	if err := c.circuitOpen(ep.name); err != nil {
		return err
	}
	if err := ep.limiter.Wait(ctx); err != nil {
		return fmt.Errorf("dingtalk %s: rate limiter: %w", ep.name, err)
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
	req, err := http.NewRequestWithContext(ctx, method, target.String(), reqBody)
	if err != nil {
		return fmt.Errorf("dingtalk %s: build request: %w", ep.name, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	c.calls.Add(1)
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.metrics.observeCall(ep.name, "transport_error", time.Since(start))
		// *url.Error prints the URL, which carries the access token or app secret.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = fmt.Errorf("%s request: %w", uerr.Op, uerr.Err)
		}
		return &transportError{api: ep.name, err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		c.metrics.observeCall(ep.name, "transport_error", time.Since(start))
		return &transportError{api: ep.name, err: fmt.Errorf("read response: %w", err)}
	}
	if resp.StatusCode != http.StatusOK {
		c.metrics.observeCall(ep.name, fmt.Sprintf("http_%d", resp.StatusCode), time.Since(start))
		return &transportError{api: ep.name, err: fmt.Errorf("unexpected HTTP status %s", resp.Status)}
	}
	code, err := c.decode(ep.name, raw, out)
	c.metrics.observeCall(ep.name, code, time.Since(start))
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
func (c *Client) decode(api string, raw []byte, out any) (string, error) {
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil || env.Punish == "deny" {
		// DingTalk's IP ban answers 200 with an HTML page or a "punish" object; retrying
		// within seconds only prolongs it.
		return "ip_banned", c.openCircuit(api)
	}
	if env.Errcode == nil {
		return "bad_response", fmt.Errorf("dingtalk %s: answer without errcode", api)
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
			return "bad_response", fmt.Errorf("dingtalk %s: decode answer: %w", api, err)
		}
	}
	return "0", nil
}

func (c *Client) openCircuit(api string) error {
	c.mu.Lock()
	c.bannedUntil = c.now().Add(banDuration)
	until := c.bannedUntil
	c.mu.Unlock()
	c.log.Error("dingtalk: egress IP banned, failing fast until the ban ends",
		slog.String("api", api), slog.Time("until", until))
	return fmt.Errorf("dingtalk %s: %w until %s", api, ErrIPBanned, until.Format(time.RFC3339))
}

func (c *Client) circuitOpen(api string) error {
	c.mu.Lock()
	until := c.bannedUntil
	c.mu.Unlock()
	if c.now().Before(until) {
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
