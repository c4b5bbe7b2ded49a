package main

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dingfluence/dingfluence/confluence/confluencetest"
	"github.com/dingfluence/dingfluence/models"
)

// confluenceSite is a simulated Confluence with a service account that is an
// administrator (svc, in confluence-administrators), a normal user (ann) and the user
// group (svc, ann, bob); adminToken and userToken are their personal access tokens.
type confluenceSite struct {
	*confluencetest.Server
	adminToken string
	userToken  string
}

func confluenceFixture(t testing.TB) confluenceSite {
	t.Helper()
	cf := confluencetest.New(t)
	cf.AddUser(confluencetest.User{Username: "svc", DisplayName: "Service Account", Email: "svc@example.com", Admin: true})
	cf.AddUser(confluencetest.User{Username: "ann", DisplayName: "Ann Lee", Email: "ann@example.com"})
	cf.AddUser(confluencetest.User{Username: "bob", DisplayName: "Bob Wu", Email: "bob@example.com", HideEmail: true})
	cf.AddToGroup(models.DefaultConfluenceAdminGroup, "svc")
	cf.AddToGroup(models.DefaultConfluenceUserGroup, "svc", "ann", "bob")
	return confluenceSite{Server: cf, adminToken: cf.IssuePAT("svc"), userToken: cf.IssuePAT("ann")}
}

// confluenceForm is a valid Confluence screen submission.
func confluenceForm(base, token, csrf string) url.Values {
	return url.Values{
		"_csrf": {csrf}, "baseUrl": {base}, "serviceToken": {token},
		"adminGroup": {models.DefaultConfluenceAdminGroup}, "userGroup": {models.DefaultConfluenceUserGroup},
		"oauthClientId": {"dingfluence-client"}, "oauthClientSecret": {"oauth-client-secret-value"},
	}
}

// configureConfluence stores a connection to cf with token.
func configureConfluence(t testing.TB, app *testApp, base, token string) {
	t.Helper()
	set := models.DefaultConfluenceSettings()
	set.BaseURL, set.Token = base, token
	if err := app.Store.SaveConfluenceSettings(context.Background(), set, "test"); err != nil {
		t.Fatal(err)
	}
}

// The screen is in the admin navigation above DingTalk, shows the redirect URL to
// paste into Confluence, and starts with Confluence's default groups.
func TestConfluenceScreen(t *testing.T) {
	app := startApp(t, func(c *Config) { c.BaseURL = "https://dingfluence.example.com/" })
	admin, _ := app.adminSession(t, "/admin")
	status, body, _ := get(t, admin, app.URL, "/admin/confluence")
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	nav, dingtalk := strings.Index(body, `id="nav-confluence"`), strings.Index(body, `id="nav-settings"`)
	if nav < 0 || dingtalk < 0 || nav > dingtalk || !strings.Contains(body, `href="/admin/confluence" id="nav-confluence"`) {
		t.Errorf("Confluence entry missing or not above the DingTalk group (at %d, DingTalk at %d)", nav, dingtalk)
	}
	for _, want := range []string{
		`id="redirectUrl" value="https://dingfluence.example.com/login/confluence/callback" readonly`,
		`data-copy-target="redirectUrl"`,
		`name="adminGroup" value="confluence-administrators"`,
		`name="userGroup" value="confluence-users"`,
		`type="password" id="serviceToken"`,
		`type="password" id="oauthClientSecret"`,
		"No directory sync has run yet.",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("screen lacks %s", want)
		}
	}
}

