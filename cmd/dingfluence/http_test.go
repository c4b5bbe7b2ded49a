package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dingfluence/dingfluence/dingtalk/dingtalktest"
	"github.com/dingfluence/dingfluence/models"
)

func TestAccessControl(t *testing.T) {
	app := startApp(t)
	app.addUser(t, "alice", "alice-password-1", false)

	anonymous := newClient(t)
	member := newClient(t)
	signIn(t, member, app.URL, "alice", "alice-password-1")
	admin := newClient(t)
	signIn(t, admin, app.URL, "admin", testAdminPassword)

	tests := []struct {
		name         string
		client       *http.Client
		path         string
		wantStatus   int
		wantLocation string
	}{
		{"anonymous is sent to sign in", anonymous, "/admin/dingtalk/settings", http.StatusSeeOther, "/login?next=%2Fadmin%2Fdingtalk%2Fsettings"},
		{"anonymous profile is sent to sign in", anonymous, "/profile", http.StatusSeeOther, "/login?next=%2Fprofile"},
		{"non-admin is forbidden", member, "/admin/dingtalk/settings", http.StatusForbidden, ""},
		{"non-admin sees own profile", member, "/profile", http.StatusOK, ""},
		{"admin sees settings", admin, "/admin/dingtalk/settings", http.StatusOK, ""},
		{"probes are public", anonymous, "/healthz", http.StatusOK, ""},
		{"readiness checks the database", anonymous, "/readyz", http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := tt.client.Get(app.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d", res.StatusCode, tt.wantStatus)
			}
			if got := res.Header.Get("Location"); got != tt.wantLocation {
				t.Fatalf("Location = %q, want %q", got, tt.wantLocation)
			}
		})
	}

	t.Run("non-admin cannot save settings either", func(t *testing.T) {
		_, _, token := get(t, member, app.URL, "/profile")
		res, _ := post(t, member, app.URL, "/admin/dingtalk/settings", url.Values{"_csrf": {token}, "agentId": {"1"}})
		if res.StatusCode != http.StatusForbidden {
			t.Fatalf("status = %d, want 403", res.StatusCode)
		}
	})
}

func TestCSRF(t *testing.T) {
	app := startApp(t)
	admin, token := app.adminSession(t, "/admin/dingtalk/settings")

	form := validSettingsForm("http://127.0.0.1:1")
	tests := []struct {
		name    string
		token   string
		header  map[string]string
		want    int
		changed bool
	}{
		{"missing token", "", nil, http.StatusForbidden, false},
		{"wrong token", "not-the-token", nil, http.StatusForbidden, false},
		{"cross-site browser request", token, map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden, false},
		{"valid token", token, nil, http.StatusSeeOther, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := url.Values{}
			for k, v := range form {
				f[k] = v
			}
			f.Set("appKey", "key-"+strings.ReplaceAll(tt.name, " ", "-"))
			if tt.token != "" {
				f.Set("_csrf", tt.token)
			}
			req, _ := http.NewRequest(http.MethodPost, app.URL+"/admin/dingtalk/settings", strings.NewReader(f.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			res, err := admin.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tt.want {
				t.Fatalf("status = %d, want %d", res.StatusCode, tt.want)
			}
			set, err := app.Store.LoadSettings(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if changed := set.AppKey == f.Get("appKey"); changed != tt.changed {
				t.Fatalf("settings changed = %v, want %v", changed, tt.changed)
			}
		})
	}

	t.Run("htmx request with the header token", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, app.URL+"/admin/dingtalk/settings/test", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("HX-Request", "true")
		req.Header.Set("X-CSRF-Token", token)
		res, err := admin.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("status = %d, want 200", res.StatusCode)
		}
	})
}

