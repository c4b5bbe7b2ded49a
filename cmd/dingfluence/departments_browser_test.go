package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

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

func TestDepartmentsAndMembersInBrowser(t *testing.T) {
	dt := orgFixture(t)
	app := startApp(t)
	configureDingTalk(t, app, dt)
	ctx := newBrowser(t)

	browserSignIn(t, ctx, app.URL, "/admin/dingtalk/departments", "admin", testAdminPassword)

	// Before the first sync only the root is there, with its buttons.
	do(t, ctx, "root before the first sync", chromedp.WaitVisible(css(`#dept-1 #all_sub_departments-1`)))

	// Sync All Sub Department on the root and watch the bar finish.
	do(t, ctx, "sync all sub departments",
		chromedp.Click(css(`#all_sub_departments-1`)),
		chromedp.WaitVisible(css(`#sync-panel .df-sync-run[data-kind="all_sub_departments"][data-status="succeeded"] .df-progress[data-percent="100"]`)),
	)
	result := read(t, ctx, "department sync result", chromedp.Text(css(`#sync-panel .df-sync-run[data-kind="all_sub_departments"]`)))
	if !strings.Contains(result, "Departments: 4 seen") {
		t.Fatalf("department sync said %q, want 4 departments seen (root + 3)", result)
	}

	// Sync All Users In Sub Department on the root.
	do(t, ctx, "sync all users",
		chromedp.Click(css(`#all_sub_department_users-1`)),
		chromedp.WaitVisible(css(`#sync-panel .df-sync-run[data-kind="all_sub_department_users"][data-status="succeeded"] .df-progress[data-percent="100"]`)),
	)
	result = read(t, ctx, "user sync result", chromedp.Text(css(`#sync-panel .df-sync-run[data-kind="all_sub_department_users"]`)))
	if !strings.Contains(result, "Sync All Users In Sub Department") || !strings.Contains(result, "Users: 231 seen") {
		t.Fatalf("user sync said %q, want 231 users seen", result)
	}
	do(t, ctx, "recent syncs refreshed", chromedp.WaitVisible(css(`#recent-syncs-table tbody tr:nth-child(2)`)))

	// Expand the tree: root → Engineering → Platform.
	do(t, ctx, "expand the tree",
		chromedp.Navigate(app.URL+"/admin/dingtalk/departments"),
		pageReady(),
		chromedp.Click(css(`#expand-1`)),
		chromedp.WaitVisible(css(`#dept-2`)),
		htmxIdle(),
		chromedp.Click(css(`#expand-2`)),
		chromedp.WaitVisible(css(`#dept-3`)),
	)
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
		chromedp.WaitVisible(css(`#view-users-2`)),
		htmxIdle(),
		chromedp.Click(css(`#view-users-2`)),
		chromedp.WaitVisible(css(`#members-filter`)),
	)
	// 230 people over three departments: 77 in Engineering, 77 in Platform,
	// plus 张三 in Platform.
	if n := read(t, ctx, "department count", chromedp.Text(css(`#members-count`))); n != "Members found: 155" {
		t.Fatalf("Engineering and below has %q, want 155", n)
	}
}