// Each field error is shown under its field with the form as typed (never a secret),
// nothing is saved; a valid form is saved with its secrets sealed and never rendered.
func TestConfluenceSaveAndValidate(t *testing.T) {
	app := startApp(t)
	admin, csrf := app.adminSession(t, "/admin/confluence")
	tests := []struct {
		field, value, want string
	}{
		{"baseUrl", "", "Enter the base URL of your Confluence."},
		{"baseUrl", "wiki.example.com", "Enter an absolute http:// or https:// address"},
		{"baseUrl", "https://user:pw@wiki.example.com", "without a user name"},
		{"baseUrl", "https://wiki.example.com/?x=1", "query"},
		{"baseUrl", "https://wiki.example.com/" + strings.Repeat("p", models.ConfluenceBaseURLMax), "at most 500 characters"},
		{"baseUrl", "https://wiki.example.com/\xff", "not valid UTF-8"},
		{"serviceToken", strings.Repeat("t", models.ConfluenceSecretMaxBytes+1), "at most 722 bytes"},
		{"adminGroup", " ", "Enter a Confluence group name."},
		{"userGroup", "", "Enter a Confluence group name."},
		{"userGroup", strings.Repeat("g", models.ConfluenceGroupMax+1), "at most 255 characters"},
		{"oauthClientId", strings.Repeat("c", models.ConfluenceClientIDMax+1), "at most 255 characters"},
		{"oauthClientSecret", strings.Repeat("s", models.ConfluenceSecretMaxBytes+1), "at most 722 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.field+" "+tt.want, func(t *testing.T) {
			form := confluenceForm("https://wiki.example.com", "typed-token-value", csrf)
			form.Set("oauthClientId", "client-"+tt.field)
			form.Set(tt.field, tt.value)
			res, body := post(t, admin, app.URL, "/admin/confluence", form)
			if res.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", res.StatusCode)
			}
			i := strings.Index(body, `id="`+tt.field+`-error">`)
			if i < 0 || !strings.Contains(html.UnescapeString(body[i:min(len(body), i+300)]), tt.want) {
				t.Fatalf("no %s error saying %q", tt.field, tt.want)
			}
			if tt.field != "oauthClientId" && !strings.Contains(body, `value="client-`+tt.field+`"`) {
				t.Error("the other fields are not kept")
			}
			if strings.Contains(body, "typed-token-value") || strings.Contains(body, "oauth-client-secret-value") {
				t.Error("a typed secret is echoed into the page")
			}
			if set, err := app.Store.LoadConfluenceSettings(context.Background()); err != nil || set.BaseURL != "" {
				t.Fatalf("settings were saved: %+v, %v", set, err)
			}
		})
	}

	res, _ := post(t, admin, app.URL, "/admin/confluence", confluenceForm("https://wiki.example.com/confluence/", "typed-token-value", csrf))
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/admin/confluence" {
		t.Fatalf("valid save: status %d, location %q", res.StatusCode, res.Header.Get("Location"))
	}
	set, err := app.Store.LoadConfluenceSettings(context.Background())
	if err != nil || set.BaseURL != "https://wiki.example.com/confluence" || set.Token != "typed-token-value" ||
		set.OAuthClientSecret != "oauth-client-secret-value" || strings.Contains(set.TokenSealed, "typed-token-value") {
		t.Fatalf("stored = %+v, %v", set, err)
	}
	_, body, _ := get(t, admin, app.URL, "/admin/confluence")
	if !strings.Contains(body, "Confluence settings saved.") || !strings.Contains(body, "A token is stored — leave empty to keep it") {
		t.Errorf("after save: no flash or stored-token hint")
	}
	if strings.Contains(body, "typed-token-value") || strings.Contains(body, "oauth-client-secret-value") {
		t.Error("a stored secret is rendered into the page")
	}
	// Saving again with the secrets left empty keeps them.
	form := confluenceForm("https://wiki.example.com/confluence", "", csrf)
	form.Set("oauthClientSecret", "")
	if res, _ := post(t, admin, app.URL, "/admin/confluence", form); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("save without secrets: status %d", res.StatusCode)
	}
	if set, _ := app.Store.LoadConfluenceSettings(context.Background()); set.Token != "typed-token-value" || set.OAuthClientSecret != "oauth-client-secret-value" {
		t.Errorf("empty secret fields replaced the stored secrets: %+v", set)
	}
}

