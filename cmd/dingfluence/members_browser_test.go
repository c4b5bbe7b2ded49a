package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dingfluence/dingfluence/models"
)

// A 5,000-character name without a break wraps in its cell: the Members page
// stays as wide as the window (it once grew to 43,000 px).
func TestLongNamesDoNotWidenTheMembersPage(t *testing.T) {
	app := startApp(t)
	now := time.Now()
	long := strings.Repeat("长", 2500) + strings.Repeat("W", 2500)
	if _, err := app.Store.UpsertDepartments(t.Context(), []models.Department{{DeptID: 1, Name: "Acme"}, {DeptID: 2, ParentID: 1, Name: long}}, now); err != nil {
		t.Fatal(err)
	}
	users := []models.DingTalkUser{
		{UserID: "long-name", Name: long, Email: strings.Repeat("e", 5000) + "@acme.example", Active: true},
		{UserID: "short-name", Name: "张三", Email: "zhang.san@acme.example", Active: true},
	}
	if _, err := app.Store.UpsertDingTalkUsers(t.Context(), users, now); err != nil {
		t.Fatal(err)
	}
	if _, _, err := app.Store.ReplaceDepartmentMembers(t.Context(), 2, []string{"long-name", "short-name"}); err != nil {
		t.Fatal(err)
	}
	ctx := newBrowser(t)
	browserSignIn(t, ctx, app.URL, "/admin/dingtalk/members?dept=2", "admin", testAdminPassword)
	do(t, ctx, "members page", chromedp.WaitVisible(css(`#members-table tr[data-userid="long-name"]`)))
	widths := read(t, ctx, "page width", chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, window.innerWidth]`))
	if widths[0] > widths[1] {
		t.Fatalf("the Members page is %d px wide in a %d px window", widths[0], widths[1])
	}
	screenshot(t, ctx, "members-long-name")

	do(t, ctx, "departments page",
		chromedp.Navigate(app.URL+"/admin/dingtalk/departments"),
		pageReady(),
		chromedp.Click(css(`#expand-1`)),
		chromedp.WaitVisible(css(`#dept-2`)),
	)
	widths = read(t, ctx, "page width", chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, window.innerWidth]`))
	if widths[0] > widths[1] {
		t.Fatalf("the Departments page is %d px wide in a %d px window", widths[0], widths[1])
	}
}
