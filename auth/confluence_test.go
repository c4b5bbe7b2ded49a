package auth_test

import (
	"bytes"
	"context"
	"errors"
	"golang.org/x/crypto/bcrypt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"golang.org/x/oauth2"

	"github.com/dingfluence/dingfluence/auth"
	"github.com/dingfluence/dingfluence/confluence"
	"github.com/dingfluence/dingfluence/confluence/confluencetest"
	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/models/modelstest"
	"github.com/dingfluence/dingfluence/secretbox"
	"github.com/dingfluence/dingfluence/settings"
)

const (
	redirectURL   = "https://dingfluence.example.com/login/confluence/callback"
	clientID      = "df-client"
	clientSecret  = "df-client-secret"
	alicePassword = "alice-Confluence-pw"
	adminGroup    = "confluence-administrators"
)

// staticSettings is the Confluence configuration as settings.Confluence would hand it out.
type staticSettings struct {
	in  settings.SignIn
	err error
}

func (s *staticSettings) SignIn(context.Context) (settings.SignIn, error) { return s.in, s.err }

// cfFixture is a Confluence (the double) with a service account "svc", "alice" and
// "bob", the app's store on SQLite and the sign-in services wired to them.
type cfFixture struct {
	srv      *confluencetest.Server
	settings *staticSettings
	store    *models.Store
	cf       *auth.Confluence
	svc      *auth.Service
	clock    *clockwork.FakeClock
	logs     *bytes.Buffer
}

