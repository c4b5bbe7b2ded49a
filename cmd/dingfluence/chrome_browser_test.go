package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dingfluence/dingfluence/models"
)

// screen is one page of the app as a person reaches it.
type screen struct {
	name  string
	path  string
	ready string // a selector that is there once the screen has rendered
	// admin: the screen is in the administration console (sidebar, breadcrumbs).
	admin bool
}

// The person who is not an admin in the walks below, and the userid of a
// DingTalk user that makes the Members table wider than an 800 px window.
const (
	longUserID       = "01234567890123456789manager0123456789012345678901"
	walkUser         = "lisi"
	walkUserPassword = "lisi-password-1"
)

// chromeFixture is an app with a synced organisation, one full sync in the
// history, a Confluence user without a DingTalk match (returned) and a
// local account that is not an admin (walkUser).
func chromeFixture(t *testing.T) (*testApp, models.User) {
	t.Helper()
	dt := orgFixture(t)
	app := startApp(t)
	configureDingTalk(t, app, dt)
	if _, err := app.orgSync.Run(t.Context(), models.SyncKindFull, 1, models.SyncTriggerUser, "admin"); err != nil {
		t.Fatalf("full sync: %v", err)
	}
	// DingTalk userids run to 64 characters and are shown whole.
	long := models.DingTalkUser{UserID: longUserID, Name: "王小明",
		Email: "wang.xiaoming@acme.example", JobNumber: "E9001", Mobile: "13800009001", Active: true}
	if _, err := app.Store.UpsertDingTalkUsers(t.Context(), []models.DingTalkUser{long}, time.Now()); err != nil {
		t.Fatal(err)
	}
	unmatched := app.addConfluenceUser(t, "wangwu", "wang.wu@elsewhere.example")
	app.addUser(t, walkUser, walkUserPassword, false)
	// Events in each state the Deliveries screen explains (the first is event 1).
	seedDeliveries(t, app)
	return app, unmatched
}

// adminScreens are every screen an admin reaches, error pages included.
func adminScreens(user models.User) []screen {
	return []screen{
		{"Confluence", "/admin/confluence", "#confluence-form", true},
		{"Settings", "/admin/dingtalk/settings", "#settings-form", true},
		{"Departments", "/admin/dingtalk/departments", "#department-tree", true},
		{"Members", "/admin/dingtalk/members", "#members-table", true},
		{"Members, searched", "/admin/dingtalk/members?q=" + longUserID, "#members-table", true},
		{"Members of a department", "/admin/dingtalk/members?dept=2&subtree=1", "#members-filter", true},
		{"Unmatched", "/admin/dingtalk/members/unmatched", "#unmatched-table", true},
		{"A user's DingTalk tab", fmt.Sprintf("/admin/users/%d/dingtalk", user.ID), "#main", true},
		{"Audit log", "/admin/audit", "#audit-table", true},
		{"Deliveries", "/admin/dingtalk/deliveries", "#deliveries-table", true},
		{"A delivery event", "/admin/dingtalk/deliveries/1", "#event-deliveries", true},
		{"A delivery event with an unknown outcome", "/admin/dingtalk/deliveries/3", "#event-deliveries", true},
		{"Profile", "/profile", "#profile-details", false},
		{"Profile → DingTalk", "/profile/dingtalk", "#profile-tabs", false},
		{"404", "/admin/no-such-screen", "#error-message", true},
		{"Unknown department", "/admin/dingtalk/members?dept=42", "#error-message", true},
	}
}

// screenNamed is the admin screen called name.
func screenNamed(t *testing.T, user models.User, name string) screen {
	t.Helper()
	for _, s := range adminScreens(user) {
		if s.name == name {
			return s
		}
	}
	t.Fatalf("no admin screen %q", name)
	return screen{}
}

// userScreens are every screen a person who is not an admin reaches.
var userScreens = []screen{
	{"Profile", "/profile", "#profile-details", false},
	{"Profile → DingTalk", "/profile/dingtalk", "#profile-tabs", false},
	{"403", "/admin/dingtalk/settings", "#error-message", false},
	{"404", "/no-such-page", "#error-message", false},
}

