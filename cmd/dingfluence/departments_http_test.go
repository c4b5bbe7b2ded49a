package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dingfluence/dingfluence/dingtalk/dingtalktest"
	"github.com/dingfluence/dingfluence/models"
)

func TestDepartmentsEndpointsRejectBadInput(t *testing.T) {
	app := startApp(t)
	admin, token := app.adminSession(t, "/admin/dingtalk/departments")

	tests := []struct {
		name    string
		method  string
		path    string
		form    url.Values
		status  int
		message string
	}{
		{"department id not a number", http.MethodPost, "/admin/dingtalk/departments/abc/sync", url.Values{"kind": {"sub_departments"}}, http.StatusBadRequest, "department id is not a number"},
		{"unknown sync action", http.MethodPost, "/admin/dingtalk/departments/1/sync", url.Values{"kind": {"drop_everything"}}, http.StatusBadRequest, "Unknown sync action"},
		{"unknown sync run", http.MethodGet, "/admin/dingtalk/syncs/999", nil, http.StatusNotFound, "sync run does not exist"},
		{"members of an unsynced department", http.MethodGet, "/admin/dingtalk/members?dept=42", nil, http.StatusNotFound, "has not been synced"},
		{"members of a non-numeric department", http.MethodGet, "/admin/dingtalk/members?dept=x", nil, http.StatusBadRequest, "department id is not a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var res *http.Response
			var body string
			if tt.method == http.MethodPost {
				tt.form.Set("_csrf", token)
				res, body = post(t, admin, app.URL, tt.path, tt.form)
			} else {
				var status int
				status, body, _ = get(t, admin, app.URL, tt.path)
				res = &http.Response{StatusCode: status}
			}
			if res.StatusCode != tt.status || !strings.Contains(body, tt.message) {
				t.Fatalf("status %d, want %d with %q; body %.400s", res.StatusCode, tt.status, tt.message, body)
			}
		})
	}
}

// A second click on a busy button shows the running sync instead of
// starting another.
func TestSecondClickShowsTheRunningSync(t *testing.T) {
	dt := dingtalktest.New(dingtalktest.Options{AppKey: "ding-app-key", AppSecret: "ding-app-secret", AgentID: 123456})
	t.Cleanup(dt.Close)
	// DingTalk that holds every department listing until released, so the
	// first sync is still running when the second click arrives.
	release := make(chan struct{})
	held := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/department/listsub") {
			<-release
		}
		dt.ServeHTTP(w, r)
	}))
	t.Cleanup(held.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})

	app := startApp(t)
	configureDingTalkAt(t, app, dt, held.URL)
	admin, token := app.adminSession(t, "/admin/dingtalk/departments")

	click := func() (*http.Response, string) {
		return post(t, admin, app.URL, "/admin/dingtalk/departments/1/sync", url.Values{"kind": {"sub_departments"}, "_csrf": {token}})
	}
	first, firstBody := click()
	second, secondBody := click()
	runID := regexp.MustCompile(`id="sync-run-(\d+)"`)
	firstID, secondID := runID.FindStringSubmatch(firstBody), runID.FindStringSubmatch(secondBody)
	if first.StatusCode != http.StatusAccepted || firstID == nil {
		t.Fatalf("first click: status %d, body %.300s", first.StatusCode, firstBody)
	}
	if second.StatusCode != http.StatusOK || secondID == nil || secondID[1] != firstID[1] {
		t.Fatalf("second click: status %d, run %v, want 200 and run %s", second.StatusCode, secondID, firstID[1])
	}
	if !strings.Contains(secondBody, "already running") || strings.Count(secondBody, `id="sync-run-`) != 1 {
		t.Fatalf("second click should show the running sync once with a note: %.500s", secondBody)
	}
	// A full sync covers the root's sub-departments too: it is refused while that runs.
	full, fullBody := post(t, admin, app.URL, "/admin/dingtalk/departments/1/sync", url.Values{"kind": {"full"}, "_csrf": {token}})
	fullID := runID.FindStringSubmatch(fullBody)
	if full.StatusCode != http.StatusOK || fullID == nil || fullID[1] != firstID[1] ||
		!strings.Contains(fullBody, "A sync covering these departments is already running") {
		t.Fatalf("full sync beside it: status %d, run %v, want 200 and run %s with a note; body %.500s", full.StatusCode, fullID, firstID[1], fullBody)
	}
	close(release)

	// The click that started a sync is on record; the busy ones started none.
	entries, err := app.Store.RecentAudit(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	var starts []string
	for _, e := range entries {
		if e.Action == models.ActionSyncStart {
			starts = append(starts, e.Actor+": "+e.Details)
		}
	}
	want := "admin: sub_departments of department 1 (run " + firstID[1] + ")"
	if len(starts) != 1 || starts[0] != want {
		t.Fatalf("audit of sync starts = %q, want [%q]", starts, want)
	}
}

