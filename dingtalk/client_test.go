package dingtalk_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/dingfluence/dingfluence/dingtalk"
	"github.com/dingfluence/dingfluence/dingtalk/dingtalktest"
)

// waitTimeout bounds every wait on the code under test; it only elapses when a test fails.
const waitTimeout = 10 * time.Second

// newClock is a fake clock shared by client and server so token lifetimes agree.
func newClock() *clockwork.FakeClock {
	return clockwork.NewFakeClockAt(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
}

// setup starts a simulator with one user "alice" and a client for it, both on one fake
// clock (opts.Clock, if set, must be that clock too). Unless cfg says otherwise the client
// has no rate limit, no attempt timeout and a 1 ms backoff, so that nothing waits on the
// clock except what a test is about.
func setup(t *testing.T, opts dingtalktest.Options, cfg dingtalk.Config) (*dingtalktest.Server, *dingtalk.Client, *clockwork.FakeClock) {
	t.Helper()
	clock, ok := opts.Clock.(*clockwork.FakeClock)
	if !ok {
		clock = newClock()
		opts.Clock = clock
	}
	srv := dingtalktest.Start(t, opts)
	srv.AddUser(dingtalktest.User{UserID: "alice", Name: "Alice", Mobile: "13800000001", Active: true, DeptIDs: []int64{1}})
	if cfg.AppKey == "" {
		cfg.AppKey, cfg.AppSecret = srv.AppKey(), srv.AppSecret()
	}
	if cfg.AgentID == 0 {
		cfg.AgentID = srv.AgentID()
	}
	if cfg.Endpoints == (dingtalk.Endpoints{}) {
		cfg.Endpoints = srv.Endpoints()
	}
	if cfg.QPS == 0 {
		cfg.QPS = -1
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = -1
	}
	if cfg.BaseBackoff == 0 {
		cfg.BaseBackoff = time.Millisecond
	}
	cfg.Clock = clock
	cfg.Logger = slog.New(slog.DiscardHandler)
	return srv, dingtalk.New(cfg), clock
}

// drive runs each call in its own goroutine and, whenever all of them are waiting on
// clock (rate limiter, backoff), moves it on by step, until every call has returned. A
// call that has returned parks on the clock until the end, so that "all are waiting" is
// a count of the clock's waiters. The calls must wait on nothing else on the clock.
func drive(t *testing.T, clock *clockwork.FakeClock, step time.Duration, calls ...func()) {
	t.Helper()
	var (
		finished atomic.Int64
		wg       sync.WaitGroup
		release  = make(chan struct{})
	)
	for _, call := range calls {
		wg.Go(func() {
			call()
			park := clock.NewTimer(24 * time.Hour)
			finished.Add(1)
			select {
			case <-park.Chan():
			case <-release:
			}
			park.Stop()
		})
	}
	defer wg.Wait()
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for {
		if err := clock.BlockUntilContext(ctx, len(calls)); err != nil {
			t.Fatalf("calls stuck off the clock: %d of %d returned", finished.Load(), len(calls))
		}
		if finished.Load() == int64(len(calls)) {
			return
		}
		clock.Advance(step)
	}
}

func asError(t *testing.T, err error) *dingtalk.Error {
	t.Helper()
	var e *dingtalk.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not a *dingtalk.Error", err)
	}
	return e
}

