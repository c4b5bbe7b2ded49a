package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/dingfluence/dingfluence/dingtalk/dingtalktest"
)

// The Deliveries screen lists a seeded event with its counts; Retry on its dead delivery
// turns it pending and the page starts refreshing itself; once the dispatcher has sent
// it, the page shows it sent and stops refreshing.
func TestDeliveriesRetryInBrowser(t *testing.T) {
	dt := dingtalktest.Start(t, dingtalktest.Options{AppKey: "ding-app-key", AppSecret: "ding-app-secret", AgentID: 123456})
	app := startApp(t)
	configureDingTalk(t, app, dt)
	set, err := app.Store.LoadSettings(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	set.Enabled = true
	if err := app.Store.SaveSettings(t.Context(), set, "test"); err != nil {
		t.Fatal(err)
	}
	f := seedDeliveries(t, app)

	ctx := newBrowser(t)
	browserSignIn(t, ctx, app.URL, "/admin/dingtalk/deliveries", "admin", testAdminPassword)
	row := fmt.Sprintf(`#event-%d`, f.notified.ID)
	do(t, ctx, "the list", chromedp.WaitVisible(css(row)), pageReady())
	cells := read(t, ctx, "the event's row", chromedp.Evaluate[[]string](fmt.Sprintf(
		`[...document.querySelectorAll(%q)].map(td => td.innerText.trim())`, row+" td")))
	for i, want := range map[int]string{0: "Release plan 100% done", 4: "1 sent · 1 dead", 5: "9", 6: "5", 7: "no view right: 1"} {
		if i >= len(cells) || !strings.Contains(cells[i], want) {
			t.Errorf("cell %d of the event's row = %q, want %q (row %q)", i, cells[min(i, len(cells)-1)], want, cells)
		}
	}
	if polling := read(t, ctx, "polling", chromedp.Evaluate[string](`document.querySelector("#deliveries-results").dataset.polling`)); polling != "false" {
		t.Errorf("the settled list polls: data-polling=%q", polling)
	}
	screenshot(t, ctx, "deliveries")

	dead := fmt.Sprintf(`#delivery-%d`, f.dead.ID)
	do(t, ctx, "open the event and Retry its dead delivery",
		chromedp.Click(css(row+" .df-event-details")),
		chromedp.WaitVisible(css(dead+`[data-status="dead"]`)),
		pageReady(),
		chromedp.Click(css(fmt.Sprintf(`#retry-%d`, f.dead.ID))),
		chromedp.WaitVisible(css(`#flash`)),
		chromedp.WaitVisible(css(dead+`[data-status="pending"]`)),
		chromedp.WaitVisible(css(`#delivery-event[data-polling="true"][hx-trigger]`)),
	)
	screenshot(t, ctx, "delivery-event")

	if n, err := app.dispatcher.RunOnce(t.Context()); err != nil || n != 1 {
		t.Fatalf("dispatch after Retry: %d sent, %v", n, err)
	}
	sent := dt.Sent()
	if len(sent) != 1 || strings.Join(sent[0].UserIDs, ",") != f.dead.UserIDs {
		t.Fatalf("DingTalk got %+v; want one send to %s", sent, f.dead.UserIDs)
	}
	do(t, ctx, "the page refreshes itself to sent, then stops",
		chromedp.WaitVisible(css(dead+`[data-status="sent"]`)),
		chromedp.WaitVisible(css(`#delivery-event[data-polling="false"]`)),
		htmxIdle(),
	)
	if trigger := read(t, ctx, "trigger", chromedp.Evaluate[bool](`document.querySelector("#delivery-event").hasAttribute("hx-trigger")`)); trigger {
		t.Error("the settled event page still polls")
	}
	if task := read(t, ctx, "task id", chromedp.Text(css(dead+" code"))); task != fmt.Sprint(sent[0].TaskID) {
		t.Errorf("the page shows task_id %q, want %d", task, sent[0].TaskID)
	}
}