func TestLoginThrottling(t *testing.T) {
	// Behind a proxy on this host, as in production behind a reverse proxy.
	app := startApp(t, func(c *Config) { c.TrustedProxies = "127.0.0.1" })
	c := newClient(t)
	_, _, token := get(t, c, app.URL, "/login")
	attempt := func(password string) (*http.Response, string) {
		return post(t, c, app.URL, "/login", url.Values{"username": {"admin"}, "password": {password}, "_csrf": {token}})
	}
	for i := 1; i <= 5; i++ {
		res, body := attempt("wrong-password")
		if res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "username or password is incorrect") {
			t.Fatalf("attempt %d: status %d, want 401 with a message", i, res.StatusCode)
		}
	}
	// The sixth attempt is refused even with the right password.
	res, body := attempt(testAdminPassword)
	if res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status = %d, want 429", res.StatusCode)
	}
	if res.Header.Get("Retry-After") == "" || !strings.Contains(body, "Too many failed attempts") {
		t.Fatalf("throttled answer lacks Retry-After or message: %q", res.Header.Get("Retry-After"))
	}

	// Another address is not locked out of the account.
	other := newClient(t)
	_, _, otherToken := get(t, other, app.URL, "/login")
	req, _ := http.NewRequest(http.MethodPost, app.URL+"/login", strings.NewReader(url.Values{"username": {"admin"}, "password": {testAdminPassword}, "_csrf": {otherToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	res2, err := other.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res2.Body.Close()
	if res2.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in from another address: status %d, want 303", res2.StatusCode)
	}
}

func TestCookieFlags(t *testing.T) {
	tests := []struct {
		baseURL    string
		wantName   string
		wantSecure bool
	}{
		{"http://127.0.0.1", "df_session", false},
		// Over https the __Host- prefix makes browsers refuse the cookie from
		// anywhere but this host, Secure, Path=/ and without Domain.
		{"https://dingfluence.example.com", "__Host-df_session", true},
	}
	for _, tt := range tests {
		t.Run(tt.baseURL, func(t *testing.T) {
			app := startApp(t, func(c *Config) { c.BaseURL = tt.baseURL })
			// By hand, since a cookie jar would not send a Secure cookie
			// back over this test's plain http.
			session, token := app.signedOutSession(t)
			form := url.Values{"username": {"admin"}, "password": {testAdminPassword}, "_csrf": {token}}
			req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.AddCookie(session)
			rec := httptest.NewRecorder()
			app.Handler.ServeHTTP(rec, req)
			if rec.Code != http.StatusSeeOther {
				t.Fatalf("sign-in status %d", rec.Code)
			}
			var found bool
			for _, ck := range rec.Result().Cookies() {
				if ck.Name != tt.wantName {
					t.Fatalf("cookie %q set, want only %q", ck.Name, tt.wantName)
				}
				found = true
				if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Secure != tt.wantSecure || ck.Path != "/" || ck.Domain != "" {
					t.Fatalf("session cookie HttpOnly=%v SameSite=%v Secure=%v Path=%q Domain=%q, want HttpOnly, Lax, Secure=%v, Path=/, no Domain",
						ck.HttpOnly, ck.SameSite, ck.Secure, ck.Path, ck.Domain, tt.wantSecure)
				}
			}
			if !found {
				t.Fatal("sign-in set no session cookie")
			}
		})
	}
}

// validSettingsForm is a complete, valid settings form pointing every
// DingTalk URL at base.
func validSettingsForm(base string) url.Values {
	return url.Values{
		"agentId":             {"123456"},
		"appKey":              {"ding-app-key"},
		"appSecret":           {"ding-app-secret"},
		"tokenUrl":            {base + "/gettoken"},
		"sendMessageUrl":      {base + "/topapi/message/corpconversation/asyncsend_v2"},
		"subDepartmentUrl":    {base + "/topapi/v2/department/listsub"},
		"departmentDetailUrl": {base + "/topapi/v2/department/get"},
		"departmentUsersUrl":  {base + "/topapi/user/listid"},
		"userProfileUrl":      {base + "/topapi/v2/user/get"},
		"userByMobileUrl":     {base + "/topapi/v2/user/getbymobile"},
		"userListUrl":         {base + "/topapi/v2/user/list"},
		"syncIntervalMinutes": {"60"},
		"coalesceMinutes":     {"10"},
		"matchingMethod":      {"email"},
		"enabled":             {"yes"},
	}
}

func TestMetricsExposeHTTPAndDingTalkCalls(t *testing.T) {
	dt := dingtalktest.Start(t, dingtalktest.Options{AppKey: "ding-app-key", AppSecret: "ding-app-secret", AgentID: 123456})
	app := startApp(t)
	admin, token := app.adminSession(t, "/admin/dingtalk/settings")

	form := validSettingsForm(dt.URL())
	form.Set("_csrf", token)
	res, body := post(t, admin, app.URL, "/admin/dingtalk/settings/test", form)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "test-connection-ok") {
		t.Fatalf("test connection: status %d, body %.300s", res.StatusCode, body)
	}

	_, metrics, _ := get(t, newClient(t), app.URL, "/metrics")
	for _, want := range []string{
		// No label from the request as sent: host is always empty, url is the route.
		`http_requests_total{code="200",host="",method="POST",url="/admin/dingtalk/settings/test"} 1`,
		`dingtalk_token_fetches_total 1`,
		`dingtalk_api_calls_total{api="gettoken",code="0"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// After signing in, people land where they were going, but never off-site.
func TestLoginRedirectStaysOnSite(t *testing.T) {
	app := startApp(t)
	tests := []struct{ next, want string }{
		{"/admin/dingtalk/members?q=wang", "/admin/dingtalk/members?q=wang"},
		{"//evil.example/phish", "/"},
		{"https://evil.example/", "/"},
		{"/\\evil.example", "/"},
		{"", "/"},
	}
	for _, tt := range tests {
		t.Run(tt.next, func(t *testing.T) {
			c := newClient(t)
			_, _, token := get(t, c, app.URL, "/login")
			res, _ := post(t, c, app.URL, "/login", url.Values{"username": {"admin"}, "password": {testAdminPassword}, "_csrf": {token}, "next": {tt.next}})
			if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != tt.want {
				t.Fatalf("status %d Location %q, want 303 to %q", res.StatusCode, res.Header.Get("Location"), tt.want)
			}
		})
	}
}

// X-Forwarded-For counts only when it comes from a configured proxy; from
// anywhere else it cannot be forged to get fresh sign-in attempts.
func TestForgedForwardedForDoesNotDodgeThrottling(t *testing.T) {
	app := startApp(t)
	session, token := app.signedOutSession(t)
	attempt := func(forwardedFor string) int {
		form := url.Values{"username": {"admin"}, "password": {"wrong"}, "_csrf": {token}}
		req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
		req.RemoteAddr = "203.0.113.50:41000" // a public client, no proxy
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(session)
		req.Header.Set("X-Forwarded-For", forwardedFor)
		rec := httptest.NewRecorder()
		app.Handler.ServeHTTP(rec, req)
		return rec.Code
	}
	for i := range 5 {
		if code := attempt(fmt.Sprintf("198.51.100.%d", i)); code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: status %d, want 401", i+1, code)
		}
	}
	if code := attempt("198.51.100.99"); code != http.StatusTooManyRequests {
		t.Fatalf("sixth attempt with a new forged address: status %d, want 429", code)
	}
}

// Signing in issues a new session token, so a token known before sign-in
// (planted, or from a previous person at the same browser) is worth nothing.
func TestSignInRenewsTheSessionToken(t *testing.T) {
	app := startApp(t)
	app.addUser(t, "alice", "alice-password-1", false)
	c := newClient(t)
	signIn(t, c, app.URL, "alice", "alice-password-1")
	base, _ := url.Parse(app.URL)
	sessionToken := func() string {
		for _, ck := range c.Jar.Cookies(base) {
			if ck.Name == "df_session" {
				return ck.Value
			}
		}
		return ""
	}
	before := sessionToken()

	// The same browser signs in as someone else.
	_, _, token := get(t, c, app.URL, "/profile")
	res, _ := post(t, c, app.URL, "/login", url.Values{"username": {"admin"}, "password": {testAdminPassword}, "_csrf": {token}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("second sign-in: status %d", res.StatusCode)
	}
	if after := sessionToken(); after == "" || after == before {
		t.Fatalf("session token before %q, after %q: want a new one", before, after)
	}

	// The old token no longer signs anybody in.
	old := newClient(t)
	old.Jar.SetCookies(base, []*http.Cookie{{Name: "df_session", Value: before}})
	if status, _, _ := get(t, old, app.URL, "/profile"); status != http.StatusSeeOther {
		t.Fatalf("the pre-sign-in token still opens /profile: status %d", status)
	}
}

// When the secret key changed, the Settings screen still opens and says the
// stored appSecret must be entered again.
func TestSettingsPageWithAnUnreadableSecret(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite://" + filepath.Join(dir, "shared.db")
	first := startApp(t, func(c *Config) { c.DB, c.SecretKey = db, "first key of this installation" })
	set := models.DefaultSettings()
	set.AgentID, set.AppKey, set.AppSecret = 1, "key", "the-secret"
	if err := first.Store.SaveSettings(context.Background(), set, "test"); err != nil {
		t.Fatal(err)
	}

	second := startApp(t, func(c *Config) { c.DB, c.SecretKey = db, "a different key" })
	admin := newClient(t)
	signIn(t, admin, second.URL, "admin", testAdminPassword)
	status, body, _ := get(t, admin, second.URL, "/admin/dingtalk/settings")
	if status != http.StatusOK || !strings.Contains(body, "cannot be decrypted") || !strings.Contains(body, `value="key"`) {
		t.Fatalf("status %d; want the form with its values and the unreadable-secret note: %.400s", status, body)
	}
}