func TestConcurrentCallsFetchOneToken(t *testing.T) {
	srv, c, _ := setup(t, dingtalktest.Options{}, dingtalk.Config{})
	const n = 1000
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range n {
		wg.Go(func() {
			if _, err := c.GetUser(t.Context(), "alice"); err != nil {
				failed.Add(1)
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d calls failed", failed.Load())
	}
	if got := srv.TokenIssued(); got != 1 {
		t.Errorf("server issued %d tokens, want 1", got)
	}
	if got := srv.Calls("gettoken"); got != 1 {
		t.Errorf("gettoken requests = %d, want 1", got)
	}
	if got, want := c.Calls(), int64(srv.TotalCalls()); got != want || got != n+1 {
		t.Errorf("client counted %d calls, server saw %d, want %d", got, want, n+1)
	}
}

func TestRejectedTokenIsReplacedOnce(t *testing.T) {
	tests := []struct {
		name     string
		reject   func(*dingtalktest.Server)
		wantCode int // 0: the retried call succeeds
	}{
		{"expired on the server", func(s *dingtalktest.Server) { s.ExpireTokens() }, 0},
		{"88/40014", func(s *dingtalktest.Server) { s.InjectError("user/get", 40014, 1) }, 0},
		{"flat 42001", func(s *dingtalktest.Server) { s.InjectError("user/get", 42001, 1) }, 0},
		{"flat 40001", func(s *dingtalktest.Server) { s.InjectError("user/get", 40001, 1) }, 0},
		{"rejected again after refresh", func(s *dingtalktest.Server) { s.InjectError("user/get", 40014, 2) }, 40014},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c, _ := setup(t, dingtalktest.Options{}, dingtalk.Config{})
			if _, err := c.GetUser(t.Context(), "alice"); err != nil {
				t.Fatal(err)
			}
			srv.ResetCounters()
			tt.reject(srv)

			u, err := c.GetUser(t.Context(), "alice")
			if tt.wantCode == 0 && (err != nil || u.UserID != "alice") {
				t.Fatalf("GetUser = %+v, %v; want alice", u, err)
			}
			if tt.wantCode != 0 && dingtalk.Code(err) != tt.wantCode {
				t.Fatalf("error %v, want code %d", err, tt.wantCode)
			}
			if got := srv.TokenIssued(); got != 1 {
				t.Errorf("tokens fetched after rejection = %d, want exactly 1", got)
			}
			if got := srv.Calls("user/get"); got != 2 {
				t.Errorf("user/get calls = %d, want 2 (rejected + one retry)", got)
			}
		})
	}
}

func TestLateRejectionKeepsNewerToken(t *testing.T) {
	// A call still holding an old token must not throw away the token another caller
	// fetched meanwhile, or every late rejection would cost another gettoken.
	srv, _, clock := setup(t, dingtalktest.Options{}, dingtalk.Config{})
	arrived, hold := make(chan struct{}), make(chan struct{})
	var held atomic.Bool
	door := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/user/get") && held.CompareAndSwap(false, true) {
			close(arrived)
			<-hold
		}
		srv.ServeHTTP(w, r)
	}))
	t.Cleanup(door.Close)
	release := sync.OnceFunc(func() { close(hold) })
	t.Cleanup(release) // runs before door.Close, so a failed test does not hang
	c := dingtalk.New(dingtalk.Config{
		AppKey: srv.AppKey(), AppSecret: srv.AppSecret(), Endpoints: dingtalk.EndpointsAt(door.URL),
		Clock: clock, QPS: -1, Timeout: -1, Logger: slog.New(slog.DiscardHandler),
	})
	if _, err := c.Token(t.Context()); err != nil {
		t.Fatal(err)
	}
	late := make(chan error, 1)
	go func() {
		_, err := c.GetUser(t.Context(), "alice")
		late <- err
	}()
	<-arrived // the late call holds the first token at the server's door

	srv.ExpireTokens()
	clock.Advance(2 * time.Hour)
	if _, err := c.GetUser(t.Context(), "alice"); err != nil { // fetches the second token
		t.Fatal(err)
	}
	release() // the late call now reaches the server with the first token: 88/40014
	if err := <-late; err != nil {
		t.Fatalf("late call: %v", err)
	}
	if got := srv.TokenIssued(); got != 2 {
		t.Errorf("tokens issued = %d, want 2: the late call should reuse the newer token", got)
	}
}

