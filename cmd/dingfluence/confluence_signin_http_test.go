package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/dingfluence/dingfluence/confluence"
	"github.com/dingfluence/dingfluence/confluence/confluencetest"
	"github.com/dingfluence/dingfluence/handlers"
	"github.com/dingfluence/dingfluence/models"
)

const (
	cfClientID      = "dingfluence"
	cfClientSecret  = "dingfluence-client-secret"
	cfAlicePassword = "alice-Confluence-pw"
)

// confluenceApp is the app at its own public URL, connected to a Confluence (the double)
// with the service account "svc", "alice" and "bob", and an incoming application link for
// the app's redirect URL.
type confluenceApp struct {
	*testApp
	cf *confluencetest.Server
}

func startConfluenceApp(t *testing.T) *confluenceApp {
	t.Helper()
	app := startApp(t, func(c *Config) { c.BaseURL = ownURL })
	cf := confluencetest.New(t)
	cf.AddUser(confluencetest.User{Username: "svc", Admin: true})
	cf.AddUser(confluencetest.User{Username: "alice", DisplayName: "Alice Zhang", Email: "alice@example.com", Password: cfAlicePassword})
	cf.AddUser(confluencetest.User{Username: "bob", DisplayName: "Bob Li", Password: "bob-Confluence-pw"})
	cf.AddToGroup("confluence-users", "alice", "bob")
	cf.RegisterOAuthClient(cfClientID, cfClientSecret, app.URL+handlers.ConfluenceCallbackPath)
	a := &confluenceApp{testApp: app, cf: cf}
	a.saveConfluence(t, cfClientSecret)
	return a
}

// saveConfluence stores the Confluence connection as the Confluence screen would.
func (a *confluenceApp) saveConfluence(t *testing.T, clientSecret string) {
	t.Helper()
	err := a.Store.SaveConfluenceSettings(context.Background(), models.ConfluenceSettings{
		BaseURL: a.cf.URL(), Token: a.cf.IssuePAT("svc"),
		AdminGroup: models.DefaultConfluenceAdminGroup, UserGroup: models.DefaultConfluenceUserGroup,
		OAuthClientID: cfClientID, OAuthClientSecret: clientSecret,
	}, "test")
	if err != nil {
		t.Fatal(err)
	}
}

// browserClient keeps cookies and follows redirects, across the app and Confluence, as
// a browser does.
func browserClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

// noFollow is a plain client that shows each redirect, for Confluence's side.
var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// location GETs target with c and returns the redirect it answers with.
func location(t *testing.T, c *http.Client, target string) string {
	t.Helper()
	res, err := c.Get(target)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	res.Body.Close()
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusFound && res.StatusCode != http.StatusSeeOther || loc == "" {
		t.Fatalf("GET %s: status %d, Location %q; want a redirect", target, res.StatusCode, loc)
	}
	return loc
}

// startOAuth opens the sign-in page and clicks "Sign in with Confluence" with session c,
// returning Confluence's authorize URL.
func (a *confluenceApp) startOAuth(t *testing.T, c *http.Client) string {
	t.Helper()
	_, body, _ := get(t, c, a.URL, "/login")
	if !strings.Contains(body, `id="login-confluence"`) {
		t.Fatalf("no Sign in with Confluence button on the sign-in page")
	}
	authorize := location(t, c, a.URL+"/login/confluence")
	if !strings.HasPrefix(authorize, a.cf.URL()+"/rest/oauth2/latest/authorize?") {
		t.Fatalf("Sign in with Confluence went to %s", authorize)
	}
	return authorize
}

