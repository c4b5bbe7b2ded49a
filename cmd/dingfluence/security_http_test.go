package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/dingfluence/dingfluence/models"
)

// routesWith lists the app's routes for method, with path parameters filled
// in, so a test covers every route including ones added later.
func (a *testApp) routesWith(t *testing.T, method string) []string {
	t.Helper()
	e, ok := a.Handler.(*echo.Echo)
	if !ok {
		t.Fatalf("app handler is %T, want *echo.Echo", a.Handler)
	}
	param := regexp.MustCompile(`:[a-z]+`)
	var paths []string
	for _, r := range e.Routes() {
		if r.Method == method {
			paths = append(paths, strings.ReplaceAll(param.ReplaceAllString(r.Path, "1"), "*", "app.js"))
		}
	}
	if len(paths) == 0 {
		t.Fatalf("no %s routes", method)
	}
	return paths
}

// send sends a request with a form body (nil for none) and extra headers, and
// returns the response with its body read.
func send(t *testing.T, c *http.Client, method, target string, form url.Values, header map[string]string) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// A page on a sibling subdomain can set cookies for this host and its
// requests are "same-site". Neither lets it post a form: the token lives in
// the session, which it cannot reach.
func TestForgedFormsWithAPlantedCookieAreRefused(t *testing.T) {
	app := startApp(t)
	victim, _ := app.adminSession(t, "/admin/dingtalk/settings")
	base, _ := url.Parse(app.URL)
	// What echo's double-submit check used to compare the form field with.
	victim.Jar.SetCookies(base, []*http.Cookie{{Name: "df_csrf", Value: "planted-by-a-sibling", Path: "/"}})

	form := validSettingsForm("http://127.0.0.1:1")
	form.Set("appKey", "forged-app-key")
	form.Set("_csrf", "planted-by-a-sibling")
	form.Set("lang", "zh-Hans")
	for _, path := range app.routesWith(t, http.MethodPost) {
		for _, site := range []string{"same-site", "same-origin", ""} {
			t.Run(path+" Sec-Fetch-Site="+site, func(t *testing.T) {
				header := map[string]string{"X-CSRF-Token": "planted-by-a-sibling"}
				if site != "" {
					header["Sec-Fetch-Site"] = site
				}
				res, _ := send(t, victim, http.MethodPost, app.URL+path, form, header)
				if res.StatusCode != http.StatusForbidden {
					t.Fatalf("status %d, want 403", res.StatusCode)
				}
			})
		}
	}
	set, err := app.Store.LoadSettings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if set.AppKey == "forged-app-key" {
		t.Fatal("a forged form changed the settings")
	}
	// Nor did a forged sign-out end the victim's session.
	if status, _, _ := get(t, victim, app.URL, "/admin/dingtalk/settings"); status != http.StatusOK {
		t.Fatalf("victim's settings page: status %d, want 200", status)
	}
}

// A token is good only in the session it was issued to. An attacker gets a
// genuine token for their own browser and carries every cookie that goes
// with it, except the session itself, into the victim's browser (a sibling
// subdomain can set cookies for this host): the victim's session still
// refuses it.
func TestCSRFTokenFromAnotherSessionIsRefused(t *testing.T) {
	app := startApp(t)
	victim, victimToken := app.adminSession(t, "/admin/dingtalk/settings")
	attacker := newClient(t)
	_, _, attackerToken := get(t, attacker, app.URL, "/login")
	if attackerToken == "" || attackerToken == victimToken {
		t.Fatalf("attacker token %q, victim token %q: want two different tokens", attackerToken, victimToken)
	}
	base, _ := url.Parse(app.URL)
	for _, ck := range attacker.Jar.Cookies(base) {
		if !strings.HasSuffix(ck.Name, "df_session") {
			victim.Jar.SetCookies(base, []*http.Cookie{{Name: ck.Name, Value: ck.Value, Path: "/"}})
		}
	}

	form := validSettingsForm("http://127.0.0.1:1")
	form.Set("appKey", "forged-app-key")
	for name, header := range map[string]map[string]string{
		"form field":  nil,
		"htmx header": {"X-CSRF-Token": attackerToken, "HX-Request": "true"},
	} {
		t.Run(name, func(t *testing.T) {
			f := url.Values{}
			for k, v := range form {
				f[k] = v
			}
			if header == nil {
				f.Set("_csrf", attackerToken)
			}
			res, _ := send(t, victim, http.MethodPost, app.URL+"/admin/dingtalk/settings", f, header)
			if res.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d, want 403", res.StatusCode)
			}
		})
	}
	if set, _ := app.Store.LoadSettings(context.Background()); set.AppKey == "forged-app-key" {
		t.Fatal("a token from another session changed the settings")
	}
}