func TestTokenRefreshedShortlyBeforeExpiry(t *testing.T) {
	tests := []struct {
		ttl, margin time.Duration
	}{
		{7200 * time.Second, 10 * time.Minute}, // DingTalk's lifetime: refresh 10 min early
		{600 * time.Second, 60 * time.Second},  // short lifetimes: refresh a tenth early
	}
	for _, tt := range tests {
		t.Run(tt.ttl.String(), func(t *testing.T) {
			srv, c, clock := setup(t, dingtalktest.Options{TokenTTL: tt.ttl}, dingtalk.Config{})
			first, err := c.Token(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			clock.Advance(tt.ttl - tt.margin - time.Second)
			if tok, err := c.Token(t.Context()); err != nil || tok != first || srv.TokenIssued() != 1 {
				t.Fatalf("just before the refresh point: token %q, %v, issued %d; want cached %q", tok, err, srv.TokenIssued(), first)
			}
			clock.Advance(2 * time.Second)
			if _, err := c.Token(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got := srv.TokenIssued(); got != 2 {
				t.Errorf("after the refresh point: issued %d, want 2", got)
			}
		})
	}
}

func TestTransientErrorsAreRetriedWithBackoff(t *testing.T) {
	const base, step = 20 * time.Millisecond, time.Millisecond
	tests := []struct {
		name      string
		api       string
		errcode   int
		times     int
		maxRetry  int
		wantCalls int
		wantCode  int // 0: success
	}{
		{"90018 per-app QPS", "user/get", 90018, 2, 4, 3, 0},
		{"-1 system busy", "user/get", -1, 2, 4, 3, 0},
		{"90002 global limit", "user/get", 90002, 1, 4, 2, 0},
		{"90005 other throttling", "user/get", 90005, 1, 4, 2, 0},
		{"busy token endpoint", "gettoken", -1, 1, 4, 2, 0},
		{"gives up after MaxRetries", "user/get", -1, 10, 2, 3, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c, clock := setup(t, dingtalktest.Options{}, dingtalk.Config{BaseBackoff: base, MaxRetries: tt.maxRetry})
			srv.InjectError(tt.api, tt.errcode, tt.times)

			start := clock.Now()
			var err error
			var elapsed time.Duration
			drive(t, clock, step, func() {
				_, err = c.GetUser(t.Context(), "alice")
				elapsed = clock.Since(start)
			})

			if tt.wantCode == 0 && err != nil {
				t.Fatalf("GetUser: %v", err)
			}
			if tt.wantCode != 0 && dingtalk.Code(err) != tt.wantCode {
				t.Fatalf("error %v, want code %d", err, tt.wantCode)
			}
			if got := srv.Calls(tt.api); got != tt.wantCalls {
				t.Errorf("%s calls = %d, want %d", tt.api, got, tt.wantCalls)
			}
			// Wait i is base·2^i with ±50% jitter; the clock moves in steps, so each
			// wait may overrun by up to a step.
			var least, most time.Duration
			for i := range tt.wantCalls - 1 {
				least += base << i / 2
				most += base<<i*3/2 + step
			}
			if elapsed < least || elapsed > most {
				t.Errorf("took %v on the clock, want between %v and %v of backoff", elapsed, least, most)
			}
		})
	}
}

func TestTransportFailuresAreRetried(t *testing.T) {
	srv, _, clock := setup(t, dingtalktest.Options{}, dingtalk.Config{})
	var seen atomic.Int64
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/user/get") && seen.Add(1) <= 2 {
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return
		}
		srv.ServeHTTP(w, r)
	}))
	t.Cleanup(flaky.Close)
	c := dingtalk.New(dingtalk.Config{
		AppKey: srv.AppKey(), AppSecret: srv.AppSecret(), Endpoints: dingtalk.EndpointsAt(flaky.URL),
		Clock: clock, QPS: -1, Timeout: -1, BaseBackoff: time.Millisecond, Logger: slog.New(slog.DiscardHandler),
	})
	var err error
	drive(t, clock, time.Millisecond, func() { _, err = c.GetUser(t.Context(), "alice") })
	if err != nil {
		t.Fatalf("GetUser: %v", err)
	}
	if seen.Load() != 3 || srv.Calls("user/get") != 1 {
		t.Errorf("proxy saw %d user/get calls, simulator %d; want 3 and 1", seen.Load(), srv.Calls("user/get"))
	}
}

func TestNetworkErrorsDoNotLeakSecrets(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there any more: connection refused
	clock := newClock()
	c := dingtalk.New(dingtalk.Config{
		AppKey: "key", AppSecret: "top-secret-value", Endpoints: dingtalk.EndpointsAt(dead),
		Clock: clock, MaxRetries: 1, BaseBackoff: time.Millisecond, Logger: slog.New(slog.DiscardHandler),
	})
	drive(t, clock, time.Millisecond, func() { _, err = c.Token(t.Context()) })
	if err == nil {
		t.Fatal("Token against a closed port succeeded")
	}
	if strings.Contains(err.Error(), "top-secret-value") {
		t.Errorf("error leaks the app secret: %v", err)
	}
	if c.Calls() != 2 {
		t.Errorf("calls = %d, want 2 (network errors are retried)", c.Calls())
	}
}