// Test connection shows whom the token signs in as and whether that account is an
// administrator that can list group members, or Confluence's status and message.
func TestConfluenceTestConnection(t *testing.T) {
	cf := confluenceFixture(t)
	gone := confluencetest.New(t)
	goneURL := gone.URL()
	gone.Close()
	app := startApp(t)
	admin, csrf := app.adminSession(t, "/admin/confluence")
	tests := []struct {
		name, base, token string
		want              []string
		not               []string
	}{
		{"administrator", cf.URL(), cf.adminToken, []string{
			"The token signs in as Service Account (svc).", `id="confluence-test-admin" data-admin="true"`,
			"Confluence administrator: yes", `data-can-list="true"`, "aui-message-success",
		}, nil},
		{"normal user", cf.URL(), cf.userToken, []string{
			"The token signs in as Ann Lee (ann).", `data-admin="false"`, "Confluence administrator: no",
			`data-can-list="false"`, "Confluence answered HTTP 403:", "Only a Confluence administrator can list",
			"aui-message-warning",
		}, []string{"aui-message-success"}},
		{"refused token", cf.URL(), "not-a-token", []string{
			`id="confluence-test-failed"`, "The token was refused", "Confluence answered HTTP 401:",
		}, []string{"signs in as"}},
		{"wrong context path", cf.URL() + "/wiki", cf.adminToken, []string{
			"No Confluence at this URL? Check the base URL and its context path", "Confluence answered HTTP 404",
		}, nil},
		{"unreachable", goneURL, cf.adminToken, []string{"Could not reach Confluence. The network said: "}, []string{"HTTP"}},
		{"bad base URL", "wiki", cf.adminToken, []string{`id="baseUrl-test-error" class="error" hx-swap-oob="true"`}, nil},
		{"no token stored", cf.URL(), "", []string{`id="serviceToken-test-error" class="error"`, "No token is stored yet."}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := post(t, admin, app.URL, "/admin/confluence/test", confluenceForm(tt.base, tt.token, csrf))
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d, body %.300s", res.StatusCode, body)
			}
			body = html.UnescapeString(body)
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("result lacks %q: %.1500s", w, body)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(body, n) {
					t.Errorf("result has %q", n)
				}
			}
			if tt.token != "" && strings.Contains(body, tt.token) {
				t.Error("the token is in the result")
			}
		})
	}
	entries, err := app.Store.AuditPage(context.Background(), models.AuditQuery{Action: models.ActionConfluenceTest})
	if err != nil || entries.Total != len(tests) {
		t.Fatalf("audit entries %d, %v; want one per test", entries.Total, err)
	}
	for _, e := range entries.Entries {
		if strings.Contains(e.Details, cf.adminToken) || strings.Contains(e.Details, cf.userToken) || e.Actor != "admin" {
			t.Errorf("audit entry %+v", e)
		}
	}
}

// With the token field empty the stored token is used, but only for the origin it was
// saved for: another Confluence receives nothing and the token field asks for it.
func TestConfluenceTestStoredTokenStaysWithItsOrigin(t *testing.T) {
	cf := confluenceFixture(t)
	other := confluenceFixture(t)
	app := startApp(t)
	configureConfluence(t, app, cf.URL(), cf.adminToken)
	admin, csrf := app.adminSession(t, "/admin/confluence")

	_, body := post(t, admin, app.URL, "/admin/confluence/test", confluenceForm(cf.URL()+"/", "", csrf))
	if !strings.Contains(html.UnescapeString(body), "signs in as Service Account (svc)") {
		t.Fatalf("saved origin with the stored token: %.800s", body)
	}
	_, body = post(t, admin, app.URL, "/admin/confluence/test", confluenceForm(other.URL(), "", csrf))
	if n := len(other.Requests()); n != 0 {
		t.Fatalf("%d requests reached the other Confluence", n)
	}
	if !strings.Contains(body, `id="serviceToken-test-error" class="error" hx-swap-oob="true"`) || !strings.Contains(body, "type the token") {
		t.Fatalf("another origin: no token field error: %.800s", body)
	}
	for _, r := range cf.Requests() {
		if r.Secret != cf.adminToken {
			t.Errorf("request %s %s sent %q", r.Method, r.Path, r.Secret)
		}
	}
}

// Every new POST needs the session's CSRF token, and every new page an administrator.
func TestConfluenceScreenAuthz(t *testing.T) {
	app := startApp(t)
	app.addUser(t, "alice", "alice-password-1", false)
	alice := newClient(t)
	signIn(t, alice, app.URL, "alice", "alice-password-1")
	_, _, aliceCSRF := get(t, alice, app.URL, "/profile")
	admin, csrf := app.adminSession(t, "/admin/confluence")
	for _, path := range []string{"/admin/confluence", "/admin/confluence/directory/runs", "/admin/confluence/directory/runs/1"} {
		if status, _, _ := get(t, alice, app.URL, path); status != http.StatusForbidden {
			t.Errorf("GET %s as a normal user: %d, want 403", path, status)
		}
	}
	for _, path := range []string{"/admin/confluence", "/admin/confluence/test", "/admin/confluence/directory/sync"} {
		form := confluenceForm("https://wiki.example.com", "tok", aliceCSRF)
		if res, _ := post(t, alice, app.URL, path, form); res.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s as a normal user: %d, want 403", path, res.StatusCode)
		}
		for name, token := range map[string]string{"without a token": "", "with a forged token": csrf + "x"} {
			form := confluenceForm("https://wiki.example.com", "tok", token)
			if res, _ := post(t, admin, app.URL, path, form); res.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s %s: %d, want 403", path, name, res.StatusCode)
			}
		}
	}
	if set, _ := app.Store.LoadConfluenceSettings(context.Background()); set.BaseURL != "" {
		t.Errorf("a refused POST saved settings: %+v", set)
	}
	if runs, _ := app.Store.RecentDirectoryRuns(context.Background(), 0); len(runs) != 0 {
		t.Errorf("a refused POST started a directory sync: %+v", runs)
	}
}

