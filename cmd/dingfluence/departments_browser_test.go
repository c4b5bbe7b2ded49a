package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/dingfluence/dingfluence/dingtalk"
	"github.com/dingfluence/dingfluence/dingtalk/dingtalktest"
	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/settings"
)

// orgFixture is a small company: Engineering (with Platform below it) and
// Sales under the root, 230 people spread over them, and one known person.
func orgFixture(t *testing.T) *dingtalktest.Server {
	t.Helper()
	dt := dingtalktest.Start(t, dingtalktest.Options{AppKey: "ding-app-key", AppSecret: "ding-app-secret", AgentID: 123456, CompanyName: "Acme", QPS: 20})
	dt.AddDepartment(dingtalktest.Department{ID: 2, ParentID: 1, Name: "Engineering", Order: 1})
	dt.AddDepartment(dingtalktest.Department{ID: 3, ParentID: 2, Name: "Platform", Order: 1})
	dt.AddDepartment(dingtalktest.Department{ID: 4, ParentID: 1, Name: "Sales", Order: 2})
	for i := range 230 {
		dept := []int64{2, 3, 4}[i%3]
		dt.AddUser(dingtalktest.User{
			UserID: fmt.Sprintf("user%03d", i), Name: fmt.Sprintf("Person %03d", i),
			Email: fmt.Sprintf("person%03d@acme.example", i), JobNumber: fmt.Sprintf("E%03d", i),
			Mobile: fmt.Sprintf("1380000%04d", i), Active: true, DeptIDs: []int64{dept},
		})
	}
	dt.AddUser(dingtalktest.User{
		UserID: "zhangsan", Name: "张三", Email: "zhang.san@acme.example", JobNumber: "A0001",
		Mobile: "13912345678", Active: true, DeptIDs: []int64{3},
	})
	return dt
}

// configureDingTalk stores settings that point the app at dt.
func configureDingTalk(t *testing.T, app *testApp, dt *dingtalktest.Server) {
	t.Helper()
	configureDingTalkAt(t, app, dt, dt.URL())
}

// configureDingTalkAt stores settings with dt's credentials and every API
// URL under base (dt itself, or a proxy in front of it).
func configureDingTalkAt(t *testing.T, app *testApp, dt *dingtalktest.Server, base string) {
	t.Helper()
	e := dingtalk.EndpointsAt(base)
	in := settings.Input{
		AgentID: 123456, AppKey: dt.AppKey(), NewSecret: dt.AppSecret(),
		TokenURL: e.Token, SendMessageURL: e.SendMessage, SubDepartmentURL: e.ListSubDepartments, DepartmentDetailURL: e.GetDepartment,
		DepartmentUserIDsURL: e.ListUserIDs, UserProfileURL: e.GetUser, UserByMobileURL: e.GetUserByMobile, UserListURL: e.ListUsers,
		MatchingMethod: models.MatchEmail, SyncIntervalMinutes: models.DefaultSettings().SyncIntervalMinutes,
	}
	if err := settings.New(app.Store, nil, slog.New(slog.DiscardHandler)).Save(context.Background(), in, "test"); err != nil {
		t.Fatalf("fixture settings: %v", err)
	}
}

// heldDingTalk is dt behind a proxy that, once hold is called, keeps every user
// listing waiting until release: a sync of users is then running for as long as a
// test needs to look at it.
func heldDingTalk(t *testing.T, dt *dingtalktest.Server) (url string, hold, release func()) {
	t.Helper()
	var held atomic.Bool
	gate := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if held.Load() && strings.HasSuffix(r.URL.Path, "/user/list") {
			<-gate
		}
		dt.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	t.Cleanup(release) // before proxy.Close, which waits for held requests
	return proxy.URL, func() { held.Store(true) }, release
}

// waitJS waits until the JavaScript expression is true.
func waitJS(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[bool](expr)(ctx, t)
		return err
	})
}

// focused is a JavaScript expression: the focused element is (inside) sel.
func focused(sel string) string {
	return `!!document.activeElement && !!document.activeElement.closest(` + strconv.Quote(sel) + `)`
}

// menuOpen is a JavaScript expression: the actions menu of department id is open.
func menuOpen(id string, open bool) string {
	return `document.getElementById("actions-trigger-` + id + `").getAttribute("aria-expanded") === "` + strconv.FormatBool(open) + `"`
}

