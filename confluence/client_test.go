package confluence_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/dingfluence/dingfluence/confluence"
	"github.com/dingfluence/dingfluence/confluence/confluencetest"
)

const (
	alicePassword = "alice-Secret-pw-4711"
	bobPassword   = "bob-Secret-pw-0815"
)

// fixture is a simulated Confluence with an administrator service account "svc" (whose
// PAT the client uses), "alice" (visible e-mail) and "bob" (no admin rights).
type fixture struct {
	srv    *confluencetest.Server
	c      *confluence.Client
	svcPAT string
	alice  confluencetest.User
	bob    confluencetest.User
}

func newClock() *clockwork.FakeClock {
	return clockwork.NewFakeClockAt(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
}

// setup starts a server with opts and a client for it. Unless cfg says otherwise the
// client uses the service PAT and logs nowhere.
func setup(t *testing.T, opts confluencetest.Options, cfg confluence.Config) fixture {
	t.Helper()
	f := fixture{srv: confluencetest.Start(t, opts)}
	f.srv.AddUser(confluencetest.User{Username: "svc", DisplayName: "Service Account", Admin: true})
	f.alice = f.srv.AddUser(confluencetest.User{
		Username: "alice", DisplayName: "Alice Liddell", Email: "alice@example.com", Password: alicePassword,
	})
	f.bob = f.srv.AddUser(confluencetest.User{
		Username: "bob", DisplayName: "Bob Builder", Email: "bob@example.com", Password: bobPassword,
	})
	f.svcPAT = f.srv.IssuePAT("svc")
	if cfg.BaseURL == "" {
		cfg.BaseURL = f.srv.URL()
	}
	if cfg.Credential.Kind() == confluence.AuthNone {
		cfg.Credential = confluence.BearerToken(f.svcPAT)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c, err := confluence.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	return f
}

func asError(t *testing.T, err error) *confluence.Error {
	t.Helper()
	var e *confluence.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not a *confluence.Error", err)
	}
	return e
}

// retrying runs fn while advancing clock past every wait it starts, and returns its
// result: retries happen at once, without sleeping.
func retrying(t *testing.T, clock *clockwork.FakeClock, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	for {
		ctx, cancel := context.WithCancel(t.Context())
		waiting := make(chan error, 1)
		go func() { waiting <- clock.BlockUntilContext(ctx, 1) }()
		select {
		case err := <-done:
			cancel()
			<-waiting
			return err
		case err := <-waiting:
			cancel()
			if err != nil {
				t.Fatalf("waiting for a retry timer: %v", err)
			}
			clock.Advance(time.Hour)
		}
	}
}

// stillWaiting reports whether something is waiting on clock right now.
func stillWaiting(clock *clockwork.FakeClock) bool {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return clock.BlockUntilContext(ctx, 1) == nil
}

// syncBuffer is a bytes.Buffer safe to share between a logger and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestCurrentUserChecksCredentials(t *testing.T) {
	tests := []struct {
		name     string
		cred     func(f fixture) confluence.Credential
		wantUser string // "" → 401
		wantAuth confluence.AuthKind
	}{
		{"service PAT as Bearer", func(f fixture) confluence.Credential { return confluence.BearerToken(f.svcPAT) }, "svc", confluence.AuthBearer},
		{"username and password", func(fixture) confluence.Credential { return confluence.BasicAuth("alice", alicePassword) }, "alice", confluence.AuthBasic},
		{"PAT as a Basic password", func(f fixture) confluence.Credential {
			return confluence.BasicAuth("alice", f.srv.IssuePAT("alice"))
		}, "", confluence.AuthBasic},
		{"user PAT as Bearer", func(f fixture) confluence.Credential { return confluence.BearerToken(f.srv.IssuePAT("alice")) }, "alice", confluence.AuthBearer},
		{"username in other case", func(fixture) confluence.Credential { return confluence.BasicAuth("Alice", alicePassword) }, "alice", confluence.AuthBasic},
		{"wrong password", func(fixture) confluence.Credential { return confluence.BasicAuth("alice", "not-her-password") }, "", confluence.AuthBasic},
		{"someone else's password", func(fixture) confluence.Credential { return confluence.BasicAuth("alice", bobPassword) }, "", confluence.AuthBasic},
		{"unknown user", func(fixture) confluence.Credential { return confluence.BasicAuth("mallory", "whatever-pw") }, "", confluence.AuthBasic},
		{"unknown token", func(fixture) confluence.Credential { return confluence.BearerToken("no-such-token-123") }, "", confluence.AuthBearer},
		{"revoked token", func(f fixture) confluence.Credential {
			tok := f.srv.IssuePAT("alice")
			f.srv.RevokePAT(tok)
			return confluence.BearerToken(tok)
		}, "", confluence.AuthBearer},
		{"anonymous", func(fixture) confluence.Credential { return confluence.Credential{} }, "", confluence.AuthNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, confluencetest.Options{}, confluence.Config{})
			cred := tt.cred(f)
			u, err := f.c.WithCredential(cred).CurrentUser(t.Context())
			if tt.wantUser == "" {
				if !confluence.IsUnauthorized(err) {
					t.Fatalf("CurrentUser = %+v, %v; want 401", u, err)
				}
			} else if err != nil || u.Username != tt.wantUser {
				t.Fatalf("CurrentUser = %+v, %v; want %s", u, err, tt.wantUser)
			}
			reqs := f.srv.Requests()
			if len(reqs) == 0 || reqs[0].Path != "/rest/api/user/current" || reqs[0].Auth != tt.wantAuth {
				t.Fatalf("requests %+v: want /rest/api/user/current with %s auth first", reqs, tt.wantAuth)
			}
			if reqs[0].Authenticated != (tt.wantUser != "") {
				t.Errorf("server says authenticated = %v", reqs[0].Authenticated)
			}
		})
	}
}