// visit opens s and waits until it has rendered with its chrome.
func visit(t *testing.T, ctx context.Context, base string, s screen) {
	t.Helper()
	do(t, ctx, "open "+s.name,
		chromedp.Navigate(base+s.path),
		pageReady(),
		chromedp.WaitVisible(css(s.ready)),
		chromedp.WaitVisible(css(`#footer`)),
	)
}

// At 800 px every screen fits the window: the sidebar collapses to its
// icons and what is wider than the window scrolls inside its own box.
func TestEveryScreenFitsAn800pxWindow(t *testing.T) {
	app, user := chromeFixture(t)
	ctx := newBrowser(t)
	do(t, ctx, "narrow the window", chromedp.EmulateViewport(800, 900))

	check := func(t *testing.T, s screen) {
		t.Helper()
		visit(t, ctx, app.URL, s)
		if s.admin {
			// AUI collapses the sidebar as it sets it up on a narrow window.
			do(t, ctx, s.name+": the sidebar collapses at 800 px", chromedp.WaitReady(css(`#admin-sidebar[aria-expanded="false"]`)))
		}
		widths := read(t, ctx, "widths", chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, window.innerWidth]`))
		if widths[1] != 800 {
			t.Fatalf("window is %d px wide, want 800", widths[1])
		}
		if widths[0] > widths[1] {
			wide := read(t, ctx, "what sticks out", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("body *"))
				.filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
				.slice(-5).map(e => e.tagName + "#" + e.id + "." + e.className + " right=" + e.getBoundingClientRect().right)`))
			t.Errorf("%s (%s) is %d px wide in an %d px window; sticking out: %v", s.name, s.path, widths[0], widths[1], wide)
		}
	}
	do(t, ctx, "log-in page", chromedp.Navigate(app.URL+"/login"), pageReady(), chromedp.WaitVisible(css(`#login-form`)))
	check(t, screen{"Log in", "/login", "#login-form", false})
	browserSignIn(t, ctx, app.URL, "/admin/dingtalk/members?q="+longUserID, "admin", testAdminPassword)
	// The Members table is wider than its box here (a long userid does not
	// wrap): it scrolls in the box rather than widen the page.
	do(t, ctx, "members at 800 px", chromedp.WaitReady(css(`#admin-sidebar[aria-expanded="false"]`)))
	sizes := read(t, ctx, "members table", chromedp.Evaluate[[]int](`[document.getElementById("members-table").scrollWidth, document.getElementById("members-results").clientWidth]`))
	if sizes[0] <= sizes[1] {
		t.Fatalf("the Members table (%d px) fits its box (%d px): the fixture no longer tests the scrolling", sizes[0], sizes[1])
	}
	for _, s := range adminScreens(user) {
		check(t, s)
		if s.path == "/admin/dingtalk/members?q="+longUserID {
			screenshot(t, ctx, "members-800px")
		}
	}
	logOut(t, ctx)
	browserSignIn(t, ctx, app.URL, "/profile", walkUser, walkUserPassword)
	for _, s := range userScreens {
		check(t, s)
	}
}

