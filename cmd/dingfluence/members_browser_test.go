package main

import (
	"strconv"
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

// Typing part of a name, a domain or the middle of a phone number into the search box
// lists the members who have it, and only them, without pressing Search.
func TestMembersSubstringSearchInBrowser(t *testing.T) {
	app := startApp(t)
	users := []models.DingTalkUser{
		{UserID: "zsf", Name: "张三丰", Email: "zsf@wudang.example", Mobile: "13812345678", Active: true, Activated: true},
		{UserID: "zs", Name: "张三", Email: "zs@acme.example", Mobile: "13900001111", Active: true, Activated: true},
		{UserID: "ww", Name: "Wang Wu", Email: "wang.wu@example.com", Mobile: "13700002222", Active: true, Activated: true},
	}
	if _, err := app.Store.UpsertDingTalkUsers(t.Context(), users, time.Now()); err != nil {
		t.Fatal(err)
	}
	ctx := newBrowser(t)
	browserSignIn(t, ctx, app.URL, "/admin/dingtalk/members", "admin", testAdminPassword)
	do(t, ctx, "members page", pageReady(), chromedp.WaitVisible(css(`#members-table tr[data-userid="ww"]`)))
	rows := func() string {
		return `Array.from(document.querySelectorAll("#members-table tbody tr")).map(r => r.dataset.userid).join(" ")`
	}
	for _, tt := range []struct{ typed, want string }{
		{"丰", "zsf"},
		{"example.com", "ww"},
		{"0000", "ww zs"}, // sorted by name: Latin before pinyin
		{"345", "zsf"},
		{"三", "zs zsf"},
	} {
		do(t, ctx, "type "+tt.typed,
			// Select what is there, so the typing replaces it as a person's would.
			chromedp.Click(css(`#q`)),
			chromedp.Evaluate[chromedp.Void](`document.getElementById("q").select()`),
			chromedp.SendKeys(css(`#q`), tt.typed),
			waitJS(`document.getElementById("q").value === `+strconv.Quote(tt.typed)),
			waitJS(rows()+` === `+strconv.Quote(tt.want)),
			htmxIdle(),
		)
		if url := read(t, ctx, "address", chromedp.Evaluate[string](`location.search`)); !strings.Contains(url, "q=") {
			t.Errorf("after typing %q the address %q does not keep the search", tt.typed, url)
		}
	}
	if n := read(t, ctx, "result count", chromedp.Text(css(`#members-count`))); n != "Members found: 2" {
		t.Errorf("count %q, want 2", n)
	}
}