var directoryRunID = regexp.MustCompile(`id="directory-run-(\d+)"`)

// waitDirectoryRun polls a run's panel, as the page does, until the run has ended, and
// returns the final panel.
func waitDirectoryRun(t *testing.T, c *http.Client, app *testApp, panel string) string {
	t.Helper()
	m := directoryRunID.FindStringSubmatch(panel)
	if m == nil {
		t.Fatalf("no run in %.300s", panel)
	}
	deadline := time.Now().Add(30 * time.Second)
	for strings.Contains(panel, `data-status="running"`) {
		if time.Now().After(deadline) {
			t.Fatal("directory sync still running after 30 s")
		}
		_, panel, _ = get(t, c, app.URL, "/admin/confluence/directory/runs/"+m[1])
	}
	return panel
}

// Sync users now, before Confluence is configured, says what to fill in and sends
// nothing; once configured it syncs the user group into the users table, with a
// progress panel, the recent list and an audit entry.
func TestDirectorySyncFromScreen(t *testing.T) {
	cf := confluenceFixture(t)
	app := startApp(t)
	admin, csrf := app.adminSession(t, "/admin/confluence")

	// Only a base URL: without the token no request may leave.
	set := models.DefaultConfluenceSettings()
	set.BaseURL = cf.URL()
	if err := app.Store.SaveConfluenceSettings(context.Background(), set, "test"); err != nil {
		t.Fatal(err)
	}
	res, body := post(t, admin, app.URL, "/admin/confluence/directory/sync", url.Values{"_csrf": {csrf}})
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `id="directory-not-configured"`) ||
		!strings.Contains(body, "Confluence is not configured") || !strings.Contains(body, "service personal access token") {
		t.Fatalf("not configured: status %d, %.500s", res.StatusCode, body)
	}
	if n := len(cf.Requests()); n != 0 {
		t.Fatalf("%d requests reached Confluence", n)
	}

	configureConfluence(t, app, cf.URL(), cf.adminToken)
	res, body = post(t, admin, app.URL, "/admin/confluence/directory/sync", url.Values{"_csrf": {csrf}})
	if res.StatusCode != http.StatusAccepted || !strings.Contains(body, "<aui-progressbar") {
		t.Fatalf("start: status %d, %.500s", res.StatusCode, body)
	}
	final := html.UnescapeString(waitDirectoryRun(t, admin, app, body))
	if !strings.Contains(final, `data-status="succeeded"`) || !strings.Contains(final, "Members listed: 3 (1 page(s))") ||
		!strings.Contains(final, "Written: 3 new, 0 updated, 0 deactivated") || strings.Contains(final, "hx-get") {
		t.Fatalf("final panel: %.800s", final)
	}
	for _, name := range []string{"svc", "ann", "bob"} {
		u, err := app.Store.UserByUsername(context.Background(), name)
		if err != nil || u.UserKey == nil {
			t.Errorf("user %s: %+v, %v", name, u, err)
		}
	}
	if u, _ := app.Store.UserByUsername(context.Background(), "bob"); u.Email != "bob@example.com" {
		t.Errorf("bob's hidden e-mail = %q, want it from the lookup", u.Email)
	}
	_, recent, _ := get(t, admin, app.URL, "/admin/confluence/directory/runs")
	if !strings.Contains(recent, `data-status="succeeded"`) || !strings.Contains(recent, ">admin<") || !strings.Contains(recent, "confluence-users") {
		t.Errorf("recent runs: %.800s", recent)
	}
	page, err := app.Store.AuditPage(context.Background(), models.AuditQuery{Action: models.ActionDirectorySyncStart})
	if err != nil || page.Total != 1 || page.Entries[0].Actor != "admin" {
		t.Errorf("audit: %+v, %v", page, err)
	}
}