func TestCredentialIsSentOnlyAsAuthorization(t *testing.T) {
	f := setup(t, confluencetest.Options{}, confluence.Config{})
	if _, err := f.c.WithCredential(confluence.BasicAuth("alice", alicePassword)).UserByUsername(t.Context(), "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.UserByUsername(t.Context(), "bob"); err != nil {
		t.Fatal(err)
	}
	reqs := f.srv.Requests()
	if len(reqs) != 2 {
		t.Fatalf("requests: %+v", reqs)
	}
	if r := reqs[0]; r.Auth != confluence.AuthBasic || r.Username != "alice" || r.Secret != alicePassword {
		t.Errorf("derived client sent %s as %q with %q; want basic alice", r.Auth, r.Username, r.Secret)
	}
	// WithCredential returned a copy: the original still calls as the service account.
	if r := reqs[1]; r.Auth != confluence.AuthBearer || r.Username != "svc" || r.Secret != f.svcPAT {
		t.Errorf("original client sent %s as %q; want bearer svc", r.Auth, r.Username)
	}
	for _, r := range reqs {
		for k, vs := range r.Query {
			for _, v := range vs {
				if strings.Contains(v, alicePassword) || strings.Contains(v, f.svcPAT) {
					t.Errorf("secret in query %s=%s", k, v)
				}
			}
		}
	}
}

func TestDeactivatedUser(t *testing.T) {
	f := setup(t, confluencetest.Options{}, confluence.Config{})
	pat := f.srv.IssuePAT("alice")
	f.srv.Deactivate("alice")

	u, err := f.c.UserByKey(t.Context(), f.alice.Key)
	if err != nil {
		t.Fatal(err)
	}
	if u.Active || u.Status != confluence.StatusDeactivated {
		t.Errorf("deactivated alice: Active %v, Status %q", u.Active, u.Status)
	}
	for _, cred := range []confluence.Credential{confluence.BasicAuth("alice", alicePassword), confluence.BearerToken(pat)} {
		if _, err := f.c.WithCredential(cred).CurrentUser(t.Context()); !confluence.IsUnauthorized(err) {
			t.Errorf("deactivated alice signing in with %v: %v, want 401", cred, err)
		}
	}
	f.srv.Reactivate("alice")
	if u, err := f.c.UserByKey(t.Context(), f.alice.Key); err != nil || !u.Active || u.Status != confluence.StatusCurrent {
		t.Errorf("reactivated alice: %+v, %v", u, err)
	}
}