// At a desktop width the admin sidebar is open, with its groups.
func TestAdminChromeAtDesktopWidth(t *testing.T) {
	app, user := chromeFixture(t)
	ctx := newBrowser(t)
	do(t, ctx, "a wide window", chromedp.EmulateViewport(1366, 900))
	browserSignIn(t, ctx, app.URL, "/admin/dingtalk/settings", "admin", testAdminPassword)
	tests := []struct {
		screen screen
		crumbs string
		title  string
		nav    string
	}{
		{screenNamed(t, user, "Settings"), "Administration › DingTalk › Settings", "DingTalk Settings", "nav-settings"},
		{screenNamed(t, user, "Confluence"), "Administration › Confluence › Connection and users", "", "nav-confluence"},
		{screenNamed(t, user, "Audit log"), "Administration › System › Audit log", "", "nav-audit"},
		// An admin's 404 keeps the console: the sidebar, the breadcrumbs, and a
		// title that says what happened.
		{screenNamed(t, user, "404"), "Administration", "Page not found", ""},
		{screenNamed(t, user, "Unknown department"), "Administration › DingTalk › Members", "Page not found", "nav-members"},
	}
	for _, tt := range tests {
		t.Run(tt.screen.name, func(t *testing.T) {
			visit(t, ctx, app.URL, tt.screen)
			got := read(t, ctx, "chrome", chromedp.Evaluate[map[string]string](`(() => {
				const sb = document.getElementById("admin-sidebar");
				const sel = document.querySelector("#admin-nav .aui-nav-selected a");
				return {
					sidebar: sb ? sb.getAttribute("aria-expanded") : "missing",
					crumbs: Array.from(document.querySelectorAll("#breadcrumbs li")).map(li => li.textContent.trim()).join(" › "),
					title: document.querySelector("#main h1").textContent.trim(),
					selected: sel ? sel.id : "",
					header: getComputedStyle(document.querySelector("#header .aui-header")).backgroundColor,
					product: document.querySelector("#logo").textContent.trim(),
					menu: document.getElementById("user-menu-trigger") ? "yes" : "no",
				};
			})()`))
			if got["sidebar"] != "true" {
				t.Errorf("sidebar: %q, want expanded", got["sidebar"])
			}
			if got["crumbs"] != tt.crumbs {
				t.Errorf("breadcrumbs %q, want %q", got["crumbs"], tt.crumbs)
			}
			if tt.title != "" && got["title"] != tt.title {
				t.Errorf("title %q, want %q", got["title"], tt.title)
			}
			if got["selected"] != tt.nav {
				t.Errorf("selected sidebar entry %q, want %q", got["selected"], tt.nav)
			}
			// Confluence's header is dark: AUI's default one is white.
			if got["header"] == "rgb(255, 255, 255)" || got["header"] == "rgba(0, 0, 0, 0)" {
				t.Errorf("header background %s, want Confluence's dark blue", got["header"])
			}
			if got["product"] != "dingfluence" || got["menu"] != "yes" {
				t.Errorf("header: product %q, user menu %s", got["product"], got["menu"])
			}
		})
	}
}

// Every screen in 简体中文, for an admin, for a person who is not one and
// signed out, shows no English of ours and no message id.
func TestEveryScreenInChinese(t *testing.T) {
	app, user := chromeFixture(t)
	english, ids := englishOfOurs(t)
	ctx := newBrowser(t)

	check := func(t *testing.T, name string) {
		t.Helper()
		if lang := read(t, ctx, "lang", chromedp.Evaluate[string](`document.documentElement.lang`)); lang != "zh-Hans" {
			t.Fatalf("%s: page language %q", name, lang)
		}
		// What a person reads: the text, the tab title and the words in
		// attributes (placeholders, tooltips, accessible names, button values).
		text := read(t, ctx, "text", chromedp.Evaluate[string](`[document.title, document.body.innerText,
			...Array.from(document.querySelectorAll("[placeholder],[title],[aria-label],[alt],input[type=submit][value]")).flatMap(e =>
				["placeholder", "title", "aria-label", "alt"].map(a => e.getAttribute(a) || "").concat(e.type === "submit" ? [e.value] : []))
			].join("\n")`))
		for _, id := range ids {
			if containsWord(text, id) {
				t.Errorf("%s shows the message id %q", name, id)
			}
		}
		for _, en := range english {
			if containsWord(text, en) {
				t.Errorf("%s shows English of ours: %q", name, en)
			}
		}
	}

	do(t, ctx, "choose 简体中文 on the log-in page",
		chromedp.Navigate(app.URL+"/login"),
		pageReady(),
		chromedp.SetValue(css(`#language`), "zh-Hans"),
		chromedp.Click(css(`#language-apply`)),
		chromedp.WaitVisible(css(`html[lang="zh-Hans"] #login-form`)),
	)
	check(t, "log-in page")
	browserSignIn(t, ctx, app.URL, "/admin/dingtalk/settings", "admin", testAdminPassword)
	for _, s := range adminScreens(user) {
		visit(t, ctx, app.URL, s)
		check(t, "admin: "+s.name)
	}
	logOut(t, ctx)
	if msg := read(t, ctx, "logged out", chromedp.Text(css(`#flash`))); msg != "您已退出登录。" {
		t.Errorf("after log out the log-in page says %q", msg)
	}
	check(t, "log-in page after log out")
	browserSignIn(t, ctx, app.URL, "/profile", walkUser, walkUserPassword)
	for _, s := range userScreens {
		visit(t, ctx, app.URL, s)
		check(t, "user: "+s.name)
	}
}