func TestPermanentErrorsReturnAtOnce(t *testing.T) {
	tests := []struct {
		name         string
		inject       int // 0: no injection, ask for an unknown user
		wantCode     int
		wantErrcode  int
		wantSubCode  string
		wantErrmsg   string
		wantNotFound bool
	}{
		{"permission 88/60011", 60011, 60011, 88, "60011", "ding talk error[subcode=60011,submsg=没有调用该接口的权限]", false},
		{"unknown user 60121", 0, 60121, 60121, "", "找不到该用户", true},
		{"monthly quota 90020", 90020, 90020, 90020, "", "您的企业本月api调用量已超过限制", false},
		{"bad parameter 400002", 400002, 400002, 400002, "", "dingtalktest 注入的错误", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c, _ := setup(t, dingtalktest.Options{}, dingtalk.Config{})
			user := "alice"
			if tt.inject != 0 {
				srv.InjectError("user/get", tt.inject, 5)
			} else {
				user = "nobody"
			}
			_, err := c.GetUser(t.Context(), user)
			e := asError(t, err)
			if e.Code != tt.wantCode || e.Errcode != tt.wantErrcode || e.SubCode != tt.wantSubCode || e.Errmsg != tt.wantErrmsg {
				t.Errorf("got %+v, want code %d errcode %d sub_code %q errmsg %q", e, tt.wantCode, tt.wantErrcode, tt.wantSubCode, tt.wantErrmsg)
			}
			if e.API != "user.get" || e.RequestID == "" {
				t.Errorf("API %q, request id %q; want user.get and a request id", e.API, e.RequestID)
			}
			if dingtalk.IsNotFound(err) != tt.wantNotFound {
				t.Errorf("IsNotFound = %v, want %v", !tt.wantNotFound, tt.wantNotFound)
			}
			if got := srv.Calls("user/get"); got != 1 {
				t.Errorf("user/get calls = %d, want 1 (no retry)", got)
			}
		})
	}
}

func TestBadCredentials(t *testing.T) {
	tests := []struct {
		name     string
		secret   string
		inject   int
		wantCode int
	}{
		{"wrong secret 40096", "wrong", 0, 40096},
		{"legacy 40089", "", 40089, 40089},
		{"40001 on gettoken", "", 40001, 40001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := dingtalk.Config{}
			if tt.secret != "" {
				cfg.AppKey, cfg.AppSecret = dingtalktest.DefaultAppKey, tt.secret
			}
			srv, c, _ := setup(t, dingtalktest.Options{}, cfg)
			if tt.inject != 0 {
				srv.InjectError("gettoken", tt.inject, 5)
			}
			_, err := c.GetUser(t.Context(), "alice")
			if !dingtalk.IsInvalidCredentials(err) || dingtalk.Code(err) != tt.wantCode {
				t.Fatalf("error %v: want invalid credentials with code %d", err, tt.wantCode)
			}
			if srv.Calls("gettoken") != 1 || srv.Calls("user/get") != 0 {
				t.Errorf("gettoken %d, user/get %d calls; want 1 and 0", srv.Calls("gettoken"), srv.Calls("user/get"))
			}
		})
	}
}

func TestErrorPredicates(t *testing.T) {
	tests := []struct {
		err                error
		notFound, badCreds bool
	}{
		{&dingtalk.Error{API: "user.get", Code: 60121}, true, false},
		{&dingtalk.Error{API: "user.get", Code: 33012}, true, false},
		{&dingtalk.Error{API: "department.get", Code: 60003}, true, false},
		{fmt.Errorf("wrapped: %w", &dingtalk.Error{API: "user.get", Code: 60111}), true, false},
		{&dingtalk.Error{API: "gettoken", Code: 40096}, false, true},
		{&dingtalk.Error{API: "gettoken", Code: 40001}, false, true},
		{&dingtalk.Error{API: "user.get", Code: 40001}, false, false}, // a bad token, not bad credentials
		{&dingtalk.Error{API: "user.get", Code: 60011}, false, false},
		{errors.New("plain"), false, false},
	}
	for _, tt := range tests {
		if got := dingtalk.IsNotFound(tt.err); got != tt.notFound {
			t.Errorf("IsNotFound(%v) = %v", tt.err, got)
		}
		if got := dingtalk.IsInvalidCredentials(tt.err); got != tt.badCreds {
			t.Errorf("IsInvalidCredentials(%v) = %v", tt.err, got)
		}
	}
}