func TestUserLookupsAndEmailFallbacks(t *testing.T) {
	lookups := []struct {
		name string
		get  func(f fixture, ctx context.Context) (confluence.User, error)
	}{
		{"UserByKey", func(f fixture, ctx context.Context) (confluence.User, error) { return f.c.UserByKey(ctx, f.alice.Key) }},
		{"UserByUsername", func(f fixture, ctx context.Context) (confluence.User, error) { return f.c.UserByUsername(ctx, "alice") }},
		{"CurrentUser", func(f fixture, ctx context.Context) (confluence.User, error) {
			return f.c.WithCredential(confluence.BasicAuth("alice", alicePassword)).CurrentUser(ctx)
		}},
	}
	tests := []struct {
		name        string
		opts        confluencetest.Options
		email       string
		hidden      bool
		fault       bool // the mobile profile answers 500
		wantEmail   string
		wantMobile  int // requests to the mobile profile
		wantErrCode int
	}{
		{"details.personal", confluencetest.Options{}, "alice@example.com", false, false, "alice@example.com", 0, 0},
		{"top-level email", confluencetest.Options{EmailAtTopLevel: true}, "alice@example.com", false, false, "alice@example.com", 0, 0},
		{"hidden: mobile profile", confluencetest.Options{}, "alice@example.com", true, false, "alice@example.com", 1, 0},
		{"hidden, top-level build: mobile profile", confluencetest.Options{EmailAtTopLevel: true}, "alice@example.com", true, false, "alice@example.com", 1, 0},
		{"hidden, no mobile plugin", confluencetest.Options{NoMobileProfile: true}, "alice@example.com", true, false, "", 1, 0},
		{"no e-mail anywhere", confluencetest.Options{}, "", false, false, "", 1, 0},
		{"mobile profile failing", confluencetest.Options{}, "alice@example.com", true, true, "", 1, 500},
	}
	for _, lk := range lookups {
		for _, tt := range tests {
			t.Run(lk.name+"/"+tt.name, func(t *testing.T) {
				f := setup(t, tt.opts, confluence.Config{MaxRetries: -1})
				f.srv.SetEmail("alice", tt.email, tt.hidden)
				if tt.fault {
					f.srv.InjectFault(confluencetest.Fault{Path: "/rest/mobile/", Status: 500}, 1)
				}
				u, err := lk.get(f, t.Context())
				if tt.wantErrCode != 0 {
					if confluence.StatusCode(err) != tt.wantErrCode {
						t.Fatalf("got %+v, %v; want HTTP %d", u, err, tt.wantErrCode)
					}
				} else {
					want := confluence.User{
						Key: f.alice.Key, Username: "alice", DisplayName: "Alice Liddell",
						Email: tt.wantEmail, Active: true, Status: confluence.StatusCurrent,
					}
					if err != nil || u != want {
						t.Fatalf("got %+v, %v; want %+v", u, err, want)
					}
				}
				if got := len(f.srv.RequestsTo("/rest/mobile/1.0/profile/alice")); got != tt.wantMobile {
					t.Errorf("mobile profile requests = %d, want %d", got, tt.wantMobile)
				}
				first := f.srv.Requests()[0]
				if exp := first.Query.Get("expand"); !strings.Contains(exp, "status") || !strings.Contains(exp, "details.personal") {
					t.Errorf("expand = %q, want status and details.personal", exp)
				}
			})
		}
	}
}