// Signing in and signing out each issue a new token, and the old one stops
// working.
func TestCSRFTokenRotatesAtSignInAndSignOut(t *testing.T) {
	app := startApp(t)
	c := newClient(t)
	language := func(token string) int {
		res, _ := post(t, c, app.URL, "/language", url.Values{"lang": {"en"}, "_csrf": {token}})
		return res.StatusCode
	}

	_, _, signedOut := get(t, c, app.URL, "/login")
	if code := language(signedOut); code != http.StatusSeeOther {
		t.Fatalf("signed-out language form: status %d, want 303", code)
	}
	res, _ := post(t, c, app.URL, "/login", url.Values{"username": {"admin"}, "password": {testAdminPassword}, "_csrf": {signedOut}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: status %d", res.StatusCode)
	}
	_, _, signedIn := get(t, c, app.URL, "/profile")
	if signedIn == "" || signedIn == signedOut {
		t.Fatalf("token before sign-in %q, after %q: want a new one", signedOut, signedIn)
	}
	if code := language(signedOut); code != http.StatusForbidden {
		t.Fatalf("the pre-sign-in token still works: status %d, want 403", code)
	}

	res, _ = post(t, c, app.URL, "/logout", url.Values{"_csrf": {signedIn}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out: status %d", res.StatusCode)
	}
	_, _, again := get(t, c, app.URL, "/login")
	if again == "" || again == signedIn {
		t.Fatalf("token before sign-out %q, after %q: want a new one", signedIn, again)
	}
	if code := language(signedIn); code != http.StatusForbidden {
		t.Fatalf("the signed-in token still works after sign-out: status %d, want 403", code)
	}
	if code := language(again); code != http.StatusSeeOther {
		t.Fatalf("the new token: status %d, want 303", code)
	}
}

// A refused form says, in the visitor's language, what happened and what to do.
func TestCSRFRefusalIsTranslated(t *testing.T) {
	app := startApp(t)
	tests := []struct {
		name   string
		header map[string]string
		want   string
	}{
		{"English page", map[string]string{"Accept-Language": "en"}, "This form has expired or did not come from this site. Reload the page and try again."},
		{"Chinese page", map[string]string{"Accept-Language": "zh-CN"}, "此表单已过期或并非来自本站。请刷新页面后重试。"},
		{"htmx fragment", map[string]string{"Accept-Language": "zh-CN", "HX-Request": "true"}, "此表单已过期或并非来自本站。请刷新页面后重试。"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t)
			get(t, c, app.URL, "/login")
			res, body := send(t, c, http.MethodPost, app.URL+"/language", url.Values{"lang": {"en"}, "_csrf": {"stale"}}, tt.header)
			if res.StatusCode != http.StatusForbidden || !strings.Contains(body, tt.want) || strings.Contains(body, "error.csrf") {
				t.Fatalf("status %d, body %.400s; want 403 saying %q", res.StatusCode, body, tt.want)
			}
		})
	}
}

