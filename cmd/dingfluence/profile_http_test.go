package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dingfluence/dingfluence/dingtalk/dingtalktest"
	"github.com/dingfluence/dingfluence/models"
)

// profileFixture is an app configured against a DingTalk double that knows 张三 by
// mobile, with a synced directory holding everyone the tests match against.
func profileFixture(t *testing.T) (*testApp, *dingtalktest.Server) {
	t.Helper()
	dt := dingtalktest.Start(t, dingtalktest.Options{AppKey: "ding-app-key", AppSecret: "ding-app-secret", AgentID: 123456})
	dt.AddUser(dingtalktest.User{UserID: "zhangsan", Name: "张三", Email: "zhang.san@acme.example", JobNumber: "A0001",
		Mobile: "13912345678", Active: true, DeptIDs: []int64{1}})
	// 李四 joined DingTalk after the last org sync: only DingTalk knows them.
	dt.AddUser(dingtalktest.User{UserID: "lisi", Name: "李四", Email: "li.si@acme.example", JobNumber: "B0002",
		Mobile: "13700001111", Active: true, DeptIDs: []int64{1}})
	app := startApp(t)
	configureDingTalk(t, app, dt)
	synced := []models.DingTalkUser{
		{UserID: "dt-alice", Name: "Alice", Email: "alice@acme.example", JobNumber: "E1001", Mobile: "13800000001", Active: true, Activated: true},
		{UserID: "dt-bob", Name: "Bob", Email: "robert@acme.example", JobNumber: "bob", Active: true, Activated: true},
		{UserID: "dt-twin1", Name: "Twin 1", Email: "twin@acme.example", JobNumber: "T1", Active: true},
		{UserID: "dt-twin2", Name: "Twin 2", OrgEmail: "twin@acme.example", JobNumber: "T1", Active: true},
		{UserID: "zhangsan", Name: "张三", Email: "zhang.san@acme.example", JobNumber: "A0001", Mobile: "13912345678", Active: true, Activated: true},
	}
	if _, err := app.Store.UpsertDingTalkUsers(context.Background(), synced, time.Now()); err != nil {
		t.Fatal(err)
	}
	return app, dt
}

// setGlobalMethod changes the Settings screen's matching method.
func setGlobalMethod(t *testing.T, app *testApp, m models.MatchingMethod) {
	t.Helper()
	ctx := context.Background()
	set, err := app.Store.LoadSettings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	set.MatchingMethod = m
	if err := app.Store.SaveSettings(ctx, set, "test"); err != nil {
		t.Fatal(err)
	}
}