func TestUserNotFoundAndRename(t *testing.T) {
	f := setup(t, confluencetest.Options{}, confluence.Config{})
	_, err := f.c.UserByUsername(t.Context(), "nobody")
	e := asError(t, err)
	if !confluence.IsNotFound(err) || e.Path != "/rest/api/user" || e.API != "user.by_username" ||
		!strings.Contains(e.Message, "No user found") {
		t.Errorf("unknown user: %+v", e)
	}
	if _, err := f.c.UserByKey(t.Context(), "ffffffffffffffffffffffffffffffff"); !confluence.IsNotFound(err) {
		t.Errorf("unknown key: %v", err)
	}
	if _, err := f.c.UserByKey(t.Context(), ""); err == nil || confluence.StatusCode(err) != 0 {
		t.Errorf("empty key: %v, want an error before any request", err)
	}

	f.srv.RenameUser("alice", "alice.liddell")
	u, err := f.c.UserByKey(t.Context(), f.alice.Key)
	if err != nil || u.Username != "alice.liddell" || u.Key != f.alice.Key {
		t.Errorf("after rename: %+v, %v; want the same key with the new username", u, err)
	}
	if _, err := f.c.UserByUsername(t.Context(), "alice"); !confluence.IsNotFound(err) {
		t.Errorf("old username after rename: %v, want 404", err)
	}
}

func TestTimeoutIsATransportError(t *testing.T) {
	f := setup(t, confluencetest.Options{}, confluence.Config{
		HTTPClient: &http.Client{Timeout: 50 * time.Millisecond},
		MaxRetries: -1,
	})
	f.srv.InjectFault(confluencetest.Fault{Stall: true}, 1)
	_, err := f.c.UserByUsername(t.Context(), "alice")
	if err == nil {
		t.Fatal("a stalled Confluence answered")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
	}
	if confluence.StatusCode(err) != 0 {
		t.Errorf("a timeout carries HTTP status %d", confluence.StatusCode(err))
	}
	if msg := err.Error(); !strings.Contains(msg, "user.by_username") || !strings.Contains(msg, "GET /rest/api/user") ||
		strings.Contains(msg, f.svcPAT) || strings.Contains(msg, "http://") {
		t.Errorf("error %q: want the API and path, no URL and no token", msg)
	}
}

func TestRetryAfterIsHonouredOnTheClock(t *testing.T) {
	clock := newClock()
	tests := []struct {
		name       string
		status     int
		retryAfter string
		wait       time.Duration
	}{
		{"429 with seconds", http.StatusTooManyRequests, "30", 30 * time.Second},
		{"503 with seconds", http.StatusServiceUnavailable, "7", 7 * time.Second},
		{"429 with an HTTP date", http.StatusTooManyRequests, clock.Now().Add(45 * time.Second).Format(http.TimeFormat), 45 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newClock()
			f := setup(t, confluencetest.Options{}, confluence.Config{Clock: clock})
			f.srv.InjectFault(confluencetest.Fault{Status: tt.status, RetryAfter: tt.retryAfter}, 1)
			done := make(chan error, 1)
			go func() {
				_, err := f.c.UserByUsername(t.Context(), "alice")
				done <- err
			}()
			if err := clock.BlockUntilContext(t.Context(), 1); err != nil {
				t.Fatal(err)
			}
			clock.Advance(tt.wait - time.Second)
			// Advance fires due timers before it returns, so a client timer still pending
			// now is one set for the full Retry-After (a cancelled context makes
			// BlockUntilContext only look, not wait).
			if !stillWaiting(clock) {
				t.Fatalf("the client stopped waiting a second before Retry-After ran out")
			}
			clock.Advance(time.Second)
			if err := <-done; err != nil {
				t.Fatalf("after Retry-After: %v", err)
			}
			if got := len(f.srv.Requests()); got != 2 {
				t.Errorf("requests = %d, want 2", got)
			}
		})
	}
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name       string
		fault      confluencetest.Fault
		times      int
		maxRetries int
		wantReqs   int
		wantStatus int // 0: success
	}{
		{"503 twice then success", confluencetest.Fault{Status: 503}, 2, 3, 3, 0},
		{"502 from a proxy", confluencetest.Fault{Status: 502, Body: "<html><title>502 Bad Gateway</title></html>", ContentType: "text/html"}, 1, 3, 2, 0},
		{"dropped connection", confluencetest.Fault{Drop: true}, 2, 3, 3, 0},
		{"bounded: gives up after MaxRetries", confluencetest.Fault{Status: 503}, 100, 2, 3, 503},
		{"Retry-After beyond MaxRetryAfter is not waited", confluencetest.Fault{Status: 429, RetryAfter: "3600"}, 1, 3, 1, 429},
		{"404 is not retried", confluencetest.Fault{Status: 404}, 5, 3, 1, 404},
		{"401 is not retried", confluencetest.Fault{Status: 401}, 5, 3, 1, 401},
		{"500 is not retried", confluencetest.Fault{Status: 500}, 5, 3, 1, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newClock()
			f := setup(t, confluencetest.Options{}, confluence.Config{Clock: clock, MaxRetries: tt.maxRetries})
			f.srv.InjectFault(tt.fault, tt.times)
			var u confluence.User
			err := retrying(t, clock, func() (err error) {
				u, err = f.c.UserByUsername(t.Context(), "alice")
				return err
			})
			if tt.wantStatus == 0 && (err != nil || u.Username != "alice") {
				t.Fatalf("got %+v, %v; want alice", u, err)
			}
			if tt.wantStatus != 0 && confluence.StatusCode(err) != tt.wantStatus {
				t.Fatalf("error %v, want HTTP %d", err, tt.wantStatus)
			}
			if got := len(f.srv.Requests()); got != tt.wantReqs {
				t.Errorf("requests = %d, want %d", got, tt.wantReqs)
			}
		})
	}
}