func TestDepartmentsAndMembersInBrowser(t *testing.T) {
	dt := orgFixture(t)
	dingtalkURL, hold, release := heldDingTalk(t, dt)
	app := startApp(t)
	configureDingTalkAt(t, app, dt, dingtalkURL)
	ctx := newBrowser(t)

	browserSignIn(t, ctx, app.URL, "/admin/dingtalk/departments", "admin", testAdminPassword)

	// Before the first sync: the page says what to do first, and the root's View
	// Users says why it cannot list anyone yet instead of leading to a 404.
	do(t, ctx, "root before the first sync",
		pageReady(),
		chromedp.WaitVisible(css(`#departments-first-steps`)),
		chromedp.Click(css(`#actions-trigger-1`)),
		chromedp.WaitVisible(css(`#view-users-hint-1`)),
	)
	if hint := read(t, ctx, "View Users hint", chromedp.Text(css(`#view-users-hint-1`))); !strings.Contains(hint, "Full sync now") {
		t.Fatalf("the root's View Users before the first sync says %q", hint)
	}
	if d := read(t, ctx, "View Users disabled", chromedp.Evaluate[string](`document.querySelector("#view-users-1 a").getAttribute("aria-disabled")`)); d != "true" {
		t.Fatalf("the root's View Users before the first sync is not disabled (aria-disabled %q)", d)
	}
	do(t, ctx, "press the disabled View Users", chromedp.Click(css(`#view-users-1 a`)))
	if loc := read(t, ctx, "location", chromedp.Evaluate[string](`location.pathname`)); loc != "/admin/dingtalk/departments" {
		t.Fatalf("the root's View Users before the first sync went to %s", loc)
	}
	do(t, ctx, "close the menu", chromedp.KeyEvent(kb.Escape), waitJS(menuOpen("1", false)))

	// Full sync now: its progress is on the root's row, and when it ends the root's
	// row shows the synced root, its counts and its toggle, without a reload.
	do(t, ctx, "full sync",
		chromedp.Click(css(`#full-sync`)),
		chromedp.WaitVisible(css(`#row-syncs-1 .df-sync-run[data-kind="full"][data-status="succeeded"] .df-progress[data-percent="100"]`)),
		chromedp.WaitVisible(css(`#expand-1`)),
	)
	if name := read(t, ctx, "root name", chromedp.Text(css(`#dept-row-1 .df-dept-name`))); name != "Acme" {
		t.Fatalf("root row after the full sync is named %q, want Acme", name)
	}
	if meta := read(t, ctx, "root counts", chromedp.Text(css(`#dept-row-1 .df-dept-meta`))); meta != "id 1 · 0 members · 2 sub-departments" {
		t.Fatalf("root row after the full sync says %q", meta)
	}
	result := read(t, ctx, "full sync result", chromedp.Text(css(`#row-syncs-1 .df-sync-run`)))
	for _, want := range []string{"Full sync — Acme", "Departments: 4 seen", "Users: 231 seen"} {
		if !strings.Contains(result, want) {
			t.Fatalf("full sync panel %q lacks %q", result, want)
		}
	}
	do(t, ctx, "recent syncs name the department",
		waitJS(`!!document.querySelector("#recent-syncs-table .df-sync-dept") && document.querySelector("#recent-syncs-table .df-sync-dept").textContent === "Acme"`))

	// Expand the tree: root → Engineering → Platform.
	do(t, ctx, "expand the tree",
		chromedp.Click(css(`#expand-1`)),
		chromedp.WaitVisible(css(`#dept-2`)),
		htmxIdle(),
		chromedp.Click(css(`#expand-2`)),
		chromedp.WaitVisible(css(`#dept-3`)),
		htmxIdle(),
	)
	if label := read(t, ctx, "toggle name", chromedp.Evaluate[string](`document.getElementById("expand-2").getAttribute("aria-label")`)); label != "Expand Engineering" {
		t.Fatalf("Engineering's toggle is named %q", label)
	}

	// A sync of Platform, low in the tree, shows its progress on Platform's row.
	hold()
	do(t, ctx, "sync Platform's users",
		chromedp.Click(css(`#actions-trigger-3`)),
		chromedp.WaitVisible(css(`#department_users-3`)),
		chromedp.Click(css(`#department_users-3`)),
		chromedp.WaitVisible(css(`#row-syncs-3 .df-sync-run[data-status="running"]`)),
	)
	// The panel sits right under Platform's row, on screen.
	gap := read(t, ctx, "panel position", chromedp.Evaluate[float64](`(function () {
		var row = document.getElementById("dept-row-3").getBoundingClientRect();
		var panel = document.querySelector("#row-syncs-3 .df-sync-run").getBoundingClientRect();
		if (panel.top < 0 || panel.top > window.innerHeight) { return -1000; }
		return panel.top - row.bottom;
	})()`))
	if gap < 0 || gap > 40 {
		t.Fatalf("Platform's sync panel is %.0f px below its row (want 0–40, on screen)", gap)
	}
	if title := read(t, ctx, "running title", chromedp.Text(css(`#row-syncs-3 .df-sync-run .title`))); title != "Sync Users In Department — Platform" {
		t.Fatalf("Platform's sync is titled %q", title)
	}
	if n := read(t, ctx, "other panels", chromedp.Evaluate[int](`document.querySelectorAll(".df-sync-run[data-status='running']").length`)); n != 1 {
		t.Fatalf("%d running panels, want only Platform's", n)
	}
	// After a reload the running sync is still on Platform's row: the tree opens down to it.
	do(t, ctx, "reload during the sync",
		chromedp.Navigate(app.URL+"/admin/dingtalk/departments"),
		pageReady(),
		chromedp.WaitVisible(css(`#row-syncs-3 .df-sync-run[data-status="running"]`)),
	)
	release()
	do(t, ctx, "Platform's sync ends", chromedp.WaitVisible(css(`#row-syncs-3 .df-sync-run[data-status="succeeded"]`)))

	// Engineering's menu by keyboard: Enter opens it on View Users, arrows move,
	// Esc closes it and gives the focus back; Space opens it too, and Enter on an
	// item starts that sync.
	dt.AddDepartment(dingtalktest.Department{ID: 5, ParentID: 2, Name: "QA", Order: 2})
	do(t, ctx, "actions menu by keyboard",
		htmxIdle(),
		chromedp.Focus(css(`#actions-trigger-2`)),
		chromedp.KeyEvent(kb.Enter),
		waitJS(menuOpen("2", true)),
		waitJS(focused(`#view-users-2`)),
		chromedp.KeyEvent(kb.ArrowDown),
		waitJS(focused(`#sub_departments-2`)),
		chromedp.KeyEvent(kb.ArrowDown),
		waitJS(focused(`#all_sub_departments-2`)),
		chromedp.KeyEvent(kb.ArrowUp),
		waitJS(focused(`#sub_departments-2`)),
		chromedp.KeyEvent(kb.Escape),
		waitJS(menuOpen("2", false)),
		waitJS(focused(`#actions-trigger-2`)),
		chromedp.KeyEvent(" "),
		waitJS(menuOpen("2", true)),
		waitJS(focused(`#view-users-2`)),
		chromedp.KeyEvent(kb.ArrowDown),
		waitJS(focused(`#sub_departments-2`)),
		chromedp.KeyEvent(kb.Enter),
		waitJS(menuOpen("2", false)),
		waitJS(focused(`#actions-trigger-2`)),
		chromedp.WaitVisible(css(`#row-syncs-2 .df-sync-run[data-kind="sub_departments"][data-status="succeeded"]`)),
	)
	// The sync of Engineering's sub-departments brings QA into the open tree, and
	// Engineering's counts with it, without a reload; Platform stays shown.
	do(t, ctx, "tree refreshed after the sync",
		chromedp.WaitVisible(css(`#children-2 #dept-5`)),
		waitJS(`document.querySelector("#dept-row-2 .df-dept-meta").textContent.indexOf("2 sub-departments") >= 0`),
		chromedp.WaitVisible(css(`#children-2 #dept-3`)),
		htmxIdle(),
	)
	// The redrawn rows' menus are set up by AUI like the others: closed, hidden.
	if bad := read(t, ctx, "redrawn menus", chromedp.Evaluate[string](`Array.from(document.querySelectorAll("aui-dropdown-menu[data-dept-id]")).filter(function (m) {
		return !m.classList.contains("aui-dropdown2") || m.offsetParent !== null;
	}).map(function (m) { return m.id; }).join(" ")`)); bad != "" {
		t.Fatalf("menus not set up or shown while closed: %s", bad)
	}
	if name := read(t, ctx, "Platform", chromedp.Text(css(`#dept-3 .df-dept-name`))); name != "Platform" {
		t.Fatalf("department 3 is %q", name)
	}
	screenshot(t, ctx, "departments")

	// Find the known person on the Members screen by email.
	do(t, ctx, "search members by email",
		chromedp.Navigate(app.URL+"/admin/dingtalk/members"),
		pageReady(),
		chromedp.WaitVisible(css(`#members-table`)),
		chromedp.SendKeys(css(`#q`), "zhang.san@"),
		chromedp.Click(css(`#members-search-submit`)),
		chromedp.WaitVisible(css(`#members-table tr[data-userid="zhangsan"]`)),
	)
	row := read(t, ctx, "member row", chromedp.Text(css(`#members-table tr[data-userid="zhangsan"]`)))
	for _, want := range []string{"张三", "zhang.san@acme.example", "A0001", "13912345678", "zhangsan"} {
		if !strings.Contains(row, want) {
			t.Fatalf("member row %q lacks %q", row, want)
		}
	}
	if n := read(t, ctx, "result count", chromedp.Text(css(`#members-count`))); n != "Members found: 1" {
		t.Fatalf("search found %q, want 1", n)
	}
	screenshot(t, ctx, "members")

	// View Users of Engineering lists its subtree (Engineering + Platform).
	do(t, ctx, "view users of a department",
		chromedp.Navigate(app.URL+"/admin/dingtalk/departments"),
		pageReady(),
		chromedp.Click(css(`#expand-1`)),
		chromedp.WaitVisible(css(`#actions-trigger-2`)),
		htmxIdle(),
		chromedp.Click(css(`#actions-trigger-2`)),
		chromedp.WaitVisible(css(`#view-users-2 a`)),
		chromedp.Click(css(`#view-users-2 a`)),
		chromedp.WaitVisible(css(`#members-filter`)),
	)
	// 230 people over three departments: 77 in Engineering, 77 in Platform,
	// plus 张三 in Platform.
	if n := read(t, ctx, "department count", chromedp.Text(css(`#members-count`))); n != "Members found: 155" {
		t.Fatalf("Engineering and below has %q, want 155", n)
	}
}
