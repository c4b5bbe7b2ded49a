package main

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/dingfluence/dingfluence/confluence"
	"github.com/dingfluence/dingfluence/confluence/confluencetest"
	"github.com/dingfluence/dingfluence/dingtalk/dingtalktest"
	"github.com/dingfluence/dingfluence/models"
)

// The product's reason to exist, end to end with every part real but the two services:
// an admin generates the webhook secret on the Confluence screen; Confluence posts a
// signed page_updated webhook; the app's own workers enrich it, find the watchers of the
// page and of its space, keep those who may read the page, and send one work
// notification; the Deliveries screen shows the event notified with the right counts,
// and DingTalk received a card with the page title for exactly the expected userids —
// none for the watcher the page is restricted from, none for the editor.
func TestPageEventNotifiesWatchersInBrowser(t *testing.T) {
	a := startConfluenceApp(t) // svc, alice (alice@example.com) and bob in confluence-users
	cf := a.cf
	cf.SetEmail("bob", "bob@example.com", false)
	cf.AddUser(confluencetest.User{Username: "carol", DisplayName: "Carol Wu", Email: "carol@example.com"})
	dave := cf.AddUser(confluencetest.User{Username: "dave", DisplayName: "Dave Editor", Email: "dave@example.com"})
	cf.AddToGroup(models.DefaultConfluenceUserGroup, "carol", "dave")

	dt := dingtalktest.Start(t, dingtalktest.Options{AppKey: "ding-app-key", AppSecret: "ding-app-secret", AgentID: 123456})
	for _, name := range []string{"alice", "bob", "carol", "dave"} {
		dt.AddUser(dingtalktest.User{UserID: "dt-" + name, Name: name, Email: name + "@example.com", Active: true, DeptIDs: []int64{1}})
	}
	configureDingTalk(t, a.testApp, dt)
	ctx := context.Background()
	set, err := a.Store.LoadSettings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	set.Enabled, set.CoalesceMinutes = true, 0 // each publish notifies at once
	if err := a.Store.SaveSettings(ctx, set, "test"); err != nil {
		t.Fatal(err)
	}
	if run, err := a.orgSync.Run(ctx, models.SyncKindFull, 1, models.SyncTriggerUser, "test"); err != nil || run.Status != models.SyncStatusSucceeded {
		t.Fatalf("org sync: %+v, %v", run, err)
	}
	if run, _, err := a.directory.Run(ctx, models.DirectoryTriggerUser, "test"); err != nil || run.Status != models.DirectorySucceeded {
		t.Fatalf("directory sync: %+v, %v", run, err)
	}

	// alice and bob watch the page, carol and dave its space; the page is restricted to
	// alice, carol and dave (and the service account), so bob may not read it.
	cf.AddSpace("ENG", "Engineering")
	page := cf.AddPage("ENG", "Release plan")
	cf.WatchPage(page, "alice", "bob")
	cf.WatchSpace("ENG", "carol", "dave")
	cf.Restrict(page, []string{"alice", "carol", "dave", "svc"}, nil)
	version := cf.EditPage(page, "dave", "Dates moved to March", false)
	a.StartJobs()

	admin := newBrowser(t)
	browserSignIn(t, admin, a.URL, "/admin/confluence", "admin", testAdminPassword)
	do(t, admin, "generate the webhook secret",
		chromedp.WaitVisible(css(`#webhook-generate`)),
		pageReady(),
		chromedp.Click(css(`#webhook-generate`)),
		chromedp.WaitVisible(css(`#webhookSecret`)),
	)
	secret := read(t, admin, "the new secret", chromedp.Value(css(`#webhookSecret`)))
	if len(secret) < 32 {
		t.Fatalf("generated webhook secret %q is too short", secret)
	}

	req := cf.WebhookRequest(a.URL+"/webhooks/confluence", secret, confluencetest.Webhook{
		Event: confluence.EventPageUpdated, ContentID: page, UserKey: dave.Key,
	})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("signed webhook answered %d, want 202", resp.StatusCode)
	}

	// The list refreshes itself while the event is in flight, until it is notified.
	do(t, admin, "watch the event become notified",
		chromedp.Navigate(a.URL+"/admin/dingtalk/deliveries"),
		chromedp.WaitVisible(css(`#deliveries-table tr[data-status="notified"]`)),
		pageReady(),
		chromedp.Click(css(`#deliveries-table tr[data-status="notified"] .df-event-details`)),
		chromedp.WaitVisible(css(`#event-deliveries tr[data-status="sent"]`)),
		pageReady(),
	)
	watchers := strings.TrimSpace(read(t, admin, "watchers", chromedp.Text(css(`#event-watchers`))))
	sent := strings.TrimSpace(read(t, admin, "sent", chromedp.Text(css(`#event-sent`))))
	dropped := map[string]string{}
	for _, outcome := range []models.RecipientOutcome{models.RecipientNoView, models.RecipientOwnEdit} {
		dropped[string(outcome)] = read(t, admin, "dropped "+string(outcome), chromedp.Text(css(`#event-dropped li[data-outcome="`+string(outcome)+`"]`)))
	}
	if watchers != "4" || sent != "2" || !strings.HasSuffix(strings.TrimSpace(dropped["no_view"]), "1") || !strings.HasSuffix(strings.TrimSpace(dropped["own_edit"]), "1") {
		t.Errorf("event facts: watchers %q, sent %q, dropped %q; want 4 watchers, 2 sent, 1 no view right, 1 own edit", watchers, sent, dropped)
	}
	noView := read(t, admin, "the dropped watchers", chromedp.Text(css(`#event-dropped-watchers`)))
	if !strings.Contains(noView, "Bob Li") || !strings.Contains(noView, "Dave Editor") {
		t.Errorf("the dropped watchers table does not name Bob Li (no view right) and Dave Editor (own edit): %q", noView)
	}
	screenshot(t, admin, "deliveries-notified")

	msgs := dt.Sent()
	if len(msgs) != 1 {
		t.Fatalf("DingTalk received %d work notifications, want 1", len(msgs))
	}
	got := slices.Sorted(slices.Values(msgs[0].UserIDs))
	if want := []string{"dt-alice", "dt-carol"}; !slices.Equal(got, want) {
		t.Errorf("the notification went to %v, want %v (never dt-bob, who may not read the page, nor dt-dave, who edited it)", got, want)
	}
	var card struct {
		MsgType    string `json:"msgtype"`
		ActionCard struct {
			Title    string `json:"title"`
			Markdown string `json:"markdown"`
		} `json:"action_card"`
	}
	if err := json.Unmarshal(msgs[0].Msg, &card); err != nil {
		t.Fatalf("decode the card: %v (%s)", err, msgs[0].Msg)
	}
	if card.MsgType != "action_card" || !strings.Contains(card.ActionCard.Title, "Release plan") ||
		!strings.Contains(card.ActionCard.Markdown, "Dates moved to March") || !strings.Contains(card.ActionCard.Markdown, "Dave Editor") {
		t.Errorf("the card = %s; want an action card titled with the page, naming the editor and the change comment", msgs[0].Msg)
	}
	if !strings.Contains(string(msgs[0].Msg), strconv.Itoa(version)) {
		t.Errorf("the card %s does not carry version %d", msgs[0].Msg, version)
	}
}
