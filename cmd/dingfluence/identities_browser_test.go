package main

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/dingfluence/dingfluence/confluence/confluencetest"
	"github.com/dingfluence/dingfluence/dingtalk/dingtalktest"
	"github.com/dingfluence/dingfluence/models"
)

// The identities flow end to end, as people meet it: a Confluence user signs in through
// Confluence's OAuth consent page, chooses mobile matching on their DingTalk tab and
// finds their DingTalk account; then an admin syncs the Confluence users, finds that
// user's Confluence username beside their DingTalk account on the Members screen, and
// finds a colleague no DingTalk user matches, with the reason.
func TestConfluenceIdentitiesEndToEndInBrowser(t *testing.T) {
	a := startConfluenceApp(t) // alice (alice@example.com) and bob (no e-mail) in confluence-users
	dt := dingtalktest.Start(t, dingtalktest.Options{AppKey: "ding-app-key", AppSecret: "ding-app-secret", AgentID: 123456})
	// DingTalk knows alice by her mobile only: her DingTalk e-mail is another one.
	dt.AddUser(dingtalktest.User{UserID: "zhangsan", Name: "张三", Email: "zhang.san@acme.example", JobNumber: "A0001",
		Mobile: "13912345678", Active: true, DeptIDs: []int64{1}})
	configureDingTalk(t, a.testApp, dt)
	ctx := context.Background()
	if run, err := a.orgSync.Run(ctx, models.SyncKindFull, 1, models.SyncTriggerUser, "test"); err != nil || run.Status != models.SyncStatusSucceeded {
		t.Fatalf("org sync: %+v, %v", run, err)
	}

	// alice, a normal user, signs in with Confluence.
	a.cf.SetBrowserUser("alice", confluencetest.ConsentPage)
	user := newBrowser(t)
	do(t, user, "sign in with Confluence",
		chromedp.Navigate(a.URL+"/profile/dingtalk"),
		chromedp.WaitVisible(css(`#login-confluence`)),
		pageReady(),
		chromedp.Click(css(`#login-confluence`)),
		chromedp.WaitVisible(css(`button[value="approve"]`)),
		chromedp.Click(css(`button[value="approve"]`)),
		chromedp.WaitVisible(css(`#dingtalk-form`)),
		pageReady(),
	)
	// Her e-mail is not DingTalk's, so she picks mobile and gives her number.
	read(t, user, "pick mobile", chromedp.Evaluate[bool](`(() => { const s = document.getElementById("matchingMethod"); s.value = "mobile"; s.dispatchEvent(new Event("change", {bubbles: true})); return true })()`))
	do(t, user, "enter the number and Save And Sync",
		chromedp.WaitVisible(css(`#mobile`)),
		chromedp.SendKeys(css(`#mobile`), "13912345678"),
		chromedp.Click(css(`#dingtalk-save`)),
		chromedp.WaitVisible(css(`#sync-matched`)),
	)
	if id, job := read(t, user, "userid", chromedp.Text(css(`#dingtalk-userid`))), read(t, user, "job number", chromedp.Text(css(`#dingtalk-job-number`))); strings.TrimSpace(id) != "zhangsan" || strings.TrimSpace(job) != "A0001" {
		t.Fatalf("alice's tab shows userid %q and job number %q, want zhangsan and A0001", id, job)
	}

	// The admin syncs the Confluence users from the Confluence screen.
	admin := newBrowser(t)
	browserSignIn(t, admin, a.URL, "/admin/confluence", "admin", testAdminPassword)
	do(t, admin, "Sync users now",
		chromedp.WaitVisible(css(`#directory-sync`)),
		pageReady(),
		chromedp.Click(css(`#directory-sync`)),
		chromedp.WaitVisible(css(`#directory-panel [data-status="succeeded"]`)),
	)
	// alice's Confluence username stands beside her DingTalk account; the directory
	// sync's re-match kept the mobile match she chose.
	do(t, admin, "find alice's DingTalk account on Members",
		chromedp.Navigate(a.URL+"/admin/dingtalk/members?q=zhangsan"),
		chromedp.WaitVisible(css(`#members-table tr[data-userid="zhangsan"]`)),
	)
	if got := read(t, admin, "username", chromedp.Text(css(`#members-table tr[data-userid="zhangsan"] .df-username`))); strings.TrimSpace(got) != "alice" {
		t.Errorf("the Members row of zhangsan shows username %q, want alice", got)
	}
	// bob has no e-mail in Confluence, so e-mail matching finds nobody for him.
	do(t, admin, "open the unmatched list",
		chromedp.Navigate(a.URL+"/admin/dingtalk/members/unmatched"),
		chromedp.WaitVisible(css(`tr[data-username="bob"]`)),
	)
	row := read(t, admin, "bob's row", chromedp.Text(css(`tr[data-username="bob"]`)))
	if !strings.Contains(row, "The Confluence account has no e-mail address.") {
		t.Errorf("bob's unmatched row %q gives no reason about the missing e-mail", row)
	}
	if n := read(t, admin, "alice listed", chromedp.Evaluate[int](`document.querySelectorAll('tr[data-username="alice"]').length`)); n != 0 {
		t.Errorf("alice, who is matched, is on the unmatched list")
	}
}