func TestRetryAfterTooLongIsReported(t *testing.T) {
	f := setup(t, confluencetest.Options{}, confluence.Config{MaxRetryAfter: time.Minute})
	f.srv.InjectFault(confluencetest.Fault{Status: 429, RetryAfter: "120"}, 1)
	_, err := f.c.UserByUsername(t.Context(), "alice")
	if e := asError(t, err); e.RetryAfter != 2*time.Minute || e.Status != 429 {
		t.Errorf("got %+v, want 429 with RetryAfter 2m", e)
	}
}

func TestCancelStopsRetrying(t *testing.T) {
	clock := newClock()
	f := setup(t, confluencetest.Options{}, confluence.Config{Clock: clock})
	f.srv.FailNext(503, 100)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := f.c.UserByUsername(ctx, "alice")
		done <- err
	}()
	if err := clock.BlockUntilContext(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) || confluence.StatusCode(err) != 503 {
		t.Fatalf("error %v, want the cancellation and the last 503", err)
	}
	if got := len(f.srv.Requests()); got != 1 {
		t.Errorf("requests = %d, want 1", got)
	}
}

func TestErrorMessages(t *testing.T) {
	tests := []struct {
		name   string
		fault  confluencetest.Fault
		status int
		want   string
	}{
		{"Confluence JSON body", confluencetest.Fault{Status: 500}, 500, "confluencetest: injected Internal Server Error"},
		{"JSON with errorMessages", confluencetest.Fault{Status: 400, Body: `{"errorMessages":["bad expand","bad limit"]}`, ContentType: "application/json"}, 400, "bad expand; bad limit"},
		{"XSRF plain text", confluencetest.Fault{Status: 403, Body: "XSRF check failed\n"}, 403, "XSRF check failed"},
		{"HTML error page", confluencetest.Fault{Status: 500, Body: "<!DOCTYPE html><html><head><title>Oops - an error has occurred &amp; more</title></head><body><h1>Oops</h1></body></html>", ContentType: "text/html;charset=UTF-8"}, 500, "Oops - an error has occurred & more"},
		{"HTML without title", confluencetest.Fault{Status: 500, Body: "<html><body><p>System   error</p>\n</body></html>", ContentType: "text/html"}, 500, "System error"},
		{"empty body", confluencetest.Fault{Status: 400, Body: " ", ContentType: "text/plain"}, 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, confluencetest.Options{}, confluence.Config{MaxRetries: -1})
			f.srv.InjectFault(tt.fault, 1)
			_, err := f.c.UserByUsername(t.Context(), "alice")
			e := asError(t, err)
			if e.Status != tt.status || e.Message != tt.want || e.Method != http.MethodGet || e.Path != "/rest/api/user" {
				t.Errorf("got %+v, want status %d message %q", e, tt.status, tt.want)
			}
			if tt.want == "" && !strings.Contains(err.Error(), http.StatusText(tt.status)) {
				t.Errorf("error %q lacks the status text", err)
			}
		})
	}
}