func storedUser(t *testing.T, app *testApp, id uint) models.User {
	t.Helper()
	u, err := app.Store.UserByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// saveAndSync submits the signed-in user's DingTalk tab.
func saveAndSync(t *testing.T, app *testApp, c *http.Client, token string, form url.Values) (*http.Response, string) {
	t.Helper()
	form.Set("_csrf", token)
	if form.Get("enabled") == "" {
		form.Set("enabled", "yes")
	}
	if form.Get("notifyOwnChanges") == "" {
		form.Set("notifyOwnChanges", "no")
	}
	return post(t, c, app.URL, "/profile/dingtalk", form)
}

// cell is the text of the identity table's cell id, as rendered.
func cell(body, id string) string {
	i := strings.Index(body, `id="`+id+`"`)
	if i < 0 {
		return "(no " + id + ")"
	}
	rest := body[i:]
	rest = rest[strings.Index(rest, ">")+1:]
	end := strings.Index(rest, "</td>")
	if end < 0 {
		return "(unterminated " + id + ")"
	}
	text := rest[:end]
	for _, tag := range []string{"<code dir=\"auto\">", "</code>", "<bdi>", "</bdi>"} {
		text = strings.ReplaceAll(text, tag, "")
	}
	return strings.TrimSpace(text)
}

// Save And Sync with each method: the identity found, or exactly why none was.
func TestSaveAndSyncEachMethod(t *testing.T) {
	app, dt := profileFixture(t)
	tests := []struct {
		name     string
		global   models.MatchingMethod
		username string
		email    string
		form     url.Values
		// want: the outcome message, the identity's userid and job number, or the reason.
		matched           bool
		userID, jobNumber string
		reason            string
		wantOwnMethod     models.MatchingMethod // as stored: "" follows the global one
		wantMobileLookups int
	}{
		{name: "e-mail found", global: models.MatchEmail, username: "alice", email: "Alice@acme.example",
			form: url.Values{"matchingMethod": {"email"}}, matched: true, userID: "dt-alice", jobNumber: "E1001"},
		{name: "e-mail not found", global: models.MatchEmail, username: "carol", email: "carol@acme.example",
			form: url.Values{"matchingMethod": {"email"}}, reason: "No DingTalk user has e-mail carol@acme.example."},
		{name: "e-mail ambiguous", global: models.MatchEmail, username: "twin", email: "twin@acme.example",
			form: url.Values{"matchingMethod": {"email"}}, reason: "Ambiguous: 2 DingTalk users have e-mail twin@acme.example."},
		{name: "job number found", global: models.MatchJobNumber, username: "bob", email: "bob@elsewhere.example",
			form: url.Values{"matchingMethod": {"job_number"}}, matched: true, userID: "dt-bob", jobNumber: "bob"},
		{name: "job number not found", global: models.MatchJobNumber, username: "nobody", email: "nobody@acme.example",
			form: url.Values{"matchingMethod": {"job_number"}}, reason: "No DingTalk user has job number nobody."},
		{name: "job number ambiguous", global: models.MatchJobNumber, username: "T1", email: "t1@acme.example",
			form: url.Values{"matchingMethod": {"job_number"}}, reason: "Ambiguous: 2 DingTalk users have job number T1."},
		{name: "mobile found through DingTalk's user-by-mobile", global: models.MatchEmail, username: "zs", email: "zs@elsewhere.example",
			form: url.Values{"matchingMethod": {"mobile"}, "mobile": {"139 1234 5678"}}, matched: true, userID: "zhangsan", jobNumber: "A0001",
			wantOwnMethod: models.MatchMobile, wantMobileLookups: 1},
		{name: "mobile found before the org sync has them: details from DingTalk", global: models.MatchEmail, username: "ls", email: "ls@elsewhere.example",
			form: url.Values{"matchingMethod": {"mobile"}, "mobile": {"13700001111"}}, matched: true, userID: "lisi", jobNumber: "B0002",
			wantOwnMethod: models.MatchMobile, wantMobileLookups: 1},
		{name: "mobile not found, in DingTalk's words", global: models.MatchEmail, username: "mo", email: "mo@elsewhere.example",
			form: url.Values{"matchingMethod": {"mobile"}, "mobile": {"+86-13800009999"}}, reason: "DingTalk says: 60121 找不到该用户",
			wantOwnMethod: models.MatchMobile, wantMobileLookups: 1},
		{name: "own method over the global one", global: models.MatchEmail, username: "E1001", email: "someone@elsewhere.example",
			form: url.Values{"matchingMethod": {"job_number"}}, matched: true, userID: "dt-alice", jobNumber: "E1001",
			wantOwnMethod: models.MatchJobNumber},
		{name: "own e-mail over global job number", global: models.MatchJobNumber, username: "alice2", email: "alice@acme.example",
			form: url.Values{"matchingMethod": {"email"}}, matched: true, userID: "dt-alice", jobNumber: "E1001",
			wantOwnMethod: models.MatchEmail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setGlobalMethod(t, app, tt.global)
			u := app.addConfluenceUser(t, tt.username, tt.email)
			c, token := app.userSession(t, tt.username, "/profile/dingtalk")
			lookups := dt.Calls("/topapi/v2/user/getbymobile")
			res, body := saveAndSync(t, app, c, token, tt.form)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("Save And Sync: status %d, body %s", res.StatusCode, body)
			}
			got := storedUser(t, app, u.ID)
			if tt.matched {
				if !strings.Contains(body, `id="sync-matched"`) || strings.Contains(body, `id="sync-unmatched"`) {
					t.Errorf("no success message: %.2000s", body)
				}
				if cell(body, "dingtalk-userid") != tt.userID || cell(body, "dingtalk-job-number") != tt.jobNumber {
					t.Errorf("identity shown: userid %q, job number %q; want %q, %q",
						cell(body, "dingtalk-userid"), cell(body, "dingtalk-job-number"), tt.userID, tt.jobNumber)
				}
				if got.MatchStatus != models.MatchMatched || got.DingTalkUserID != tt.userID {
					t.Errorf("stored: status %q userid %q, want matched %q", got.MatchStatus, got.DingTalkUserID, tt.userID)
				}
			} else {
				if !strings.Contains(body, `id="sync-unmatched"`) || !strings.Contains(body, tt.reason) {
					t.Errorf("want the error message with %q: %.3000s", tt.reason, body)
				}
				if cell(body, "dingtalk-userid") != "" {
					t.Errorf("an identity is shown for an unmatched user: %q", cell(body, "dingtalk-userid"))
				}
				if got.MatchStatus == models.MatchMatched || got.DingTalkUserID != "" {
					t.Errorf("stored: status %q userid %q, want unmatched", got.MatchStatus, got.DingTalkUserID)
				}
			}
			if got.MatchingMethod != tt.wantOwnMethod {
				t.Errorf("stored own method %q, want %q", got.MatchingMethod, tt.wantOwnMethod)
			}
			if !got.NotifyEnabled || got.NotifyOwnChanges {
				t.Errorf("stored notify %v, notify own %v; want true, false", got.NotifyEnabled, got.NotifyOwnChanges)
			}
			if n := dt.Calls("/topapi/v2/user/getbymobile") - lookups; n != tt.wantMobileLookups {
				t.Errorf("DingTalk got %d user-by-mobile calls, want %d", n, tt.wantMobileLookups)
			}
			// The tab shows the stored result again on the next visit.
			_, again, _ := get(t, c, app.URL, "/profile/dingtalk")
			if tt.matched && cell(again, "dingtalk-userid") != tt.userID {
				t.Errorf("next visit shows userid %q, want %q", cell(again, "dingtalk-userid"), tt.userID)
			}
			if !tt.matched && !strings.Contains(again, tt.reason) {
				t.Errorf("next visit does not say why: %.2000s", again)
			}
		})
	}
}