func TestIPBanOpensCircuit(t *testing.T) {
	for _, html := range []bool{false, true} {
		t.Run(fmt.Sprintf("html=%v", html), func(t *testing.T) {
			srv, c, clock := setup(t, dingtalktest.Options{}, dingtalk.Config{})
			srv.BanIP(html)

			if _, err := c.GetUser(t.Context(), "alice"); !errors.Is(err, dingtalk.ErrIPBanned) {
				t.Fatalf("first call: %v, want ErrIPBanned", err)
			}
			if got := srv.TotalCalls(); got != 1 {
				t.Fatalf("server calls = %d, want 1 (a ban is not retried)", got)
			}
			srv.LiftIPBan()
			clock.Advance(5*time.Minute - time.Second)
			if _, err := c.GetUser(t.Context(), "alice"); !errors.Is(err, dingtalk.ErrIPBanned) {
				t.Fatalf("during the ban: %v, want ErrIPBanned", err)
			}
			if got := srv.TotalCalls(); got != 1 {
				t.Fatalf("server calls = %d, want still 1 (fail fast)", got)
			}
			clock.Advance(2 * time.Second)
			if _, err := c.GetUser(t.Context(), "alice"); err != nil {
				t.Fatalf("after the ban: %v", err)
			}
		})
	}
}

func TestContextCancelStopsRetrying(t *testing.T) {
	srv, c, clock := setup(t, dingtalktest.Options{}, dingtalk.Config{BaseBackoff: time.Hour})
	srv.InjectError("user/get", -1, 100)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := c.GetUser(ctx, "alice")
		errc <- err
	}()
	waitCtx, stop := context.WithTimeout(t.Context(), waitTimeout)
	defer stop()
	if err := clock.BlockUntilContext(waitCtx, 1); err != nil { // the backoff wait
		t.Fatal("the client never waited to retry")
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) || dingtalk.Code(err) != -1 {
		t.Fatalf("error %v, want the cancellation and the last DingTalk error", err)
	}
	if got := srv.Calls("user/get"); got != 1 {
		t.Errorf("user/get calls = %d, want 1", got)
	}
}

func TestClientRateLimitStaysUnderServerQPS(t *testing.T) {
	// The server answers 90018 beyond 20 calls in any second; at 18/s the client never
	// provokes one, so every call reaches the server exactly once, and the last one
	// 59/18 s after the first.
	const n, qps, step = 60, 18, time.Millisecond
	srv, c, clock := setup(t, dingtalktest.Options{QPS: 20}, dingtalk.Config{QPS: qps})
	start := clock.Now()
	var mu sync.Mutex
	var last time.Duration
	calls := make([]func(), n)
	for i := range calls {
		calls[i] = func() {
			if _, err := c.GetUser(t.Context(), "alice"); err != nil {
				t.Error(err)
			}
			mu.Lock()
			last = max(last, clock.Since(start))
			mu.Unlock()
		}
	}
	drive(t, clock, step, calls...)
	if got := srv.Calls("user/get"); got != n {
		t.Errorf("user/get calls = %d, want %d: some were throttled (90018) and retried", got, n)
	}
	if least := time.Duration(n-1) * time.Second / qps; last < least || last > least+step {
		t.Errorf("the last of %d calls came %v after the first, want %v at %d/s", n, last, least, qps)
	}
}

