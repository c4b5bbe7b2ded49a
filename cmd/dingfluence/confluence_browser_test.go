package main

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// An admin fills in the Confluence screen, saves, tests the connection and sees the
// service account, then syncs the users and sees the run complete.
func TestConfluenceScreenInBrowser(t *testing.T) {
	cf := confluenceFixture(t)
	app := startApp(t)
	ctx := newBrowser(t)

	browserSignIn(t, ctx, app.URL, "/admin/confluence", "admin", testAdminPassword)
	do(t, ctx, "fill and save the Confluence form",
		chromedp.WaitVisible(css(`#confluence-form`)),
		pageReady(),
		chromedp.SetValue(css(`#baseUrl`), cf.URL()),
		chromedp.SetValue(css(`#serviceToken`), cf.adminToken),
		chromedp.SetValue(css(`#oauthClientId`), "dingfluence"),
		chromedp.SetValue(css(`#oauthClientSecret`), "oauth-client-secret-value"),
		chromedp.Click(css(`#confluence-save`)),
		chromedp.WaitVisible(css(`#flash`)),
		pageReady(),
	)
	if src := read(t, ctx, "page source", chromedp.OuterHTML(css(`html`))); strings.Contains(src, cf.adminToken) || strings.Contains(src, "oauth-client-secret-value") {
		t.Fatal("the page contains a stored secret")
	}
	if note := read(t, ctx, "token note", chromedp.Text(css(`#serviceToken-description`))); !strings.Contains(note, "A token is stored") {
		t.Fatalf("token note = %q", note)
	}

	// With the token field empty the stored token is used: it is the saved Confluence.
	do(t, ctx, "test connection",
		chromedp.Click(css(`#confluence-test`)),
		chromedp.WaitVisible(css(`#confluence-test-ok`)),
		htmxIdle(),
	)
	account := read(t, ctx, "account", chromedp.Text(css(`#confluence-test-account`)))
	admin := read(t, ctx, "admin", chromedp.Text(css(`#confluence-test-admin`)))
	if !strings.Contains(account, "Service Account (svc)") || !strings.Contains(admin, "Confluence administrator: yes") {
		t.Fatalf("test connection said %q / %q", account, admin)
	}
	screenshot(t, ctx, "confluence")

	do(t, ctx, "sync users now",
		chromedp.Click(css(`#directory-sync`)),
		chromedp.WaitVisible(css(`#directory-panel [data-status="succeeded"]`)),
		chromedp.WaitVisible(css(`#recent-directory-runs-table tr[data-status="succeeded"]`)),
		htmxIdle(),
	)
	if counters := read(t, ctx, "counters", chromedp.Text(css(`#directory-panel .df-sync-counters`))); !strings.Contains(counters, "Members listed: 3") {
		t.Fatalf("counters = %q", counters)
	}
	screenshot(t, ctx, "confluence-directory")
}