// The tab defaults to the global method, and switches and mobile are stored as set.
func TestDingTalkTabDefaultsAndPreferences(t *testing.T) {
	app, _ := profileFixture(t)
	setGlobalMethod(t, app, models.MatchJobNumber)
	u := app.addConfluenceUser(t, "dora", "dora@acme.example")
	c, token := app.userSession(t, "dora", "/profile/dingtalk")
	_, body, _ := get(t, c, app.URL, "/profile/dingtalk")
	for _, want := range []string{`<option value="job_number" selected>`, `id="notifyOwnNo" name="notifyOwnChanges" value="no" checked`,
		`id="enabledYes" name="enabled" value="yes" checked`, `id="profile-tab-dingtalk"`, `id="profile-tab-profile"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the tab lacks %s", want)
		}
	}
	res, _ := saveAndSync(t, app, c, token, url.Values{"matchingMethod": {"job_number"}, "mobile": {"13700000000"},
		"enabled": {"no"}, "notifyOwnChanges": {"yes"}})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	got := storedUser(t, app, u.ID)
	if got.MatchingMethod != "" || got.Mobile != "13700000000" || got.NotifyEnabled || !got.NotifyOwnChanges || !got.Enabled {
		t.Errorf("stored method %q mobile %q notify %v notify own %v account enabled %v; want the global method kept, 13700000000, false, true, true",
			got.MatchingMethod, got.Mobile, got.NotifyEnabled, got.NotifyOwnChanges, got.Enabled)
	}
	// The Profile tab links to the DingTalk one.
	_, body, _ = get(t, c, app.URL, "/profile")
	if !strings.Contains(body, `href="/profile/dingtalk"`) {
		t.Errorf("/profile has no DingTalk tab")
	}
}

// A bad value is refused with a message at its field, the form kept as typed, and
// nothing stored.
func TestSaveAndSyncRefusesBadInput(t *testing.T) {
	app, dt := profileFixture(t)
	u := app.addConfluenceUser(t, "erin", "erin@acme.example")
	c, token := app.userSession(t, "erin", "/profile/dingtalk")
	tests := []struct {
		name      string
		form      url.Values
		field     string
		message   string
		keepValue string
	}{
		{"mobile method without a mobile", url.Values{"matchingMethod": {"mobile"}, "mobile": {" "}}, "mobile",
			"Enter your mobile number to match by mobile.", `<option value="mobile" selected>`},
		{"letters in the mobile", url.Values{"matchingMethod": {"mobile"}, "mobile": {"139-abc"}}, "mobile",
			"Enter a mobile number of 5 to 15 digits", `value="139-abc"`},
		{"a bad mobile with another method", url.Values{"matchingMethod": {"email"}, "mobile": {"12"}}, "mobile",
			"Enter a mobile number of 5 to 15 digits", `value="12"`},
		{"unknown method", url.Values{"matchingMethod": {"fax"}}, "matchingMethod", "Choose one of the matching methods.", ""},
		{"enabled neither yes nor no", url.Values{"matchingMethod": {"email"}, "enabled": {"maybe"}}, "enabled", "Choose Yes or No.", ""},
	}
	lookups := dt.Calls("/topapi/v2/user/getbymobile")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := saveAndSync(t, app, c, token, tt.form)
			if res.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", res.StatusCode)
			}
			if !strings.Contains(body, `id="`+tt.field+`-error"`) || !strings.Contains(body, tt.message) {
				t.Errorf("no %q at %s: %.3000s", tt.message, tt.field, body)
			}
			if !strings.Contains(body, `id="form-errors"`) || !strings.Contains(body, tt.keepValue) {
				t.Errorf("the form is not kept as typed (%s)", tt.keepValue)
			}
			got := storedUser(t, app, u.ID)
			if got.MatchingMethod != "" || got.Mobile != "" || got.MatchStatus != models.MatchPending {
				t.Errorf("stored method %q mobile %q status %q; want nothing saved or matched", got.MatchingMethod, got.Mobile, got.MatchStatus)
			}
		})
	}
	if n := dt.Calls("/topapi/v2/user/getbymobile") - lookups; n != 0 {
		t.Errorf("DingTalk was asked %d times for a refused form", n)
	}
}

// Without a DingTalk app the tab says so, and the preferences are still saved.
func TestSaveAndSyncWithoutDingTalk(t *testing.T) {
	app := startApp(t)
	u := app.addConfluenceUser(t, "fred", "fred@acme.example")
	c, token := app.userSession(t, "fred", "/profile/dingtalk")
	_, body, _ := get(t, c, app.URL, "/profile/dingtalk")
	if !strings.Contains(body, `id="dingtalk-not-configured"`) {
		t.Errorf("the tab does not say DingTalk is not configured")
	}
	for _, tt := range []struct {
		name, method, want string
	}{
		{"mobile", "mobile", "DingTalk is not configured yet, so mobile number 13912345678 could not be looked up."},
		{"e-mail", "email", "DingTalk is not configured yet, so your DingTalk account cannot be looked up."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, body := saveAndSync(t, app, c, token, url.Values{"matchingMethod": {tt.method}, "mobile": {"13912345678"}})
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %.500s", res.StatusCode, body)
			}
			if !strings.Contains(body, tt.want) {
				t.Errorf("want %q: %.3000s", tt.want, body)
			}
			got := storedUser(t, app, u.ID)
			if got.Mobile != "13912345678" || got.DingTalkUserID != "" {
				t.Errorf("stored mobile %q userid %q; want the mobile saved, no match", got.Mobile, got.DingTalkUserID)
			}
		})
	}
}

// A user edits only themselves: ids in a forged form change nothing, and the admins'
// read-only view has no way to save.
func TestDingTalkTabAuthz(t *testing.T) {
	app, _ := profileFixture(t)
	alice := app.addConfluenceUser(t, "alice", "alice@acme.example")
	bob := app.addConfluenceUser(t, "bob", "robert@acme.example")
	adminPage := fmt.Sprintf("/admin/users/%d/dingtalk", bob.ID)

	unchanged := func(t *testing.T, what string) {
		t.Helper()
		got := storedUser(t, app, bob.ID)
		if got.MatchingMethod != "" || got.Mobile != "" || !got.NotifyEnabled || got.NotifyOwnChanges || got.MatchStatus != models.MatchPending {
			t.Errorf("%s changed bob: method %q mobile %q notify %v notify own %v status %q",
				what, got.MatchingMethod, got.Mobile, got.NotifyEnabled, got.NotifyOwnChanges, got.MatchStatus)
		}
	}

	ac, aliceToken := app.userSession(t, "alice", "/profile/dingtalk")
	// A valid CSRF token of alice's, and bob's id under every name a handler might read.
	id := fmt.Sprint(bob.ID)
	res, _ := saveAndSync(t, app, ac, aliceToken, url.Values{"matchingMethod": {"mobile"}, "mobile": {"13912345678"},
		"enabled": {"no"}, "notifyOwnChanges": {"yes"}, "id": {id}, "userId": {id}, "user_id": {id}, "userID": {id}})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("alice's forged Save And Sync: status %d", res.StatusCode)
	}
	unchanged(t, "a forged form")
	if got := storedUser(t, app, alice.ID); got.Mobile != "13912345678" || got.DingTalkUserID != "zhangsan" {
		t.Errorf("the form did not go to alice, who sent it: mobile %q userid %q", got.Mobile, got.DingTalkUserID)
	}
	// The same with the id in the query string.
	form := url.Values{"matchingMethod": {"job_number"}, "enabled": {"no"}, "notifyOwnChanges": {"yes"}, "_csrf": {aliceToken}}
	res, qbody := post(t, ac, app.URL, "/profile/dingtalk?id="+id+"&user_id="+id, form)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("alice's Save And Sync with a query: status %d: %s", res.StatusCode, qbody)
	}
	unchanged(t, "an id in the query")

	admin, adminToken := app.adminSession(t, "/admin/dingtalk/members")

	tests := []struct {
		name   string
		client *http.Client
		method string
		form   url.Values
		want   int
	}{
		{"a user reading another's tab", ac, http.MethodGet, nil, http.StatusForbidden},
		{"a user posting a forged form to another's tab", ac, http.MethodPost,
			url.Values{"_csrf": {aliceToken}, "matchingMethod": {"mobile"}, "mobile": {"13912345678"}, "enabled": {"no"}}, http.StatusMethodNotAllowed},
		{"an admin posting to the read-only tab", admin, http.MethodPost,
			url.Values{"_csrf": {adminToken}, "matchingMethod": {"mobile"}, "mobile": {"13912345678"}, "enabled": {"no"}}, http.StatusMethodNotAllowed},
		{"an admin reading the tab", admin, http.MethodGet, nil, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var status int
			var body string
			if tt.method == http.MethodGet {
				status, body, _ = get(t, tt.client, app.URL, adminPage)
			} else {
				var res *http.Response
				res, body = post(t, tt.client, app.URL, adminPage, tt.form)
				status = res.StatusCode
			}
			if status != tt.want {
				t.Fatalf("status %d, want %d: %.500s", status, tt.want, body)
			}
			unchanged(t, tt.name)
			if status == http.StatusOK {
				if !strings.Contains(body, `id="dingtalk-owner">bob<`) || !strings.Contains(body, `id="dingtalk-preferences"`) {
					t.Errorf("the read-only tab does not show bob's preferences: %.2000s", body)
				}
				for _, control := range []string{"<form class=\"aui\" method=\"post\"", `name="matchingMethod"`, `name="mobile"`, `id="dingtalk-save"`, `id="matchingMethod"`, `type="radio"`, `action="/profile/dingtalk"`} {
					if strings.Contains(body, control) {
						t.Errorf("the read-only tab has a form control: %s", control)
					}
				}
			}
		})
	}
	// Not found is not found, and no id is not an id.
	if status, _, _ := get(t, admin, app.URL, "/admin/users/999999/dingtalk"); status != http.StatusNotFound {
		t.Errorf("unknown user: status %d, want 404", status)
	}
	if status, _, _ := get(t, admin, app.URL, "/admin/users/x/dingtalk"); status != http.StatusBadRequest {
		t.Errorf("bad id: status %d, want 400", status)
	}
}

// The unmatched list shows each Confluence user without a match with its reason and a
// link to their read-only tab; the Members filter keeps the DingTalk users nobody is
// matched to.
func TestUnmatchedListAndMembersFilter(t *testing.T) {
	app, _ := profileFixture(t)
	ctx := context.Background()
	alice := app.addConfluenceUser(t, "alice", "alice@acme.example")
	carol := app.addConfluenceUser(t, "carol", "carol@acme.example")
	twin := app.addConfluenceUser(t, "twin", "twin@acme.example")
	for _, u := range []models.User{alice, carol, twin} {
		if _, err := app.matcher.MatchUser(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
	}
	admin, _ := app.adminSession(t, "/admin/dingtalk/members")

	status, body, _ := get(t, admin, app.URL, "/admin/dingtalk/members/unmatched")
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	for _, want := range []string{
		`data-username="carol"`, "No DingTalk user has e-mail carol@acme.example.",
		`data-username="twin"`, "Ambiguous: 2 DingTalk users have e-mail twin@acme.example.",
		fmt.Sprintf(`href="/admin/users/%d/dingtalk"`, carol.ID), "Display carol", "Email &lt;--&gt; Email",
		`id="members-tab-dingtalk"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the unmatched list lacks %s", want)
		}
	}
	for _, absent := range []string{`data-username="alice"`, `data-username="admin"`} {
		if strings.Contains(body, absent) {
			t.Errorf("the unmatched list has %s", absent)
		}
	}
	_, body, _ = get(t, admin, app.URL, "/admin/dingtalk/members/unmatched?q=ROL")
	if !strings.Contains(body, `data-username="carol"`) || strings.Contains(body, `data-username="twin"`) {
		t.Errorf("search ROL: want carol only")
	}
	// The Members page links to it.
	_, body, _ = get(t, admin, app.URL, "/admin/dingtalk/members")
	if !strings.Contains(body, `href="/admin/dingtalk/members/unmatched"`) {
		t.Errorf("the Members page has no tab for the unmatched list")
	}
	if !strings.Contains(body, `data-userid="dt-alice"`) {
		t.Fatalf("dt-alice missing from the unfiltered Members page")
	}

	for _, tt := range []struct {
		query           string
		present, absent []string
	}{
		{"?unlinked=1", []string{"dt-bob", "dt-twin1", "dt-twin2", "zhangsan"}, []string{"dt-alice"}},
		{"?unlinked=1&q=alice", nil, []string{"dt-alice"}},
		{"?unlinked=1&q=bob", []string{"dt-bob"}, nil},
	} {
		_, body, _ := get(t, admin, app.URL, "/admin/dingtalk/members"+tt.query)
		for _, id := range tt.present {
			if !strings.Contains(body, `data-userid="`+id+`"`) {
				t.Errorf("%s: %s missing", tt.query, id)
			}
		}
		for _, id := range tt.absent {
			if strings.Contains(body, `data-userid="`+id+`"`) {
				t.Errorf("%s: %s listed, but alice is matched to them", tt.query, id)
			}
		}
		if !strings.Contains(body, `id="unlinked" name="unlinked" value="1" checked`) {
			t.Errorf("%s: the filter is not shown as on", tt.query)
		}
	}
	// A non-admin sees neither list.
	uc, _ := app.userSession(t, "carol", "/profile")
	for _, p := range []string{"/admin/dingtalk/members/unmatched", "/admin/dingtalk/members?unlinked=1"} {
		if status, _, _ := get(t, uc, app.URL, p); status != http.StatusForbidden {
			t.Errorf("%s as a user: status %d, want 403", p, status)
		}
	}
}