func TestErrorPredicates(t *testing.T) {
	tests := []struct {
		err                         error
		unauthorized, forbidden, nf bool
	}{
		{&confluence.Error{Status: 401}, true, false, false},
		{&confluence.Error{Status: 403}, false, true, false},
		{fmt.Errorf("wrapped: %w", &confluence.Error{Status: 404}), false, false, true},
		{&confluence.Error{Status: 500}, false, false, false},
		{errors.New("plain"), false, false, false},
		{nil, false, false, false},
	}
	for _, tt := range tests {
		if got := confluence.IsUnauthorized(tt.err); got != tt.unauthorized {
			t.Errorf("IsUnauthorized(%v) = %v", tt.err, got)
		}
		if got := confluence.IsForbidden(tt.err); got != tt.forbidden {
			t.Errorf("IsForbidden(%v) = %v", tt.err, got)
		}
		if got := confluence.IsNotFound(tt.err); got != tt.nf {
			t.Errorf("IsNotFound(%v) = %v", tt.err, got)
		}
	}
}

func TestNonJSONSuccessIsAnError(t *testing.T) {
	// A login page answering 200 must not pass for an empty user.
	f := setup(t, confluencetest.Options{}, confluence.Config{})
	f.srv.InjectFault(confluencetest.Fault{Status: 200, Body: "<html><title>Log in - Confluence</title></html>", ContentType: "text/html"}, 1)
	if u, err := f.c.UserByUsername(t.Context(), "alice"); err == nil || !strings.Contains(err.Error(), "not JSON") {
		t.Fatalf("got %+v, %v; want a not-JSON error", u, err)
	}
}

func TestNewRefusesBadBaseURLs(t *testing.T) {
	tests := []struct{ url, wantIn string }{
		{"", "http"},
		{"ftp://wiki.example.com", "http"},
		{"https://", "host"},
		{"https://svc:hunter2-secret@wiki.example.com", "user info"},
		{"https://wiki.example.com/?a=b", "query"},
	}
	for _, tt := range tests {
		_, err := confluence.New(confluence.Config{BaseURL: tt.url})
		if err == nil || !strings.Contains(err.Error(), tt.wantIn) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("New(%q) = %v, want an error about %s without the password", tt.url, err, tt.wantIn)
		}
	}
	c, err := confluence.New(confluence.Config{BaseURL: "https://example.com/confluence/"})
	if err != nil || c.BaseURL() != "https://example.com/confluence" {
		t.Errorf("New with a context path: %v, base %q", err, c.BaseURL())
	}
}