// getPage GETs target with c and returns the status and body.
func getPage(t *testing.T, c *http.Client, target string) (int, string) {
	t.Helper()
	res, err := c.Get(target)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

func TestSignInWithConfluenceRoundTrip(t *testing.T) {
	a := startConfluenceApp(t)
	a.cf.SetBrowserUser("alice", confluencetest.ConsentApprove)
	c := browserClient(t)
	res, err := c.Get(a.URL + "/login/confluence?next=" + url.QueryEscape("/profile"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Request.URL.String() != a.URL+"/profile" || !strings.Contains(string(body), "Alice Zhang") {
		t.Fatalf("after the round trip: %d at %s\n%.500s", res.StatusCode, res.Request.URL, body)
	}
	// A normal user: no admin screens.
	if code, _ := getPage(t, c, a.URL+"/admin/dingtalk/settings"); code != http.StatusForbidden {
		t.Errorf("alice on an admin screen: %d, want 403", code)
	}
	u, err := a.Store.UserByUsername(context.Background(), "alice")
	if err != nil || u.UserKey == nil || u.Email != "alice@example.com" || u.IsAdmin || u.PasswordHash != "" {
		t.Fatalf("alice's row: %+v, %v", u, err)
	}
	// What crossed the wire: PKCE S256 with its verifier, the READ scope, a Bearer read.
	auths := a.cf.RequestsTo("/rest/oauth2/latest/authorize")
	tokens := a.cf.RequestsTo("/rest/oauth2/latest/token")
	if len(auths) != 1 || auths[0].Query.Get("code_challenge_method") != "S256" || auths[0].Query.Get("scope") != confluence.ScopeRead {
		t.Fatalf("authorize requests %+v", auths)
	}
	if len(tokens) != 1 || tokens[0].Status != http.StatusOK || s256(tokens[0].Form.Get("code_verifier")) != auths[0].Query.Get("code_challenge") {
		t.Fatalf("token requests %+v: want one whose verifier matches the challenge", tokens)
	}
	cur := a.cf.RequestsTo("/rest/api/user/current")
	if len(cur) != 1 || cur[0].Auth != confluence.AuthBearer || !cur[0].Authenticated {
		t.Fatalf("user/current requests %+v", cur)
	}
	if strings.Contains(a.logs.String(), cur[0].Secret) {
		t.Errorf("the access token is in the log")
	}
	entries, _ := a.Store.RecentAudit(context.Background(), 1)
	if len(entries) != 1 || entries[0].Action != models.ActionSignIn || entries[0].Actor != "alice" || entries[0].Details != "method: confluence-oauth" {
		t.Errorf("audit %+v", entries)
	}
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// The callback is tied to the session that started it, once.
func TestConfluenceCallbackStateIsOneTimeAndBound(t *testing.T) {
	a := startConfluenceApp(t)
	a.cf.SetBrowserUser("alice", confluencetest.ConsentApprove)
	const refused = "This sign-in was not started in this browser"

	t.Run("replayed", func(t *testing.T) {
		c := newClient(t)
		callback := location(t, noFollow, a.startOAuth(t, c))
		if loc := location(t, c, callback); loc != "/" {
			t.Fatalf("first callback went to %s", loc)
		}
		for name, client := range map[string]*http.Client{"same browser": c, "another browser": newClient(t)} {
			code, body := getPage(t, client, callback)
			if code != http.StatusBadRequest || !strings.Contains(body, refused) {
				t.Errorf("%s replaying the callback: %d\n%.400s", name, code, body)
			}
		}
	})

	t.Run("foreign", func(t *testing.T) {
		victim, attacker := newClient(t), newClient(t)
		a.startOAuth(t, victim) // the victim's session holds a state of its own
		// The attacker's own authorization, planted in the victim's browser (login CSRF).
		planted := location(t, noFollow, a.startOAuth(t, attacker))
		code, body := getPage(t, victim, planted)
		if code != http.StatusBadRequest || !strings.Contains(body, refused) {
			t.Fatalf("foreign state: %d\n%.400s", code, body)
		}
		if code, _ := getPage(t, victim, a.URL+"/profile"); code == http.StatusOK {
			t.Errorf("the victim's browser was signed in")
		}
	})

	t.Run("none started", func(t *testing.T) {
		code, body := getPage(t, newClient(t), a.URL+handlers.ConfluenceCallbackPath+"?code=x&state=y")
		if code != http.StatusBadRequest || !strings.Contains(body, refused) {
			t.Fatalf("callback without a started sign-in: %d\n%.400s", code, body)
		}
	})
}

func TestConfluenceCallbackFailuresAreShownOnTheLoginPage(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(t *testing.T, a *confluenceApp)
		tamper func(authorize string) string
		status int
		want   string
	}{
		{"consent denied", func(_ *testing.T, a *confluenceApp) { a.cf.SetBrowserUser("alice", confluencetest.ConsentDeny) }, nil,
			http.StatusForbidden, "You declined to let dingfluence use your Confluence account"},
		{"PKCE challenge tampered with", nil, func(authorize string) string {
			u, _ := url.Parse(authorize)
			q := u.Query()
			q.Set("code_challenge", s256(oauth2.GenerateVerifier()))
			u.RawQuery = q.Encode()
			return u.String()
		}, http.StatusBadRequest, "Confluence did not accept this sign-in"},
		{"client secret refused", func(t *testing.T, a *confluenceApp) { a.saveConfluence(t, "not-the-secret") }, nil,
			http.StatusBadGateway, "the connection to it is not set up correctly"},
		{"username of a local account", func(t *testing.T, a *confluenceApp) {
			a.cf.AddUser(confluencetest.User{Username: "admin"})
			a.cf.SetBrowserUser("admin", confluencetest.ConsentApprove)
		}, nil, http.StatusConflict, "also the name of a local account"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := startConfluenceApp(t)
			a.cf.SetBrowserUser("alice", confluencetest.ConsentApprove)
			if tt.setup != nil {
				tt.setup(t, a)
			}
			c := newClient(t)
			authorize := a.startOAuth(t, c)
			if tt.tamper != nil {
				authorize = tt.tamper(authorize)
			}
			code, body := getPage(t, c, location(t, noFollow, authorize))
			if code != tt.status || !strings.Contains(body, tt.want) || !strings.Contains(body, `id="login-form"`) {
				t.Fatalf("callback: %d, want %d with %q on the sign-in page\n%.600s", code, tt.status, tt.want, body)
			}
			if tokens := a.cf.RequestsTo("/rest/oauth2/latest/token"); tt.tamper != nil && (len(tokens) != 1 || tokens[0].Status != http.StatusBadRequest) {
				t.Errorf("token requests %+v: want the double to refuse the verifier", tokens)
			}
		})
	}
}

func TestConfluenceNotConfiguredOnTheLoginPage(t *testing.T) {
	app := startApp(t)
	c := newClient(t)
	_, body, _ := get(t, c, app.URL, "/login")
	if strings.Contains(body, `id="login-confluence"`) || strings.Contains(body, `id="login-confluence-hint"`) {
		t.Errorf("Confluence sign-in offered without Confluence")
	}
	code, body := getPage(t, c, app.URL+"/login/confluence")
	if code != http.StatusConflict || !strings.Contains(body, "Sign-in with Confluence is not set up yet") {
		t.Fatalf("GET /login/confluence without Confluence: %d\n%.400s", code, body)
	}
	signIn(t, newClient(t), app.URL, "admin", testAdminPassword)
}

func TestConfluencePasswordAndTokenOnTheLoginForm(t *testing.T) {
	a := startConfluenceApp(t)
	pat := a.cf.IssuePAT("bob")
	tests := []struct {
		name, username, secret string
		want                   confluence.AuthKind
	}{
		{"password", "alice", cfAlicePassword, confluence.AuthBasic},
		{"personal access token", "bob", pat, confluence.AuthBearer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a.cf.ResetRequests()
			c := newClient(t)
			_, body, _ := get(t, c, a.URL, "/login")
			if !strings.Contains(body, `id="login-confluence-hint"`) {
				t.Errorf("no hint that Confluence usernames are accepted")
			}
			signIn(t, c, a.URL, tt.username, tt.secret)
			if code, body := getPage(t, c, a.URL+"/profile"); code != http.StatusOK || !strings.Contains(body, tt.username) {
				t.Fatalf("profile after sign-in: %d", code)
			}
			cur := a.cf.RequestsTo("/rest/api/user/current")
			if len(cur) != 1 || cur[0].Auth != tt.want || !cur[0].Authenticated {
				t.Errorf("user/current requests %+v, want one accepted %s", cur, tt.want)
			}
		})
	}

	t.Run("wrong password, then throttled before Confluence is asked", func(t *testing.T) {
		ip := "10.20.30.40:5000"
		for i := range 5 {
			if code := loginFrom(t, a.testApp, ip, "", "alice", "wrong-password"); code != http.StatusUnauthorized {
				t.Fatalf("attempt %d: %d, want 401", i+1, code)
			}
		}
		a.cf.ResetRequests()
		if code := loginFrom(t, a.testApp, ip, "", "alice", cfAlicePassword); code != http.StatusTooManyRequests {
			t.Fatalf("sixth attempt: %d, want 429", code)
		}
		if n := len(a.cf.Requests()); n != 0 {
			t.Errorf("a throttled attempt reached Confluence (%d requests)", n)
		}
	})

	t.Run("local admin still signs in, without asking Confluence", func(t *testing.T) {
		a.cf.ResetRequests()
		signIn(t, newClient(t), a.URL, "admin", testAdminPassword)
		if n := len(a.cf.Requests()); n != 0 {
			t.Errorf("Confluence asked %d times about the local admin", n)
		}
	})

	t.Run("Confluence unreachable", func(t *testing.T) {
		a.cf.Close()
		c := newClient(t)
		_, _, token := get(t, c, a.URL, "/login")
		res, body := post(t, c, a.URL, "/login", url.Values{"username": {"alice"}, "password": {cfAlicePassword}, "_csrf": {token}})
		if res.StatusCode != http.StatusBadGateway || !strings.Contains(body, "Confluence did not answer") {
			t.Fatalf("sign-in with Confluence down: %d\n%.400s", res.StatusCode, body)
		}
	})
}