// A press while a sync runs shows the running one instead of starting another.
func TestDirectorySyncBusy(t *testing.T) {
	cf := confluenceFixture(t)
	app := startApp(t)
	configureConfluence(t, app, cf.URL(), cf.adminToken)
	admin, csrf := app.adminSession(t, "/admin/confluence")
	reached := make(chan struct{}, 1)
	cf.InjectFault(confluencetest.Fault{Path: "/rest/api/group", Stall: true, Reached: reached}, 1)
	res, first := post(t, admin, app.URL, "/admin/confluence/directory/sync", url.Values{"_csrf": {csrf}})
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("start: %d", res.StatusCode)
	}
	<-reached
	id := directoryRunID.FindStringSubmatch(first)[1]
	res, second := post(t, admin, app.URL, "/admin/confluence/directory/sync", url.Values{"_csrf": {csrf}})
	if res.StatusCode != http.StatusOK || !strings.Contains(second, `id="directory-run-`+id+`"`) ||
		!strings.Contains(second, "already running") || !strings.Contains(second, `data-status="running"`) {
		t.Fatalf("second press: %d, %.500s", res.StatusCode, second)
	}
	// The screen shows the running sync polling itself.
	_, screen, _ := get(t, admin, app.URL, "/admin/confluence")
	if !strings.Contains(screen, `hx-get="/admin/confluence/directory/runs/`+id+`"`) {
		t.Errorf("the screen does not show the running sync")
	}
	if runs, _ := app.Store.RecentDirectoryRuns(context.Background(), 0); len(runs) != 1 {
		t.Errorf("%d runs; want the one", len(runs))
	}
}

// A run whose server died shows as interrupted and stops polling.
func TestDirectoryRunInterrupted(t *testing.T) {
	app := startApp(t)
	admin, _ := app.adminSession(t, "/admin/confluence")
	old := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	run, started, err := app.Store.BeginDirectoryRun(context.Background(), models.DirectoryRun{
		Trigger: models.DirectoryTriggerUser, Actor: "admin", GroupName: "confluence-users", StartedAt: old, HeartbeatAt: old,
	}, old.Add(-time.Hour))
	if err != nil || !started {
		t.Fatal(started, err)
	}
	_, panel, _ := get(t, admin, app.URL, "/admin/confluence/directory/runs/"+strconv.FormatUint(uint64(run.ID), 10))
	if !strings.Contains(panel, `data-status="interrupted"`) || strings.Contains(panel, "hx-get") || !strings.Contains(panel, "Interrupted") {
		t.Errorf("stale run panel: %.500s", panel)
	}
	_, screen, _ := get(t, admin, app.URL, "/admin/confluence")
	if !strings.Contains(screen, `data-status="interrupted"`) {
		t.Errorf("recent list does not show the run interrupted")
	}
}

// In the assembled app a manual org sync re-matches everyone: a Confluence user synced
// before DingTalk was is unmatched, and matched once "Full sync" has run.
func TestManualOrgSyncRematches(t *testing.T) {
	cf := confluenceFixture(t)
	cf.AddUser(confluencetest.User{Username: "zhang.san", Email: "zhang.san@acme.example"})
	cf.AddToGroup(models.DefaultConfluenceUserGroup, "zhang.san")
	dt := orgFixture(t)
	app := startApp(t)
	configureConfluence(t, app, cf.URL(), cf.adminToken)
	configureDingTalk(t, app, dt)
	admin, csrf := app.adminSession(t, "/admin/confluence")
	_, body := post(t, admin, app.URL, "/admin/confluence/directory/sync", url.Values{"_csrf": {csrf}})
	waitDirectoryRun(t, admin, app, body)
	if u, err := app.Store.UserByUsername(context.Background(), "zhang.san"); err != nil || u.MatchStatus != models.MatchUnmatched {
		t.Fatalf("before the org sync: %+v, %v; want unmatched", u.ConfluenceIdentity, err)
	}
	startAndWait(t, admin, app, csrf, "full")
	// The re-match follows the run's recorded end, so the run can read as finished a
	// moment before the match lands.
	deadline := time.Now().Add(30 * time.Second)
	for {
		u, err := app.Store.UserByUsername(context.Background(), "zhang.san")
		if err == nil && u.MatchStatus == models.MatchMatched && u.DingTalkUserID == "zhangsan" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the org sync: %+v, %v; want matched to zhangsan", u.ConfluenceIdentity, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