// TestSecretsNeverLeak forces every kind of failure with secret-bearing credentials and
// checks that neither errors nor log lines (at debug level) carry a secret.
func TestSecretsNeverLeak(t *testing.T) {
	const token = "PAT-0123456789-very-secret"
	const password = "pw-9876543210-very-secret"
	secrets := []string{token, password, "very-secret",
		"Basic " + base64Basic("alice", password), base64Basic("alice", password)}

	// An echoing server: it repeats the Authorization header and the password in its
	// error pages, as a badly configured proxy might.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		_, pw, _ := r.BasicAuth()
		switch {
		case strings.HasPrefix(r.URL.Path, "/html"):
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(503)
			fmt.Fprintf(w, "<html><title>Denied for %s (%s)</title></html>", auth, pw)
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			fmt.Fprintf(w, `{"statusCode":401,"message":"bad credentials: %s / %s"}`, auth, pw)
		}
	}))
	t.Cleanup(echo.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := "http://" + ln.Addr().String()
	ln.Close()

	creds := []confluence.Credential{confluence.BearerToken(token), confluence.BasicAuth("alice", password)}
	for _, cred := range creds {
		var logs syncBuffer
		logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		clock := newClock()
		f := setup(t, confluencetest.Options{}, confluence.Config{Logger: logger, Clock: clock, MaxRetries: 1})
		f.srv.SetEmail("alice", "alice@example.com", true)
		c := f.c.WithCredential(cred)
		newAt := func(base string) *confluence.Client {
			cc, err := confluence.New(confluence.Config{BaseURL: base, Credential: cred, Logger: logger, Clock: clock, MaxRetries: 1})
			if err != nil {
				t.Fatal(err)
			}
			return cc
		}
		stalled := newAtWithTimeout(t, f.srv.URL(), cred, logger)

		calls := []struct {
			name string
			call func() error
		}{
			{"refused credential", func() error { _, err := c.CurrentUser(t.Context()); return err }},
			{"dropped connection, retried", func() error {
				f.srv.InjectFault(confluencetest.Fault{Drop: true}, 2)
				_, err := c.UserByUsername(t.Context(), "alice")
				return err
			}},
			{"echoed in JSON", func() error { _, err := newAt(echo.URL).CurrentUser(t.Context()); return err }},
			{"echoed in HTML, retried", func() error {
				_, err := newAt(echo.URL+"/html").UserByKey(t.Context(), "k")
				return err
			}},
			{"connection refused, retried", func() error { _, err := newAt(closedPort).CurrentUser(t.Context()); return err }},
			{"timeout", func() error {
				f.srv.InjectFault(confluencetest.Fault{Stall: true}, 1)
				_, err := stalled.CurrentUser(t.Context())
				return err
			}},
			{"group listing", func() error {
				for _, err := range c.GroupMembers(t.Context(), "confluence-users") {
					return err
				}
				return nil
			}},
		}
		for _, tc := range calls {
			name := tc.name
			err := retrying(t, clock, tc.call)
			if err == nil {
				t.Errorf("%v / %s: no error", cred, name)
				continue
			}
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("%v / %s: error %q contains a secret", cred, name, err)
				}
			}
		}
		for _, s := range secrets {
			if strings.Contains(logs.String(), s) {
				t.Errorf("%v: logs contain a secret:\n%s", cred, logs.String())
			}
		}
		if !strings.Contains(logs.String(), "retrying") {
			t.Errorf("%v: no retry was logged, so the log check proved little:\n%s", cred, logs.String())
		}
		for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
			for _, v := range []any{cred, f.c, *f.c, confluence.Config{Credential: cred}} {
				if out := fmt.Sprintf(format, v); strings.Contains(out, "very-secret") || strings.Contains(out, f.svcPAT) {
					t.Errorf("Sprintf(%q, %T) = %s", format, v, out)
				}
			}
		}
	}
}

func newAtWithTimeout(t *testing.T, base string, cred confluence.Credential, logger *slog.Logger) *confluence.Client {
	t.Helper()
	c, err := confluence.New(confluence.Config{
		BaseURL: base, Credential: cred, Logger: logger, MaxRetries: -1,
		HTTPClient: &http.Client{Timeout: 50 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func base64Basic(user, pw string) string {
	req, _ := http.NewRequest(http.MethodGet, "http://x", nil)
	req.SetBasicAuth(user, pw)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

func TestCurrentUserWithoutUserKey(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"type":"known","username":"alice","displayName":"Alice","status":"current","details":{"personal":{"email":"a@example.com"}}}`))
	}))
	defer srv.Close()
	c, err := confluence.New(confluence.Config{BaseURL: srv.URL, Credential: confluence.BearerToken("tok")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CurrentUser(t.Context()); !errors.Is(err, confluence.ErrNoUserKey) || confluence.IsUnauthorized(err) {
		t.Fatalf("CurrentUser of a user without a key: %v, want ErrNoUserKey", err)
	}
}

func TestIsUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	c, err := confluence.New(confluence.Config{BaseURL: base, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CurrentUser(t.Context())
	if !confluence.IsUnreachable(err) {
		t.Fatalf("CurrentUser of a closed server: %v, want unreachable", err)
	}
	if confluence.IsUnreachable(&confluence.Error{Status: 404}) {
		t.Errorf("an HTTP answer counted as unreachable")
	}
}
