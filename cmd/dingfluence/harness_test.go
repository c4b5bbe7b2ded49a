package main

import (
	"context"
	"github.com/jonboulle/clockwork"
	"golang.org/x/crypto/bcrypt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/dingfluence/dingfluence/confluence/confluencetest"
	"github.com/dingfluence/dingfluence/models"
)

const testAdminPassword = "correct-horse-battery"

// testApp is the whole application, wired exactly as main wires it, served
// over real HTTP on loopback.
type testApp struct {
	*App
	URL  string
	logs *logBuffer
	// userDirectory is the Confluence addConfluenceUser's users live in; it lives as
	// long as the app, so it is owned by the test that started the app (owner), not by
	// the subtest that first needed it.
	userDirectory *confluencetest.Server
	owner         testing.TB
}

// logBuffer collects what the app logs; the server's goroutines write to it
// while a test reads it.
type logBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// ownURL as the BaseURL of a test's Config stands for the address the test server
// listens on, for tests that need the app's public URL to be its real one (the OAuth
// redirect URL).
const ownURL = "test:own-url"

// startApp runs the app on a fresh SQLite database; edit adjusts the
// configuration first.
func startApp(t testing.TB, edit ...func(*Config)) *testApp {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	dir := t.TempDir()
	cfg := Config{
		DB:            "sqlite://" + filepath.Join(dir, "dingfluence.db"),
		DataDir:       dir,
		AdminPassword: testAdminPassword,
		BaseURL:       "http://127.0.0.1",
		passwordCost:  bcrypt.MinCost,
		// A throttle bucket refills only when a test moves this clock.
		throttleClock: clockwork.NewFakeClock(),
	}
	for _, e := range edit {
		e(&cfg)
	}
	if cfg.BaseURL == ownURL {
		cfg.BaseURL = "http://" + srv.Listener.Addr().String()
	}
	logs := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	app, err := newApp(context.Background(), cfg, logger, io.Discard)
	if err != nil {
		srv.Listener.Close()
		t.Fatalf("start app: %v", err)
	}
	srv.Config.Handler = app.Handler
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		_ = app.Close()
	})
	return &testApp{App: app, URL: srv.URL, logs: logs, owner: t}
}

// addUser creates an enabled local account.
func (a *testApp) addUser(t testing.TB, username, password string, admin bool) models.User {
	t.Helper()
	hashBytes, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	hash := string(hashBytes)
	if err != nil {
		t.Fatal(err)
	}
	u := models.User{Username: username, DisplayName: username, PasswordHash: hash, IsAdmin: admin, Enabled: true}
	if err := a.Store.CreateUser(context.Background(), &u); err != nil {
		t.Fatalf("create user %s: %v", username, err)
	}
	return u
}

// client is a cookie-keeping HTTP client that does not follow redirects, so
// tests see exactly what the server answered.
func newClient(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// get fetches path and returns the status, body and the page's CSRF token.
func get(t testing.TB, c *http.Client, base, path string) (int, string, string) {
	t.Helper()
	res, err := c.Get(base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	token := ""
	if m := csrfField.FindSubmatch(body); m != nil {
		token = string(m[1])
	}
	return res.StatusCode, string(body), token
}

// post submits form to path and returns the response with its body read.
func post(t testing.TB, c *http.Client, base, path string, form url.Values) (*http.Response, string) {
	t.Helper()
	res, err := c.Post(base+path, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

// signIn logs in through the form and fails the test unless it worked.
func signIn(t testing.TB, c *http.Client, base, username, password string) {
	t.Helper()
	_, _, token := get(t, c, base, "/login")
	res, body := post(t, c, base, "/login", url.Values{"username": {username}, "password": {password}, "_csrf": {token}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in as %s: status %d, body %s", username, res.StatusCode, body)
	}
}

// adminSession signs in as admin with a new client and returns it with the
// CSRF token of the page at path, ready to submit that page's forms.
func (a *testApp) adminSession(t testing.TB, path string) (*http.Client, string) {
	t.Helper()
	c := newClient(t)
	signIn(t, c, a.URL, "admin", testAdminPassword)
	_, _, token := get(t, c, a.URL, path)
	return c, token
}

// signedOutSession opens the sign-in page straight through the handler and returns the
// session cookie it set and the page's CSRF token. Tests that build requests by hand
// (a chosen client address, a Secure cookie a plain-http cookie jar would not send
// back) attach both themselves.
func (a *testApp) signedOutSession(t testing.TB) (*http.Cookie, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	a.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/login", nil))
	m := csrfField.FindStringSubmatch(rec.Body.String())
	cookies := rec.Result().Cookies()
	if rec.Code != http.StatusOK || m == nil || len(cookies) == 0 {
		t.Fatalf("sign-in page: status %d, %d cookies, token found %v", rec.Code, len(cookies), m != nil)
	}
	for _, ck := range cookies {
		if strings.HasSuffix(ck.Name, "df_session") {
			return ck, m[1]
		}
	}
	t.Fatalf("sign-in page set no session cookie: %v", cookies)
	return nil, ""
}

// testUserPassword is the Confluence password addConfluenceUser gives its users, so
// tests sign in as them through the sign-in form, checked live against Confluence as
// for any Confluence user.
const testUserPassword = "confluence-user-password"

// addConfluenceUser creates a Confluence user who can sign in with testUserPassword: an
// account of the app's Confluence (a confluencetest the app is connected to on first
// use) and its users row as the directory sync makes it, with the same user key.
func (a *testApp) addConfluenceUser(t testing.TB, username, email string) models.User {
	t.Helper()
	if a.userDirectory == nil {
		a.userDirectory = confluencetest.New(a.owner)
		a.userDirectory.AddUser(confluencetest.User{Username: "svc", Admin: true})
		set := models.DefaultConfluenceSettings()
		set.BaseURL, set.Token = a.userDirectory.URL(), a.userDirectory.IssuePAT("svc")
		if err := a.Store.SaveConfluenceSettings(context.Background(), set, "test"); err != nil {
			t.Fatal(err)
		}
	}
	key := "key-" + username
	a.userDirectory.AddUser(confluencetest.User{Key: key, Username: username, DisplayName: "Display " + username, Email: email, Password: testUserPassword})
	a.userDirectory.AddToGroup(models.DefaultConfluenceUserGroup, username)
	u := models.User{Username: username, DisplayName: "Display " + username, Email: email, Enabled: true}
	u.UserKey = &key
	if err := a.Store.CreateUser(context.Background(), &u); err != nil {
		t.Fatalf("create Confluence user %s: %v", username, err)
	}
	return u
}

// userSession signs in as username (made by addConfluenceUser) with a new client and
// returns it with the CSRF token of the page at path.
func (a *testApp) userSession(t testing.TB, username, path string) (*http.Client, string) {
	t.Helper()
	c := newClient(t)
	signIn(t, c, a.URL, username, testUserPassword)
	_, _, token := get(t, c, a.URL, path)
	return c, token
}
