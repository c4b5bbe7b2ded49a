package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// A normal user opens Profile → DingTalk, picks mobile, enters the number DingTalk
// knows them by and presses Save And Sync: their DingTalk userid and job number appear.
func TestProfileDingTalkMobileInBrowser(t *testing.T) {
	app, dt := profileFixture(t)
	app.addConfluenceUser(t, "zhang", "zhang@elsewhere.example")
	ctx := newBrowser(t)
	browserSignIn(t, ctx, app.URL, "/profile", "zhang", testUserPassword)

	do(t, ctx, "open the DingTalk tab",
		chromedp.WaitVisible(css(`#profile-tabs`)),
		pageReady(),
		chromedp.Click(css(`#profile-tab-dingtalk`)),
		chromedp.WaitVisible(css(`#dingtalk-form`)),
		pageReady(),
	)
	// The global method is e-mail, so the mobile field stays out of the way.
	if hidden := read(t, ctx, "mobile field", chromedp.Evaluate[bool](`document.getElementById("mobile-field").hidden`)); !hidden {
		t.Errorf("the mobile field is shown while the method is e-mail")
	}
	// What choosing an option does: the value changes and the select fires change.
	read(t, ctx, "pick mobile", chromedp.Evaluate[bool](`(() => { const s = document.getElementById("matchingMethod"); s.value = "mobile"; s.dispatchEvent(new Event("change", {bubbles: true})); return true })()`))
	do(t, ctx, "enter the number and Save And Sync",
		chromedp.WaitVisible(css(`#mobile`)),
		chromedp.SendKeys(css(`#mobile`), "13912345678"),
		chromedp.Click(css(`#dingtalk-save`)),
		chromedp.WaitVisible(css(`#sync-matched`)),
	)
	userID := read(t, ctx, "userid", chromedp.Text(css(`#dingtalk-userid`)))
	jobNumber := read(t, ctx, "job number", chromedp.Text(css(`#dingtalk-job-number`)))
	if strings.TrimSpace(userID) != "zhangsan" || strings.TrimSpace(jobNumber) != "A0001" {
		t.Errorf("the tab shows userid %q and job number %q, want zhangsan and A0001", userID, jobNumber)
	}
	if n := dt.Calls("/topapi/v2/user/getbymobile"); n != 1 {
		t.Errorf("DingTalk got %d user-by-mobile calls, want 1", n)
	}
	screenshot(t, ctx, "profile-dingtalk")
}

// A matched user presses Send test message on their DingTalk tab: the answer appears in
// place with the task id DingTalk gave, and DingTalk got one card for their userid.
func TestSendTestMessageInBrowser(t *testing.T) {
	app, dt := profileFixture(t)
	matchedUser(t, app, "zhang", "zhang.san@acme.example")
	ctx := newBrowser(t)
	browserSignIn(t, ctx, app.URL, "/profile/dingtalk", "zhang", testUserPassword)

	do(t, ctx, "press Send test message",
		chromedp.WaitVisible(css(`#test-message-send`)),
		pageReady(),
		chromedp.Click(css(`#test-message-send`)),
		chromedp.WaitVisible(css(`#test-message-sent`)),
		htmxIdle(),
	)
	taskID := read(t, ctx, "task id", chromedp.Text(css(`#test-message-task-id`)))
	sent := dt.Sent()
	if len(sent) != 1 || strings.Join(sent[0].UserIDs, ",") != "zhangsan" {
		t.Fatalf("DingTalk got %+v, want one message to zhangsan", sent)
	}
	if want := fmt.Sprint(sent[0].TaskID); strings.TrimSpace(taskID) != want {
		t.Errorf("the tab shows task id %q, DingTalk gave %s", taskID, want)
	}
	// The answer was swapped in: the page is the same one, the form still there.
	if !read(t, ctx, "form kept", chromedp.Evaluate[bool](`!!document.getElementById("dingtalk-form")`)) {
		t.Errorf("the DingTalk form is gone after the press")
	}
	screenshot(t, ctx, "profile-dingtalk-test-message")
}