func TestRateLimiterWaitEndsWithTheContext(t *testing.T) {
	srv, c, clock := setup(t, dingtalktest.Options{}, dingtalk.Config{QPS: 1})
	if _, err := c.GetUser(t.Context(), "alice"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := c.GetUser(ctx, "alice")
		errc <- err
	}()
	waitCtx, stop := context.WithTimeout(t.Context(), waitTimeout)
	defer stop()
	if err := clock.BlockUntilContext(waitCtx, 1); err != nil { // waiting its turn
		t.Fatal("the second call within a second did not wait")
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want the cancellation", err)
	}
	if got := srv.Calls("user/get"); got != 1 {
		t.Errorf("user/get calls = %d, want 1", got)
	}
	// The cancelled call gave its turn back: the next one goes at the one-second mark.
	clock.Advance(time.Second)
	if _, err := c.GetUser(t.Context(), "alice"); err != nil {
		t.Fatalf("call after a second: %v", err)
	}
}

func TestListUsersPaginates(t *testing.T) {
	srv, c, _ := setup(t, dingtalktest.Options{}, dingtalk.Config{})
	srv.AddDepartment(dingtalktest.Department{ID: 2, ParentID: 1, Name: "R&D"})
	var want []string
	for i := range 250 {
		id := fmt.Sprintf("u%03d", i)
		want = append(want, id)
		srv.AddUser(dingtalktest.User{UserID: id, Name: id, Active: true, DeptIDs: []int64{2}})
	}
	var got []string
	var pages []dingtalk.UserPage
	for cursor := int64(0); ; {
		page, err := c.ListUsers(t.Context(), 2, cursor, 100)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, page)
		for _, u := range page.Users {
			got = append(got, u.UserID)
		}
		if !page.HasMore {
			break
		}
		cursor = page.NextCursor
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("paged users = %v…, want %d users u000..u249 in order", got[:min(5, len(got))], len(want))
	}
	if len(pages) != 3 || pages[0].NextCursor != 100 || pages[1].NextCursor != 200 || pages[2].NextCursor != 0 {
		t.Errorf("got %d pages with cursors; want 3 pages, cursors 100, 200, then none", len(pages))
	}
}

func TestListUsersRejectsBadSizeLocally(t *testing.T) {
	for _, size := range []int{0, -1, 101} {
		srv, c, _ := setup(t, dingtalktest.Options{}, dingtalk.Config{})
		if _, err := c.ListUsers(t.Context(), 1, 0, size); !errors.Is(err, dingtalk.ErrInvalidPageSize) {
			t.Errorf("size %d: %v, want ErrInvalidPageSize", size, err)
		}
		if srv.TotalCalls() != 0 {
			t.Errorf("size %d: server saw %d calls, want 0", size, srv.TotalCalls())
		}
	}
}