// After sign-in people land where they were going, and nothing a browser
// might read as another host gets through.
func TestLoginNextStaysOnThisOrigin(t *testing.T) {
	app := startApp(t)
	c := newClient(t)
	signIn(t, c, app.URL, "admin", testAdminPassword)
	tests := []struct{ next, want string }{
		{"/admin/dingtalk/members?q=wang&dept=1", "/admin/dingtalk/members?q=wang&dept=1"},
		{"/profile#language", "/profile#language"},
		{"/a%20b", "/a%20b"},
		{"", "/"},
		{"/\t/evil.test/x", "/"},
		{"/%09/evil.test/x", "/"},
		{"/\n/evil.test", "/"},
		{"/%0A/evil.test", "/"},
		{"/\r\n/evil.test", "/"},
		{"/\x00/evil.test", "/"},
		{"//evil.test", "/"},
		{"///evil.test", "/"},
		{"/\\evil.test", "/"},
		{"/\\/evil.test", "/"},
		{"\\\\evil.test", "/"},
		{"/%2F%2Fevil.test", "/"},
		{"/%2fevil.test", "/"},
		{"/%5Cevil.test", "/"},
		{"/%", "/"},
		{"https://evil.test/", "/"},
		{"javascript:alert(1)", "/"},
		{"JavaScript:alert(1)", "/"},
		{"evil.test/x", "/"},
		{" /x", "/"},
		{"/x\x7f", "/"},
		{"/\u0085/evil.test", "/"},
		{"/\xff", "/"},
	}
	for _, tt := range tests {
		t.Run(strconv.Quote(tt.next), func(t *testing.T) {
			res, _ := send(t, c, http.MethodGet, app.URL+"/login?next="+url.QueryEscape(tt.next), nil, nil)
			if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != tt.want {
				t.Fatalf("status %d Location %q, want 303 to %q", res.StatusCode, res.Header.Get("Location"), tt.want)
			}
		})
	}
}

// httpSeries counts the HTTP metric series /metrics shows.
func httpSeries(t *testing.T, app *testApp, header map[string]string) (int, string) {
	t.Helper()
	res, body := send(t, newClient(t), http.MethodGet, app.URL+"/metrics", nil, header)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: status %d", res.StatusCode)
	}
	n := 0
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "http_") {
			n++
		}
	}
	return n, body
}