func newCFFixture(t *testing.T) *cfFixture {
	t.Helper()
	srv := confluencetest.New(t)
	srv.AddUser(confluencetest.User{Username: "svc", Admin: true, Password: "svc-pw"})
	srv.AddUser(confluencetest.User{Username: "alice", DisplayName: "Alice Zhang", Email: "alice@example.com", Password: alicePassword})
	srv.AddUser(confluencetest.User{Username: "bob", Password: "bob-Confluence-pw"})
	srv.AddToGroup("confluence-users", "alice", "bob")
	srv.RegisterOAuthClient(clientID, clientSecret, redirectURL)

	client, err := confluence.New(confluence.Config{BaseURL: srv.URL(), MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	set := &staticSettings{in: settings.SignIn{
		Client:     client,
		Service:    client.WithCredential(confluence.BearerToken(srv.IssuePAT("svc"))),
		AdminGroup: adminGroup,
		OAuth: &oauth2.Config{ClientID: clientID, ClientSecret: clientSecret, Endpoint: client.OAuth2Endpoint(),
			RedirectURL: redirectURL, Scopes: []string{confluence.ScopeRead}},
	}}
	box, err := secretbox.New(bytes.Repeat([]byte{3}, secretbox.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	store := models.NewStore(modelstest.SQLite(t), box)
	hashBytes, err := bcrypt.GenerateFromPassword([]byte("local-admin-password"), bcrypt.MinCost)
	hash := string(hashBytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateUser(context.Background(), &models.User{Username: "admin", PasswordHash: hash, IsAdmin: true, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	clock := clockwork.NewFakeClockAt(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))
	logs := &bytes.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cf := auth.NewConfluence(set, store, auth.ConfluenceOptions{Clock: clock, Logger: logger})
	svc, err := auth.NewService(store, auth.NewThrottle(3, time.Minute, 0, clock), logger, auth.WithConfluence(cf), auth.WithPasswordCost(bcrypt.MinCost))
	if err != nil {
		t.Fatal(err)
	}
	return &cfFixture{srv: srv, settings: set, store: store, cf: cf, svc: svc, clock: clock, logs: logs}
}

// authorize follows BeginOAuth's URL to the double as a browser signed in to Confluence
// would, and returns the callback's query.
func (f *cfFixture) authorize(t *testing.T, start auth.OAuthStart) url.Values {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(start.URL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), redirectURL+"?") {
		t.Fatalf("authorize answered %d, Location %q; want a redirect to the callback", res.StatusCode, res.Header.Get("Location"))
	}
	return loc.Query()
}

// oauth runs the whole flow as username with the browser's consent.
func (f *cfFixture) oauth(t *testing.T, username string) (models.User, error) {
	t.Helper()
	f.srv.SetBrowserUser(username, confluencetest.ConsentApprove)
	start, err := f.cf.BeginOAuth(t.Context())
	if err != nil {
		t.Fatalf("BeginOAuth: %v", err)
	}
	q := f.authorize(t, start)
	return f.cf.CompleteOAuth(t.Context(), auth.OAuthCallback{WantState: start.State, Verifier: start.Verifier,
		State: q.Get("state"), Code: q.Get("code"), Error: q.Get("error")}, "10.0.0.1")
}

func failureOf(err error) auth.Failure {
	var ce *auth.ConfluenceError
	if errors.As(err, &ce) {
		return ce.Failure
	}
	return ""
}

func (f *cfFixture) lastAudit(t *testing.T) models.AuditEntry {
	t.Helper()
	entries, err := f.store.RecentAudit(context.Background(), 1)
	if err != nil || len(entries) != 1 {
		t.Fatalf("audit: %v, %v", entries, err)
	}
	return entries[0]
}

func TestConfluencePasswordAndTokenSignIn(t *testing.T) {
	tests := []struct {
		name     string
		username string
		secret   func(f *cfFixture) string
		wantUser string // "" → refused
		wantErr  error
		wantAuth []confluence.AuthKind // the credentials sent to /rest/api/user/current, in order
	}{
		{"password", "alice", func(*cfFixture) string { return alicePassword }, "alice", nil, []confluence.AuthKind{confluence.AuthBasic}},
		{"username in another case", "ALICE", func(*cfFixture) string { return alicePassword }, "alice", nil, []confluence.AuthKind{confluence.AuthBasic}},
		{"personal access token, as Bearer", "alice", func(f *cfFixture) string { return f.srv.IssuePAT("alice") }, "alice", nil, []confluence.AuthKind{confluence.AuthBearer}},
		{"wrong password", "alice", func(*cfFixture) string { return "not-her-password" }, "", auth.ErrInvalidCredentials, []confluence.AuthKind{confluence.AuthBasic}},
		{"unknown user", "mallory", func(*cfFixture) string { return "whatever" }, "", auth.ErrInvalidCredentials, []confluence.AuthKind{confluence.AuthBasic}},
		{"someone else's token", "alice", func(f *cfFixture) string { return f.srv.IssuePAT("bob") }, "", auth.ErrInvalidCredentials, []confluence.AuthKind{confluence.AuthBearer}},
		{"revoked token, then tried as a password", "alice", func(f *cfFixture) string {
			tok := f.srv.IssuePAT("alice")
			f.srv.RevokePAT(tok)
			return tok
		}, "", auth.ErrInvalidCredentials, []confluence.AuthKind{confluence.AuthBearer, confluence.AuthBasic}},
		{"deactivated account", "bob", func(f *cfFixture) string { f.srv.Deactivate("bob"); return "bob-Confluence-pw" }, "", auth.ErrInvalidCredentials, []confluence.AuthKind{confluence.AuthBasic}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newCFFixture(t)
			secret := tt.secret(f)
			f.srv.ResetRequests()
			u, err := f.svc.Authenticate(t.Context(), tt.username, secret, "10.0.0.1")
			if tt.wantUser == "" {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Authenticate = %+v, %v; want %v", u, err, tt.wantErr)
				}
				if a := f.lastAudit(t); a.Action != models.ActionSignInFailed || !strings.Contains(a.Details, auth.MethodConfluencePassword) {
					t.Errorf("audit %+v, want a failed confluence-password sign-in", a)
				}
			} else {
				if err != nil || u.Username != tt.wantUser || u.UserKey == nil || u.IsAdmin {
					t.Fatalf("Authenticate = %+v, %v; want %s, not admin", u, err, tt.wantUser)
				}
				if a := f.lastAudit(t); a.Action != models.ActionSignIn || a.Details != "method: "+auth.MethodConfluencePassword || a.Actor != tt.wantUser {
					t.Errorf("audit %+v", a)
				}
			}
			var sent []confluence.AuthKind
			for _, r := range f.srv.RequestsTo("/rest/api/user/current") {
				sent = append(sent, r.Auth)
			}
			if !equalKinds(sent, tt.wantAuth) {
				t.Errorf("credentials sent to user/current: %v, want %v", sent, tt.wantAuth)
			}
			if strings.Contains(f.logs.String(), secret) {
				t.Errorf("the secret is in the log")
			}
		})
	}
}

func equalKinds(a, b []confluence.AuthKind) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLocalAccountTakesPrecedence(t *testing.T) {
	f := newCFFixture(t)
	// Confluence has an "admin" too; the local account keeps the name.
	f.srv.AddUser(confluencetest.User{Username: "admin", Password: "confluence-admin-pw"})
	f.srv.ResetRequests()
	if u, err := f.svc.Authenticate(t.Context(), "admin", "local-admin-password", "10.0.0.1"); err != nil || u.UserKey != nil || !u.IsAdmin {
		t.Fatalf("local admin: %+v, %v", u, err)
	}
	if _, err := f.svc.Authenticate(t.Context(), "admin", "confluence-admin-pw", "10.0.0.1"); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Fatalf("Confluence's admin password signed in the local admin: %v", err)
	}
	if n := len(f.srv.Requests()); n != 0 {
		t.Errorf("Confluence was asked %d times about a local account", n)
	}
	// Through OAuth, the Confluence "admin" is refused rather than given the local row.
	if _, err := f.oauth(t, "admin"); failureOf(err) != auth.FailureLocalAccount {
		t.Errorf("OAuth as Confluence's admin: %v, want %s", err, auth.FailureLocalAccount)
	}
}

func TestConfluenceAdminGroupIsCheckedAtEverySignIn(t *testing.T) {
	for _, withService := range []bool{true, false} {
		name := "asked with the service account"
		if !withService {
			name = "asked with the user's own credential"
		}
		t.Run(name, func(t *testing.T) {
			f := newCFFixture(t)
			if !withService {
				f.settings.in.Service = nil
			}
			signIn := func() models.User {
				t.Helper()
				u, err := f.svc.Authenticate(t.Context(), "alice", alicePassword, "10.0.0.1")
				if err != nil {
					t.Fatal(err)
				}
				return u
			}
			if u := signIn(); u.IsAdmin {
				t.Fatalf("alice is admin before joining the admin group")
			}
			f.srv.AddToGroup(adminGroup, "alice")
			if u := signIn(); !u.IsAdmin {
				t.Fatalf("alice is not admin after joining the admin group")
			}
			f.srv.RemoveFromGroup(adminGroup, "alice")
			if u := signIn(); u.IsAdmin {
				t.Fatalf("alice kept admin after leaving the admin group")
			}
			want := confluence.AuthBearer
			if !withService {
				want = confluence.AuthBasic
			}
			reqs := f.srv.RequestsTo("/rest/api/user/memberof")
			if len(reqs) != 3 || reqs[0].Auth != want {
				t.Errorf("memberof requests %+v, want 3 with %s auth", reqs, want)
			}
		})
	}
}

func TestConfluenceRenameKeepsTheRow(t *testing.T) {
	f := newCFFixture(t)
	first, err := f.svc.Authenticate(t.Context(), "alice", alicePassword, "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	f.srv.RenameUser("alice", "alice.zhang")
	f.srv.SetEmail("alice.zhang", "alice.zhang@example.com", false)
	// The new name through OAuth this time: both ways write the same row.
	second, err := f.oauth(t, "alice.zhang")
	if err != nil {
		t.Fatal(err)
	}
	if second.ID != first.ID || second.Username != "alice.zhang" || second.Email != "alice.zhang@example.com" || *second.UserKey != *first.UserKey {
		t.Fatalf("after rename %+v, want row %d renamed", second, first.ID)
	}
}

func TestConfluenceDeactivatedAccountIsRefused(t *testing.T) {
	f := newCFFixture(t)
	alice, _ := f.srv.User("alice")
	// A Confluence that still answers for the account but reports it deactivated.
	body := `{"type":"known","username":"alice","userKey":"` + alice.Key + `","displayName":"Alice","status":"deactivated","details":{"personal":{"email":"alice@example.com"}}}`
	f.srv.InjectFault(confluencetest.Fault{Path: "/rest/api/user/current", Status: http.StatusOK, Body: body, ContentType: "application/json"}, 1)
	if _, err := f.svc.Authenticate(t.Context(), "alice", alicePassword, "10.0.0.1"); failureOf(err) != auth.FailureDeactivated {
		t.Fatalf("deactivated alice: %v, want %s", err, auth.FailureDeactivated)
	}
	if _, err := f.store.UserByUsername(t.Context(), "alice"); !errors.Is(err, models.ErrNotFound) {
		t.Errorf("a row was written for a deactivated account: %v", err)
	}
	if a := f.lastAudit(t); a.Action != models.ActionSignInFailed || !strings.Contains(a.Details, "deactivated") {
		t.Errorf("audit %+v", a)
	}
}

func TestConfluenceFailuresAreTold(t *testing.T) {
	tests := []struct {
		name   string
		breakf func(f *cfFixture)
		want   auth.Failure
	}{
		{"unreachable", func(f *cfFixture) { f.srv.Close() }, auth.FailureUnreachable},
		{"unavailable", func(f *cfFixture) { f.srv.FailNext(http.StatusServiceUnavailable, 1) }, auth.FailureUnreachable},
		{"nothing at the URL", func(f *cfFixture) {
			f.srv.InjectFault(confluencetest.Fault{Path: "/rest/api/user/current", Status: http.StatusNotFound}, 1)
		}, auth.FailureMisconfigured},
		{"a login page instead of the API", func(f *cfFixture) {
			f.srv.InjectFault(confluencetest.Fault{Path: "/rest/api/user/current", Status: http.StatusOK, Body: "<html><title>Log in</title></html>", ContentType: "text/html"}, 1)
		}, auth.FailureMisconfigured},
		{"service token without rights", func(f *cfFixture) { f.srv.SetAdmin("svc", false) }, auth.FailureMisconfigured},
		{"no user key", func(f *cfFixture) {
			f.srv.InjectFault(confluencetest.Fault{Path: "/rest/api/user/current", Status: http.StatusOK,
				Body: `{"type":"known","username":"alice","displayName":"Alice","status":"current"}`, ContentType: "application/json"}, 1)
		}, auth.FailureNoUserKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newCFFixture(t)
			tt.breakf(f)
			_, err := f.svc.Authenticate(t.Context(), "alice", alicePassword, "10.0.0.1")
			if failureOf(err) != tt.want {
				t.Fatalf("Authenticate: %v, want %s", err, tt.want)
			}
		})
	}
}

func TestConfluenceNotConfigured(t *testing.T) {
	f := newCFFixture(t)
	f.settings.in, f.settings.err = settings.SignIn{}, settings.ErrConfluenceNotConfigured
	if _, err := f.svc.Authenticate(t.Context(), "alice", alicePassword, "10.0.0.1"); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("password sign-in without Confluence: %v, want invalid credentials", err)
	}
	if _, err := f.svc.Authenticate(t.Context(), "admin", "local-admin-password", "10.0.0.1"); err != nil {
		t.Errorf("local admin without Confluence: %v", err)
	}
	if f.cf.Offered(t.Context()) != (auth.Offered{}) {
		t.Errorf("Confluence sign-in offered without Confluence")
	}
	if _, err := f.cf.BeginOAuth(t.Context()); failureOf(err) != auth.FailureNotConfigured {
		t.Errorf("BeginOAuth: %v", err)
	}
	// Confluence without an OAuth client: passwords work, the button is not offered.
	g := newCFFixture(t)
	g.settings.in.OAuth = nil
	if got := g.cf.Offered(t.Context()); got != (auth.Offered{Password: true}) {
		t.Errorf("offered %+v without an OAuth client, want passwords only", got)
	}
	if _, err := g.svc.Authenticate(t.Context(), "alice", alicePassword, "10.0.0.1"); err != nil {
		t.Errorf("password sign-in without OAuth: %v", err)
	}
}

// A throttled attempt is refused before Confluence is asked; an attempt Confluence could
// not judge does not count.
func TestConfluenceSignInIsThrottled(t *testing.T) {
	f := newCFFixture(t)
	f.srv.FailNext(http.StatusServiceUnavailable, 5)
	for range 5 {
		if _, err := f.svc.Authenticate(t.Context(), "alice", "wrong", "10.0.0.9"); failureOf(err) != auth.FailureUnreachable {
			t.Fatalf("while Confluence is down: %v", err)
		}
	}
	for i := range 3 {
		if _, err := f.svc.Authenticate(t.Context(), "alice", "wrong", "10.0.0.9"); !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
	f.srv.ResetRequests()
	var throttled *auth.ThrottledError
	if _, err := f.svc.Authenticate(t.Context(), "alice", alicePassword, "10.0.0.9"); !errors.As(err, &throttled) {
		t.Fatalf("fourth failure in a row: %v, want throttled", err)
	}
	if n := len(f.srv.Requests()); n != 0 {
		t.Errorf("a throttled attempt reached Confluence (%d requests)", n)
	}
	f.clock.Advance(time.Minute)
	if _, err := f.svc.Authenticate(t.Context(), "alice", alicePassword, "10.0.0.9"); err != nil {
		t.Fatalf("after the wait: %v", err)
	}
}

func TestConfluenceOAuth(t *testing.T) {
	t.Run("round trip", func(t *testing.T) {
		f := newCFFixture(t)
		if got := f.cf.Offered(t.Context()); got != (auth.Offered{Password: true, OAuth: true}) {
			t.Errorf("offered %+v, want both", got)
		}
		f.srv.AddToGroup(adminGroup, "alice")
		start, err := f.cf.BeginOAuth(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		au, _ := url.Parse(start.URL)
		q := au.Query()
		if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") != start.State ||
			q.Get("scope") != "READ" || q.Get("redirect_uri") != redirectURL || strings.Contains(start.URL, start.Verifier) {
			t.Fatalf("authorize URL %s", start.URL)
		}
		f.srv.SetBrowserUser("alice", confluencetest.ConsentApprove)
		cb := f.authorize(t, start)
		u, err := f.cf.CompleteOAuth(t.Context(), auth.OAuthCallback{WantState: start.State, Verifier: start.Verifier,
			State: cb.Get("state"), Code: cb.Get("code")}, "10.0.0.1")
		if err != nil || u.Username != "alice" || u.DisplayName != "Alice Zhang" || u.Email != "alice@example.com" || !u.IsAdmin || !u.Active {
			t.Fatalf("CompleteOAuth = %+v, %v", u, err)
		}
		tokenReqs := f.srv.RequestsTo("/rest/oauth2/latest/token")
		if len(tokenReqs) != 1 || tokenReqs[0].Form.Get("code_verifier") != start.Verifier || tokenReqs[0].Status != http.StatusOK {
			t.Fatalf("token requests %+v", tokenReqs)
		}
		if cur := f.srv.RequestsTo("/rest/api/user/current"); len(cur) != 1 || cur[0].Auth != confluence.AuthBearer || !cur[0].Authenticated {
			t.Errorf("user/current requests %+v, want one with the access token", cur)
		} else if strings.Contains(f.logs.String(), cur[0].Secret) {
			t.Errorf("the access token is in the log")
		}
		if a := f.lastAudit(t); a.Action != models.ActionSignIn || a.Details != "method: "+auth.MethodConfluenceOAuth {
			t.Errorf("audit %+v", a)
		}
	})

	failures := []struct {
		name string
		run  func(t *testing.T, f *cfFixture) error
		want auth.Failure
	}{
		{"state from elsewhere", func(t *testing.T, f *cfFixture) error {
			start, _ := f.cf.BeginOAuth(t.Context())
			other, _ := f.cf.BeginOAuth(t.Context())
			cb := f.authorize(t, other)
			return complete(t, f, start, cb)
		}, auth.FailureState},
		{"no state in the session (replayed callback)", func(t *testing.T, f *cfFixture) error {
			start, _ := f.cf.BeginOAuth(t.Context())
			cb := f.authorize(t, start)
			start.State = ""
			return complete(t, f, start, cb)
		}, auth.FailureState},
		{"consent denied", func(t *testing.T, f *cfFixture) error {
			f.srv.SetBrowserUser("alice", confluencetest.ConsentDeny)
			start, _ := f.cf.BeginOAuth(t.Context())
			return complete(t, f, start, f.authorize(t, start))
		}, auth.FailureDenied},
		{"tampered verifier", func(t *testing.T, f *cfFixture) error {
			start, _ := f.cf.BeginOAuth(t.Context())
			cb := f.authorize(t, start)
			start.Verifier = oauth2.GenerateVerifier()
			return complete(t, f, start, cb)
		}, auth.FailureCodeRejected},
		{"code used twice", func(t *testing.T, f *cfFixture) error {
			start, _ := f.cf.BeginOAuth(t.Context())
			cb := f.authorize(t, start)
			if err := complete(t, f, start, cb); err != nil {
				t.Fatal(err)
			}
			return complete(t, f, start, cb)
		}, auth.FailureCodeRejected},
		{"client secret refused", func(t *testing.T, f *cfFixture) error {
			start, _ := f.cf.BeginOAuth(t.Context())
			cb := f.authorize(t, start)
			f.settings.in.OAuth.ClientSecret = "wrong-secret"
			return complete(t, f, start, cb)
		}, auth.FailureMisconfigured},
		{"token endpoint missing", func(t *testing.T, f *cfFixture) error {
			start, _ := f.cf.BeginOAuth(t.Context())
			cb := f.authorize(t, start)
			f.srv.InjectFault(confluencetest.Fault{Path: "/rest/oauth2/latest/token", Status: http.StatusNotFound}, 1)
			return complete(t, f, start, cb)
		}, auth.FailureMisconfigured},
		{"token endpoint unreachable", func(t *testing.T, f *cfFixture) error {
			start, _ := f.cf.BeginOAuth(t.Context())
			cb := f.authorize(t, start)
			f.srv.Close()
			return complete(t, f, start, cb)
		}, auth.FailureUnreachable},
		{"token endpoint hangs", func(t *testing.T, f *cfFixture) error {
			// Reading the body first lets the server notice the client giving up.
			hang := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				<-r.Context().Done()
			}))
			t.Cleanup(hang.Close)
			cf := auth.NewConfluence(f.settings, f.store, auth.ConfluenceOptions{HTTPClient: &http.Client{Timeout: time.Millisecond}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			start, _ := cf.BeginOAuth(t.Context())
			cb := f.authorize(t, start)
			f.settings.in.OAuth.Endpoint.TokenURL = hang.URL
			_, err := cf.CompleteOAuth(t.Context(), auth.OAuthCallback{WantState: start.State, Verifier: start.Verifier, State: cb.Get("state"), Code: cb.Get("code")}, "10.0.0.1")
			return err
		}, auth.FailureUnreachable},
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			f := newCFFixture(t)
			f.srv.SetBrowserUser("alice", confluencetest.ConsentApprove)
			err := tt.run(t, f)
			if failureOf(err) != tt.want {
				t.Fatalf("CompleteOAuth: %v, want %s", err, tt.want)
			}
			if _, err := f.store.UserByUsername(t.Context(), "alice"); tt.name != "code used twice" && !errors.Is(err, models.ErrNotFound) {
				t.Errorf("a failed OAuth sign-in wrote a user: %v", err)
			}
		})
	}
}

func complete(t *testing.T, f *cfFixture, start auth.OAuthStart, cb url.Values) error {
	t.Helper()
	_, err := f.cf.CompleteOAuth(t.Context(), auth.OAuthCallback{WantState: start.State, Verifier: start.Verifier,
		State: cb.Get("state"), Code: cb.Get("code"), Error: cb.Get("error"), ErrorDescription: cb.Get("error_description")}, "10.0.0.1")
	return err
}