func TestContacts(t *testing.T) {
	srv, c, _ := setup(t, dingtalktest.Options{CompanyName: "ACME"}, dingtalk.Config{})
	srv.AddDepartment(dingtalktest.Department{ID: 574367388, ParentID: 1, Name: "总经办", Order: 2})
	srv.AddDepartment(dingtalktest.Department{ID: 101254282, ParentID: 1, Name: "技术部", Order: 1})
	srv.AddDepartment(dingtalktest.Department{ID: 7, ParentID: 101254282, Name: "Backend", Order: 1})
	srv.AddUser(dingtalktest.User{
		UserID: "bob", UnionID: "uT1iEiE", Name: "Bob", OrgEmail: "bob@acme.example", JobNumber: "0042",
		Mobile: "13800000002", Title: "Engineer", Active: true, DeptIDs: []int64{101254282, 7},
	})
	srv.AddUser(dingtalktest.User{UserID: "carol", Name: "Carol", Mobile: "13800000003", DeptIDs: []int64{7}})
	ctx := t.Context()

	t.Run("ListSubDepartments of the root", func(t *testing.T) {
		got, err := c.ListSubDepartments(ctx, 0)
		want := []dingtalk.Department{{ID: 101254282, ParentID: 1, Name: "技术部"}, {ID: 574367388, ParentID: 1, Name: "总经办"}}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, %v; want %+v", got, err, want)
		}
	})
	t.Run("GetDepartment", func(t *testing.T) {
		got, err := c.GetDepartment(ctx, 101254282)
		want := dingtalk.DepartmentDetail{ID: 101254282, ParentID: 1, Name: "技术部", Order: 1, MemberCount: 2}
		if err != nil || got != want {
			t.Errorf("got %+v, %v; want %+v", got, err, want)
		}
		root, err := c.GetDepartment(ctx, 1)
		if err != nil || root.Name != "ACME" || root.ParentID != 0 || root.MemberCount != 3 {
			t.Errorf("root = %+v, %v; want ACME with 3 members", root, err)
		}
	})
	t.Run("ListUserIDs gives direct members", func(t *testing.T) {
		got, err := c.ListUserIDs(ctx, 7)
		if err != nil || !reflect.DeepEqual(got, []string{"bob", "carol"}) {
			t.Errorf("got %v, %v; want [bob carol]", got, err)
		}
	})
	t.Run("GetUser decodes absent fields as zero", func(t *testing.T) {
		got, err := c.GetUser(ctx, "bob")
		want := dingtalk.User{
			UserID: "bob", UnionID: "uT1iEiE", Name: "Bob", OrgEmail: "bob@acme.example", JobNumber: "0042",
			Mobile: "13800000002", Title: "Engineer", Active: true, DeptIDs: []int64{101254282, 7},
		}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, %v; want %+v", got, err, want)
		}
	})
	t.Run("GetUserIDByMobile", func(t *testing.T) {
		if got, err := c.GetUserIDByMobile(ctx, "13800000002"); err != nil || got != "bob" {
			t.Errorf("got %q, %v; want bob", got, err)
		}
		if _, err := c.GetUserIDByMobile(ctx, "13800000003"); !dingtalk.IsNotFound(err) {
			t.Errorf("inactive carol: %v, want not found", err)
		}
	})
	t.Run("unknown department", func(t *testing.T) {
		for name, call := range map[string]func() error{
			"listsub": func() error { _, err := c.ListSubDepartments(ctx, 999); return err },
			"get":     func() error { _, err := c.GetDepartment(ctx, 999); return err },
			"listid":  func() error { _, err := c.ListUserIDs(ctx, 999); return err },
			"list":    func() error { _, err := c.ListUsers(ctx, 999, 0, 10); return err },
		} {
			if err := call(); dingtalk.Code(err) != 60003 || !dingtalk.IsNotFound(err) {
				t.Errorf("%s: %v, want 60003", name, err)
			}
		}
	})
}

func TestSendWorkNotificationChecksBeforeSending(t *testing.T) {
	ids := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("u%d", i)
		}
		return out
	}
	tests := []struct {
		name    string
		userIDs []string
		msg     dingtalk.Message
		want    error
	}{
		{"no recipients", nil, dingtalk.TextMessage("hi"), dingtalk.ErrNoRecipients},
		{"101 recipients", ids(101), dingtalk.TextMessage("hi"), dingtalk.ErrTooManyRecipients},
		{"message over 2048 bytes", ids(1), dingtalk.TextMessage(strings.Repeat("字", 700)), dingtalk.ErrMessageTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c, _ := setup(t, dingtalktest.Options{}, dingtalk.Config{})
			if _, err := c.SendWorkNotification(t.Context(), tt.userIDs, tt.msg); !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if srv.TotalCalls() != 0 || len(srv.Sent()) != 0 || c.Calls() != 0 {
				t.Errorf("server saw %d calls and %d sends, want none", srv.TotalCalls(), len(srv.Sent()))
			}
		})
	}
}

func TestSendWorkNotification(t *testing.T) {
	srv, c, clock := setup(t, dingtalktest.Options{AgentID: 836390886}, dingtalk.Config{})
	recipients := make([]string, 100)
	for i := range recipients {
		recipients[i] = fmt.Sprintf("user%d", i)
	}
	msg := dingtalk.ActionCardMessage("Page updated", "**Design** <v2> changed", "Open", "https://wiki.example/x?a=1&b=2")

	taskID, err := c.SendWorkNotification(t.Context(), recipients, msg)
	if err != nil {
		t.Fatal(err)
	}
	sent := srv.Sent()
	if len(sent) != 1 {
		t.Fatalf("server recorded %d sends, want 1", len(sent))
	}
	wantMsg := `{"msgtype":"action_card","action_card":{"title":"Page updated","markdown":"**Design** <v2> changed","single_title":"Open","single_url":"https://wiki.example/x?a=1&b=2"}}`
	got := sent[0]
	if got.TaskID != taskID || got.AgentID != 836390886 || !reflect.DeepEqual(got.UserIDs, recipients) ||
		string(got.Msg) != wantMsg || !got.At.Equal(clock.Now()) {
		t.Errorf("server recorded %+v (msg %s), want task %d for 100 users with msg %s", got, got.Msg, taskID, wantMsg)
	}
}