// Nobody can grow /metrics by sending new Host headers, paths or methods:
// every label value comes from a fixed set.
func TestMetricsSeriesDoNotGrowWithRequests(t *testing.T) {
	app := startApp(t)
	c := newClient(t)
	probe := func(i int, method string) {
		req, _ := http.NewRequest(method, fmt.Sprintf("%s/no-such-page-%d/x", app.URL, i), nil)
		req.Host = fmt.Sprintf("host-%d.evil.test", i)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	// One of each kind first, and /metrics itself twice, so every series
	// these requests can make exists before counting.
	probe(0, http.MethodGet)
	probe(0, "BREW")
	httpSeries(t, app, nil)
	before, _ := httpSeries(t, app, nil)

	for i := 1; i <= 200; i++ {
		method := http.MethodGet
		if i%2 == 0 {
			method = fmt.Sprintf("M%d", i)
		}
		probe(i, method)
	}
	after, body := httpSeries(t, app, nil)
	if after != before {
		t.Fatalf("HTTP series: %d before, %d after 200 requests with new hosts, paths and methods", before, after)
	}
	for _, leak := range []string{"evil.test", "no-such-page", "M100"} {
		if strings.Contains(body, leak) {
			t.Errorf("/metrics shows %q from a request", leak)
		}
	}
	if !strings.Contains(body, `url="unmatched"`) || !strings.Contains(body, `method="other"`) {
		t.Errorf("/metrics lacks the shared labels for unknown routes and methods")
	}
}

func TestMetricsToken(t *testing.T) {
	app := startApp(t, func(c *Config) { c.MetricsToken = "scrape-token-of-prometheus" })
	tests := []struct {
		name          string
		authorization string
		want          int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"wrong token", "Bearer scrape-token-of-someone-else", http.StatusUnauthorized},
		{"token as basic auth", "Basic scrape-token-of-prometheus", http.StatusUnauthorized},
		{"token without scheme", "scrape-token-of-prometheus", http.StatusUnauthorized},
		{"right token", "Bearer scrape-token-of-prometheus", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header := map[string]string{}
			if tt.authorization != "" {
				header["Authorization"] = tt.authorization
			}
			res, body := send(t, newClient(t), http.MethodGet, app.URL+"/metrics", nil, header)
			if res.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", res.StatusCode, tt.want)
			}
			if tt.want == http.StatusOK && !strings.Contains(body, "http_requests_total") {
				t.Fatalf("body lacks the metrics: %.200s", body)
			}
			if tt.want != http.StatusOK && (strings.Contains(body, "go_goroutines") || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer")) {
				t.Fatalf("refusal shows metrics or lacks WWW-Authenticate: %q", res.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

// Restarting with a new DINGFLUENCE_ADMIN_PASSWORD (the break-glass reset)
// signs out everybody who held the admin account, and nobody else.
func TestAdminPasswordResetEndsAdminSessions(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite://" + filepath.Join(dir, "shared.db")
	first := startApp(t, func(c *Config) { c.DB, c.AdminPassword = db, "first-admin-password" })
	first.addUser(t, "alice", "alice-password-1", false)
	oldAdmin := newClient(t)
	signIn(t, oldAdmin, first.URL, "admin", "first-admin-password")
	alice := newClient(t)
	signIn(t, alice, first.URL, "alice", "alice-password-1")

	second := startApp(t, func(c *Config) { c.DB, c.AdminPassword = db, "second-admin-password" })
	if status, _, _ := get(t, oldAdmin, second.URL, "/admin/dingtalk/settings"); status != http.StatusSeeOther {
		t.Fatalf("the admin session from before the reset: status %d, want 303 to sign in", status)
	}
	if status, _, _ := get(t, alice, second.URL, "/profile"); status != http.StatusOK {
		t.Fatalf("another user's session: status %d, want 200", status)
	}
	newAdmin := newClient(t)
	signIn(t, newAdmin, second.URL, "admin", "second-admin-password")

	// Starting again with the same password is no reset.
	third := startApp(t, func(c *Config) { c.DB, c.AdminPassword = db, "second-admin-password" })
	if status, _, _ := get(t, newAdmin, third.URL, "/admin/dingtalk/settings"); status != http.StatusOK {
		t.Fatalf("admin session after a restart without a reset: status %d, want 200", status)
	}
}

func TestShortAdminPasswordIsRefusedAtStart(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{DB: "sqlite://" + filepath.Join(dir, "dingfluence.db"), DataDir: dir, AdminPassword: "eleven-char", BaseURL: "http://127.0.0.1"}
	app, err := newApp(context.Background(), cfg, slog.New(slog.DiscardHandler), io.Discard)
	if err == nil {
		_ = app.Close()
		t.Fatal("started with an 11-character admin password")
	}
	if msg := err.Error(); !strings.Contains(msg, "DINGFLUENCE_ADMIN_PASSWORD") || !strings.Contains(msg, "at least 12 characters") {
		t.Fatalf("error %q does not say the password needs 12 characters", msg)
	}
}

func TestSecurityHeaders(t *testing.T) {
	for _, tt := range []struct {
		baseURL  string
		wantHSTS bool
	}{
		{"http://127.0.0.1", false},
		{"https://dingfluence.example.com", true},
	} {
		t.Run(tt.baseURL, func(t *testing.T) {
			app := startApp(t, func(c *Config) { c.BaseURL = tt.baseURL })
			res, _ := send(t, newClient(t), http.MethodGet, app.URL+"/healthz", nil, nil)
			hsts := res.Header.Get("Strict-Transport-Security")
			if !tt.wantHSTS {
				if hsts != "" {
					t.Fatalf("HSTS %q over http", hsts)
				}
				return
			}
			age, err := strconv.Atoi(strings.TrimPrefix(hsts, "max-age="))
			if err != nil || age < 365*24*3600 {
				t.Fatalf("Strict-Transport-Security %q, want max-age of at least a year", hsts)
			}
		})
	}
}

// Pages built from a session are never cached: the back button on a shared
// computer must not show them after sign-out.
func TestSessionPagesAreNotCached(t *testing.T) {
	app := startApp(t)
	admin, _ := app.adminSession(t, "/profile")
	anonymous := newClient(t)
	tests := []struct {
		name   string
		client *http.Client
		path   string
		want   string
	}{
		{"sign-in page", anonymous, "/login", "no-store"},
		{"sign-in redirect", anonymous, "/profile", "no-store"},
		{"profile", admin, "/profile", "no-store"},
		{"settings", admin, "/admin/dingtalk/settings", "no-store"},
		{"members", admin, "/admin/dingtalk/members", "no-store"},
		{"error page", admin, "/admin/dingtalk/syncs/999", "no-store"},
		{"static asset", anonymous, "/static/app.js", "public, max-age=86400"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, _ := send(t, tt.client, http.MethodGet, app.URL+tt.path, nil, nil)
			if got := res.Header.Get("Cache-Control"); got != tt.want {
				t.Fatalf("Cache-Control %q (status %d), want %q", got, res.StatusCode, tt.want)
			}
		})
	}
}

// Load balancers and link checkers probe with HEAD: every GET route answers
// it the same way, without a body.
func TestHEADAnswersLikeGET(t *testing.T) {
	app := startApp(t)
	admin, _ := app.adminSession(t, "/profile")
	for _, path := range app.routesWith(t, http.MethodGet) {
		t.Run(path, func(t *testing.T) {
			getRes, _ := send(t, admin, http.MethodGet, app.URL+path, nil, nil)
			headRes, body := send(t, admin, http.MethodHead, app.URL+path, nil, nil)
			if headRes.StatusCode != getRes.StatusCode || body != "" {
				t.Fatalf("HEAD: status %d with %d body bytes; GET: status %d", headRes.StatusCode, len(body), getRes.StatusCode)
			}
		})
	}
	res, _ := send(t, newClient(t), http.MethodHead, app.URL+"/healthz", nil, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("HEAD /healthz: status %d, want 200", res.StatusCode)
	}
}

// A wrong method on an existing route is 405 with Allow, before any CSRF or
// sign-in check.
func TestWrongMethodIsMethodNotAllowed(t *testing.T) {
	app := startApp(t)
	admin, token := app.adminSession(t, "/profile")
	tests := []struct {
		method, path string
		client       *http.Client
		wantAllow    string
	}{
		{http.MethodPut, "/login", newClient(t), "GET, HEAD, POST"},
		{http.MethodDelete, "/admin/dingtalk/settings", admin, "GET, HEAD, POST"},
		{http.MethodPost, "/profile", admin, "GET, HEAD"},
		{http.MethodPost, "/healthz", newClient(t), "GET, HEAD"},
		{http.MethodPatch, "/admin/dingtalk/departments/7/sync", newClient(t), "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			res, _ := send(t, tt.client, tt.method, app.URL+tt.path, url.Values{"_csrf": {token}}, nil)
			if res.StatusCode != http.StatusMethodNotAllowed {
				t.Fatalf("status %d, want 405", res.StatusCode)
			}
			if got := sortedAllow(res.Header.Get("Allow")); got != tt.wantAllow {
				t.Fatalf("Allow %q, want %q", got, tt.wantAllow)
			}
		})
	}
}

// sortedAllow puts an Allow header's methods in a fixed order; echo lists
// them in the order it keeps them.
func sortedAllow(allow string) string {
	var methods []string
	for _, m := range strings.Split(allow, ",") {
		if m = strings.TrimSpace(m); m != "" && m != http.MethodOptions {
			methods = append(methods, m)
		}
	}
	slices.Sort(methods)
	return strings.Join(methods, ", ")
}

func TestStaticDirectoriesAreNotListed(t *testing.T) {
	app := startApp(t)
	c := newClient(t)
	for path, want := range map[string]int{
		"/static/":        http.StatusNotFound,
		"/static/vendor/": http.StatusNotFound,
		"/static/vendor":  http.StatusNotFound,
		"/static/app.js":  http.StatusOK,
	} {
		t.Run(path, func(t *testing.T) {
			if status, body, _ := get(t, c, app.URL, path); status != want {
				t.Fatalf("status %d, want %d: %.200s", status, want, body)
			}
		})
	}
}

// The database and the secret key are readable by the app's own user only.
func TestDataFilesArePrivate(t *testing.T) {
	dir := t.TempDir()
	dbDir, keyDir := filepath.Join(dir, "db"), filepath.Join(dir, "keys")
	app := startApp(t, func(c *Config) {
		c.DB = "sqlite://" + filepath.Join(dbDir, "dingfluence.db")
		c.DataDir = keyDir
	})
	// A write, so SQLite has its write-ahead log and shared-memory files.
	app.addUser(t, "alice", "alice-password-1", false)
	for _, path := range []string{dbDir, keyDir} {
		if st, err := os.Stat(path); err != nil || st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: %v, mode %v; want no access for group and others", path, err, st.Mode().Perm())
		}
	}
	for _, path := range []string{"dingfluence.db", "dingfluence.db-wal", "dingfluence.db-shm"} {
		if st, err := os.Stat(filepath.Join(dbDir, path)); err != nil || st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: %v, mode %v; want 0600", path, err, st.Mode().Perm())
		}
	}
	if st, err := os.Stat(filepath.Join(keyDir, "secret.key")); err != nil || st.Mode().Perm()&0o077 != 0 {
		t.Errorf("secret.key: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
}

// When the secret key changed, startup says so at error level, so the
// operator learns of it before DingTalk calls start failing.
func TestUnreadableSecretIsLoggedAtStartup(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite://" + filepath.Join(dir, "shared.db")
	first := startApp(t, func(c *Config) { c.DB, c.SecretKey = db, "first key of this installation" })
	set := models.DefaultSettings()
	set.AgentID, set.AppKey, set.AppSecret = 1, "key", "the-secret"
	if err := first.Store.SaveSettings(context.Background(), set, "test"); err != nil {
		t.Fatal(err)
	}
	if logs := first.logs.String(); strings.Contains(logs, "level=ERROR") {
		t.Fatalf("first start logged an error: %s", logs)
	}

	second := startApp(t, func(c *Config) { c.DB, c.SecretKey = db, "a different key" })
	var found bool
	for _, line := range strings.Split(second.logs.String(), "\n") {
		if strings.Contains(line, "level=ERROR") && strings.Contains(line, "appSecret cannot be decrypted") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no error-level line about the unreadable appSecret in:\n%s", second.logs.String())
	}
}

// An unknown address is a translated 404 page in the chrome, for signed-in
// and signed-out visitors alike, and never a sign-in redirect.
func TestUnknownAddressIsATranslatedPage(t *testing.T) {
	app := startApp(t)
	admin, _ := app.adminSession(t, "/profile")
	tests := []struct {
		name     string
		client   *http.Client
		language string
		want     []string
	}{
		{"signed out, English", newClient(t), "en", []string{"This page does not exist. Check the address."}},
		{"signed in, English", admin, "en", []string{"This page does not exist. Check the address.", "Log out"}},
		{"signed out, Chinese", newClient(t), "zh-CN", []string{"<html lang=\"zh-Hans\""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, app.URL+"/no/such/page", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Accept-Language", tt.language)
			res, err := tt.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusNotFound {
				t.Fatalf("status %d, want 404", res.StatusCode)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(body), w) {
					t.Errorf("page lacks %q", w)
				}
			}
			if strings.Contains(string(body), ">Not Found<") {
				t.Error("page shows the untranslated id")
			}
		})
	}
}