// startAndWait presses a sync button and polls the run's panel, as the page
// does, until the run has ended; it returns the final panel.
func startAndWait(t *testing.T, c *http.Client, app *testApp, token, kind string) string {
	t.Helper()
	res, body := post(t, c, app.URL, "/admin/dingtalk/departments/1/sync", url.Values{"kind": {kind}, "_csrf": {token}})
	m := regexp.MustCompile(`id="sync-run-(\d+)"`).FindStringSubmatch(body)
	if res.StatusCode != http.StatusAccepted || m == nil {
		t.Fatalf("start %s: status %d, body %.300s", kind, res.StatusCode, body)
	}
	deadline := time.Now().Add(30 * time.Second)
	for strings.Contains(body, `data-status="running"`) {
		if time.Now().After(deadline) {
			t.Fatalf("%s still running after 30 s", kind)
		}
		time.Sleep(100 * time.Millisecond)
		_, body, _ = get(t, c, app.URL, "/admin/dingtalk/syncs/"+m[1])
	}
	return body
}

// "Full sync now" syncs the whole organisation, departments and people.
func TestFullSyncButton(t *testing.T) {
	dt := orgFixture(t)
	app := startApp(t)
	configureDingTalk(t, app, dt)
	admin, token := app.adminSession(t, "/admin/dingtalk/departments")

	body := startAndWait(t, admin, app, token, "full")
	if !strings.Contains(body, `data-status="succeeded"`) || !strings.Contains(body, "Users: 231 seen") {
		t.Fatalf("full sync panel: %.600s", body)
	}
	page, err := app.Store.SearchMembers(context.Background(), models.MemberQuery{})
	if err != nil || page.Total != 231 {
		t.Fatalf("members after full sync = %d, %v; want 231", page.Total, err)
	}
}

// A sync DingTalk refuses ends as failed on the screen with DingTalk's
// errcode and errmsg, and keeps what it wrote before the error.
func TestFailedSyncShowsDingTalkError(t *testing.T) {
	dt := orgFixture(t)
	dt.InjectError("/topapi/v2/user/list", 60011, 1)
	app := startApp(t)
	configureDingTalk(t, app, dt)
	admin, token := app.adminSession(t, "/admin/dingtalk/departments")

	body := startAndWait(t, admin, app, token, "all_sub_department_users")
	if !strings.Contains(body, `data-status="failed"`) {
		t.Fatalf("run did not fail: %.500s", body)
	}
	if !strings.Contains(body, "errcode 60011") || !strings.Contains(body, "没有调用该接口的权限") {
		t.Fatalf("failed run lacks DingTalk's errcode/errmsg: %.800s", body)
	}
	// The root was written before the user listing failed, and stays.
	if _, err := app.Store.Department(context.Background(), 1); err != nil {
		t.Fatalf("department written before the failure is gone: %v", err)
	}
}

