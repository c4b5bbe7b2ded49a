package main

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/dingfluence/dingfluence/confluence/confluencetest"
)

// A Confluence user signs in through Confluence's consent page and lands on their
// profile, signed in as themselves and not an admin.
func TestSignInWithConfluenceInBrowser(t *testing.T) {
	a := startConfluenceApp(t)
	a.cf.SetBrowserUser("alice", confluencetest.ConsentPage)
	ctx := newBrowser(t)

	do(t, ctx, "open the sign-in page",
		chromedp.Navigate(a.URL+"/login"),
		chromedp.WaitVisible(css(`#login-confluence`)),
		pageReady(),
	)
	screenshot(t, ctx, "login-confluence")
	do(t, ctx, "click Sign in with Confluence",
		chromedp.Click(css(`#login-confluence`)),
		chromedp.WaitVisible(css(`button[value="approve"]`)),
	)
	if consent := read(t, ctx, "consent page", chromedp.Text(css(`h1`))); !strings.Contains(consent, cfClientID) {
		t.Fatalf("consent page heading %q", consent)
	}
	do(t, ctx, "allow on Confluence's consent page",
		chromedp.Click(css(`button[value="approve"]`)),
		chromedp.WaitVisible(css(`#user-menu-trigger`)),
		pageReady(),
	)
	href := read(t, ctx, "location", chromedp.Evaluate[string](`location.href`))
	if href != a.URL+"/profile" {
		t.Fatalf("landed on %s, want %s/profile", href, a.URL)
	}
	menu := read(t, ctx, "user menu", chromedp.Text(css(`#user-menu-trigger`)))
	if !strings.Contains(menu, "Alice Zhang") && !strings.Contains(menu, "alice") {
		t.Errorf("user menu shows %q, want alice", menu)
	}
	u, err := a.Store.UserByUsername(context.Background(), "alice")
	if err != nil || u.UserKey == nil || u.IsAdmin {
		t.Fatalf("alice's row: %+v, %v; want a Confluence user without admin rights", u, err)
	}
	// Not an admin: the admin screens answer 403.
	do(t, ctx, "open an admin screen", chromedp.Navigate(a.URL+"/admin/dingtalk/settings"), chromedp.WaitReady(css(`body`)))
	if shown := read(t, ctx, "settings form", chromedp.Evaluate[bool](`!!document.querySelector("#settings-form")`)); shown {
		t.Errorf("alice sees the DingTalk settings form")
	}
}