func TestMessageEncode(t *testing.T) {
	overhead := len(mustEncode(t, dingtalk.TextMessage("")))
	tests := []struct {
		name    string
		msg     dingtalk.Message
		want    string
		wantErr error
	}{
		{"text", dingtalk.TextMessage("月会通知"), `{"msgtype":"text","text":{"content":"月会通知"}}`, nil},
		{"markdown keeps < and &", dingtalk.MarkdownMessage("T", "a < b & c"), `{"msgtype":"markdown","markdown":{"title":"T","text":"a < b & c"}}`, nil},
		{"link in camelCase", dingtalk.LinkMessage("T", "x", "https://a", "@lA"), `{"msgtype":"link","link":{"messageUrl":"https://a","picUrl":"@lA","title":"T","text":"x"}}`, nil},
		{"action card with one button", dingtalk.ActionCardMessage("T", "m", "Open", "https://a"),
			`{"msgtype":"action_card","action_card":{"title":"T","markdown":"m","single_title":"Open","single_url":"https://a"}}`, nil},
		{"action card with buttons", dingtalk.ActionCardButtonsMessage("T", "m", dingtalk.ButtonsHorizontal,
			dingtalk.CardButton{Title: "查看页面", ActionURL: "https://a?x=1&y=2"}, dingtalk.CardButton{Title: "B", ActionURL: "https://b"}),
			`{"msgtype":"action_card","action_card":{"title":"T","markdown":"m","btn_orientation":"1","btn_json_list":[{"title":"查看页面","action_url":"https://a?x=1&y=2"},{"title":"B","action_url":"https://b"}]}}`, nil},
		{"exactly 2048 bytes", dingtalk.TextMessage(strings.Repeat("a", 2048-overhead)), "", nil},
		{"2049 bytes", dingtalk.TextMessage(strings.Repeat("a", 2049-overhead)), "", dingtalk.ErrMessageTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.msg.Encode()
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if tt.want != "" && string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func mustEncode(t *testing.T, m dingtalk.Message) []byte {
	t.Helper()
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// An outbox's stored msg goes out byte for byte; one that is not a JSON object, or too
// large, is refused before any request.
func TestSendEncodedWorkNotification(t *testing.T) {
	srv, c, _ := setup(t, dingtalktest.Options{}, dingtalk.Config{})
	stored := `{"msgtype":"markdown","markdown":{"title":"页面 <v2> & notes","text":"**改动** a<b"}}`
	if _, err := c.SendEncodedWorkNotification(t.Context(), []string{"alice"}, json.RawMessage(stored)); err != nil {
		t.Fatal(err)
	}
	if sent := srv.Sent(); len(sent) != 1 || string(sent[0].Msg) != stored {
		t.Fatalf("server recorded %v, want the stored msg %s as it is", sent, stored)
	}
	for _, tc := range []struct {
		msg  string
		want error
	}{
		{`{"msgtype":`, dingtalk.ErrMalformedMessage},
		{`["text"]`, dingtalk.ErrMalformedMessage},
		{`{"msgtype":"text","text":{"content":"` + strings.Repeat("x", 2048) + `"}}`, dingtalk.ErrMessageTooLarge},
	} {
		if _, err := c.SendEncodedWorkNotification(t.Context(), []string{"alice"}, json.RawMessage(tc.msg)); !errors.Is(err, tc.want) {
			t.Errorf("msg %.30s…: error %v, want %v", tc.msg, err, tc.want)
		}
	}
	if len(srv.Sent()) != 1 || srv.Calls("asyncsend_v2") != 1 {
		t.Errorf("refused messages reached the server: %d sends, %d calls", len(srv.Sent()), srv.Calls("asyncsend_v2"))
	}
}