// storeTree stores Acme (1) › Engineering (2) › Platform (3), and Sales (4) under
// the root, with two members in Platform.
func storeTree(t *testing.T, app *testApp) {
	t.Helper()
	ctx := context.Background()
	depts := []models.Department{
		{DeptID: 1, Name: "Acme"}, {DeptID: 2, ParentID: 1, Name: "Engineering", Order: 1},
		{DeptID: 3, ParentID: 2, Name: "Platform"}, {DeptID: 4, ParentID: 1, Name: "Sales", Order: 2},
	}
	if _, err := app.Store.UpsertDepartments(ctx, depts, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := app.Store.ReplaceDepartmentMembers(ctx, 3, []string{"u1", "u2"}); err != nil {
		t.Fatal(err)
	}
}

// element returns the start tag of the element with id in body, or "".
func element(body, id string) string {
	return regexp.MustCompile(`<[a-z-]+ [^>]*id="` + regexp.QuoteMeta(id) + `"[^>]*>`).FindString(body)
}

// After a reload a running sync is still shown on its department's row: the tree is
// opened down to it, and the run is not repeated elsewhere.
func TestRunningSyncShowsOnItsRowAfterReload(t *testing.T) {
	app := startApp(t)
	storeTree(t, app)
	run := insertRunningRun(t, app.Store, models.SyncKindDepartmentUsers, 3, time.Now())
	admin, _ := app.adminSession(t, "/admin/dingtalk/departments")
	status, page, _ := get(t, admin, app.URL, "/admin/dingtalk/departments")
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	slot := regexp.MustCompile(`(?s)id="row-syncs-3"[^>]*>(.*?)</div>\s*<ul`).FindStringSubmatch(page)
	if slot == nil || !strings.Contains(slot[1], `id="sync-run-`+itoa(run.ID)+`"`) || !strings.Contains(slot[1], "Sync Users In Department — <bdi>Platform</bdi>") {
		t.Fatalf("Platform's row does not show its running sync; page %.3000s", page[strings.Index(page, `id="department-tree"`):])
	}
	if n := strings.Count(page, `id="sync-run-`+itoa(run.ID)+`"`); n != 1 {
		t.Errorf("the run is shown %d times", n)
	}
	// Its ancestors are open (drawn with their children), Platform itself is not.
	for id, open := range map[string]bool{"1": true, "2": true, "3": false} {
		toggle := element(page, "expand-"+id)
		if id == "3" {
			if toggle != "" {
				t.Errorf("Platform has no sub-departments but a toggle: %s", toggle)
			}
			continue
		}
		if strings.Contains(toggle, `aria-expanded="true"`) != open || strings.Contains(toggle, "hx-get") == open {
			t.Errorf("toggle of %s = %s; want open %v", id, toggle, open)
		}
	}
}

// The row of a department is drawn again after a sync of it: the root's placeholder
// before the first sync, its name and counts after, with its open sub-departments
// and its menu out of band.
func TestDepartmentRowRefresh(t *testing.T) {
	app := startApp(t)
	admin, _ := app.adminSession(t, "/admin/dingtalk/departments")

	status, body, _ := get(t, admin, app.URL, "/admin/dingtalk/departments/1/row")
	if status != http.StatusOK || !strings.Contains(body, "Root department (not synced yet)") || !strings.Contains(body, `id="view-users-hint-1"`) {
		t.Fatalf("root row before the first sync: status %d, body %.1000s", status, body)
	}
	if status, body, _ = get(t, admin, app.URL, "/admin/dingtalk/departments/2/row"); status != http.StatusNotFound || !strings.Contains(body, "has not been synced") {
		t.Fatalf("row of an unsynced department: status %d, body %.300s", status, body)
	}

	storeTree(t, app)
	// A sync running on Platform stays drawn on its row when Engineering's rows are.
	run := insertRunningRun(t, app.Store, models.SyncKindDepartmentUsers, 3, time.Now())
	tests := []struct {
		name, path string
		want, not  []string
	}{
		{"closed", "/admin/dingtalk/departments/2/row",
			[]string{`id="dept-row-2"`, "Engineering", "id 2 · 0 members · 1 sub-department<", `<aui-dropdown-menu id="actions-2"`, `href="/admin/dingtalk/members?dept=2&amp;subtree=1"`},
			[]string{`id="children-2"`, "Platform"}},
		{"open", "/admin/dingtalk/departments/1/row?open=1,2,x,-3",
			[]string{`id="children-1" hx-swap-oob="innerHTML"`, `id="dept-2"`, `id="dept-3"`, "id 3 · 2 members · 0 sub-departments", `aria-label="Expand Engineering"`, `id="sync-run-` + itoa(run.ID) + `"`},
			[]string{"Root department (not synced yet)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, _ := get(t, admin, app.URL, tt.path)
			if status != http.StatusOK {
				t.Fatalf("status %d", status)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("lacks %q", w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(body, n) {
					t.Errorf("has %q", n)
				}
			}
			if t.Failed() {
				t.Logf("body %.3000s", body)
			}
		})
	}
}

// Before a DingTalk app is configured the screen says so and links to Settings, and
// no sync can be pressed; once one is, the page says to start with a full sync.
func TestDepartmentsBeforeTheFirstSync(t *testing.T) {
	tests := []struct {
		name       string
		configured bool
		want, not  []string
	}{
		{"not configured", false,
			[]string{`id="departments-settings-link"`, `id="sync-settings-1"`, "DingTalk is not configured"},
			[]string{`id="departments-first-steps"`}},
		{"configured", true,
			[]string{`id="departments-first-steps"`, "Start with Full sync now"},
			[]string{"DingTalk is not configured", `id="sync-settings-1"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := startApp(t)
			if tt.configured {
				configureDingTalk(t, app, dingtalktest.Start(t, dingtalktest.Options{AppKey: "k", AppSecret: "s"}))
			}
			admin, _ := app.adminSession(t, "/admin/dingtalk/departments")
			_, page, _ := get(t, admin, app.URL, "/admin/dingtalk/departments")
			for _, w := range tt.want {
				if !strings.Contains(page, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(page, n) {
					t.Errorf("page has %q", n)
				}
			}
			for _, id := range []string{"full-sync", "sub_departments-1", "all_sub_department_users-1"} {
				if disabled := strings.Contains(element(page, id), " disabled"); disabled == tt.configured {
					t.Errorf("%s: %s; want disabled %v", id, element(page, id), !tt.configured)
				}
			}
			// The root is a placeholder: its View Users is no link to a 404.
			if link := element(page, "view-users-1"); strings.Contains(link, "href") || !strings.Contains(link, "disabled") {
				t.Errorf("root's View Users before the first sync = %s", link)
			}
		})
	}
}