// logOut logs out through the user menu and waits for the log-in page.
func logOut(t *testing.T, ctx context.Context) {
	t.Helper()
	do(t, ctx, "log out",
		chromedp.Navigate(lastOrigin(t, ctx)+"/profile"),
		pageReady(),
		chromedp.Click(css(`#user-menu-trigger`)),
		chromedp.WaitVisible(css(`#logout`)),
		chromedp.Click(css(`#logout`)),
		chromedp.WaitVisible(css(`#login-form`)),
	)
}

// lastOrigin is the origin of the page the browser shows.
func lastOrigin(t *testing.T, ctx context.Context) string {
	t.Helper()
	return read(t, ctx, "origin", chromedp.Evaluate[string](`location.origin`))
}

// englishOfOurs reads the message files and returns the English a Chinese
// page must not show: every English text (or the part between two
// placeholders) of four words or more, and every single word of five
// letters or more, whose Chinese differs; and every message id.
func englishOfOurs(t *testing.T) (english, ids []string) {
	t.Helper()
	en, zh := readMessages(t, "en"), readMessages(t, "zh-Hans")
	placeholder := regexp.MustCompile(`\{\{[^}]*\}\}`)
	word := regexp.MustCompile(`^[A-Za-z][a-z]{4,}$`)
	seen := map[string]bool{}
	for id, text := range en {
		if base, _, plural := strings.Cut(id, "#"); !plural {
			ids = append(ids, id)
		} else if !seen["#"+base] {
			seen["#"+base] = true
			ids = append(ids, base)
		}
		if zh[id] == text {
			continue // the same in both (a product name, a field DingTalk names)
		}
		for _, part := range placeholder.Split(text, -1) {
			part = strings.TrimSpace(strings.Trim(strings.TrimSpace(part), ".,:;—–-·()"))
			words := strings.Fields(part)
			if (len(words) >= 4 || len(words) == 1 && word.MatchString(part)) && !seen[part] {
				seen[part] = true
				english = append(english, part)
			}
		}
	}
	sort.Strings(english)
	sort.Strings(ids)
	return english, ids
}

// readMessages merges the message files of one language.
func readMessages(t *testing.T, tag string) map[string]string {
	t.Helper()
	dir := filepath.Join("..", "..", "locale", "messages", tag)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	all := map[string]string{}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		for k, raw := range m {
			var text string
			if json.Unmarshal(raw, &text) == nil {
				all[k] = text
				continue
			}
			// A message with plural forms: each form is a text of its own.
			var forms map[string]string
			if err := json.Unmarshal(raw, &forms); err != nil {
				t.Fatalf("%s: %s: %v", e.Name(), k, err)
			}
			for form, text := range forms {
				all[k+"#"+form] = text
			}
		}
	}
	return all
}

// containsWord reports whether text holds phrase as whole words: "Status"
// is not found inside "StatusCode".
func containsWord(text, phrase string) bool {
	for i := 0; ; {
		j := strings.Index(text[i:], phrase)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(phrase)
		if !isWordByte(text, start-1) && !isWordByte(text, end) {
			return true
		}
		i = start + 1
	}
}

func isWordByte(s string, i int) bool {
	if i < 0 || i >= len(s) {
		return false
	}
	c := s[i]
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
