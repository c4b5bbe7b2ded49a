package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/models/modelstest"
)

// deliveriesFixture is what seedDeliveries wrote: a notified page with one delivery
// sent and one dead, a skipped blog post, a notified page whose only delivery's outcome
// is unknown, and an edit coalesced into the first.
type deliveriesFixture struct {
	notified, skipped, unknownEvent, coalesced models.Event
	sent, dead, unknown                        *models.Delivery
}

// seedDeliveries writes events, deliveries and watcher outcomes straight through models,
// as the pipeline would have: the screen is tested apart from the pipeline.
func seedDeliveries(t *testing.T, app *testApp) deliveriesFixture {
	t.Helper()
	ctx := t.Context()
	at := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	event := func(e models.Event, minutes int) models.Event {
		e.Source, e.ContentType, e.Payload = models.EventSourceWebhook, "page", "{}"
		e.OccurredAt = at.Add(time.Duration(minutes) * time.Minute)
		e.ReceivedAt = e.OccurredAt
		if err := app.Store.InsertEvent(ctx, &e); err != nil {
			t.Fatal(err)
		}
		return e
	}
	var f deliveriesFixture
	f.notified = event(models.Event{EventName: "page_updated", ContentID: "1001", Status: models.EventNotified,
		Title: "Release plan 100% done", WebURL: "https://wiki.example/display/ENG/Release+plan", ActorName: "张三", Version: 7,
		EventCounts: models.EventCounts{Watchers: 9, Recipients: 5, DroppedNoView: 1, DroppedUndecided: 1, DroppedUnmatched: 1, DroppedOwnEdit: 1}}, 0)
	f.skipped = event(models.Event{EventName: "blog_updated", ContentID: "1002", Status: models.EventSkipped,
		SkipReason: models.SkipMinorEdit, Title: "Release plan 1000 done", ActorName: "李四"}, 1)
	f.unknownEvent = event(models.Event{EventName: "page_created", ContentID: "1003", Status: models.EventNotified,
		Title: "Roadmap", ActorName: "王五", EventCounts: models.EventCounts{Watchers: 2, Recipients: 2}}, 2)
	into := f.notified.ID
	f.coalesced = event(models.Event{EventName: "page_updated", ContentID: "1001", Status: models.EventCoalesced,
		CoalescedInto: &into, Title: "Release plan 100% done", ActorName: "张三"}, 3)

	sentAt := at.Add(time.Minute)
	msg := `{"msgtype":"text","text":{"content":"Release plan"}}`
	f.sent = &models.Delivery{EventID: f.notified.ID, Seq: 0, UserIDs: "u1,u2,u3", Message: msg, Status: models.DeliverySent,
		Attempts: 1, TaskID: 256271667527, SentAt: &sentAt, NextAttempt: at}
	f.dead = &models.Delivery{EventID: f.notified.ID, Seq: 1, UserIDs: "u4,u5", Message: msg, Status: models.DeliveryDead,
		Attempts: 1, ErrCode: "40035", LastError: "不合法的参数", NextAttempt: at}
	f.unknown = &models.Delivery{EventID: f.unknownEvent.ID, Seq: 0, UserIDs: "u6,u7", Message: msg, Status: models.DeliveryUnknown,
		Attempts: 1, LastError: "dingtalk message.asyncsend_v2: outcome unknown, the send may have been taken: EOF", NextAttempt: at}
	modelstest.AddDeliveries(t, app.Store.DB(), f.sent, f.dead, f.unknown)
	modelstest.AddEventRecipients(t, app.Store.DB(),
		&models.EventRecipient{EventID: f.notified.ID, UserKey: "k-zhao", DisplayName: "赵六", Outcome: models.RecipientNoView},
		&models.EventRecipient{EventID: f.notified.ID, UserKey: "k-qian", DisplayName: "钱七", Outcome: models.RecipientUndecided},
		&models.EventRecipient{EventID: f.notified.ID, UserKey: "k-sun", DisplayName: "孙八", Outcome: models.RecipientUnmatched},
		&models.EventRecipient{EventID: f.notified.ID, UserKey: "k-zhang", DisplayName: "张三", Outcome: models.RecipientOwnEdit},
		&models.EventRecipient{EventID: f.notified.ID, UserKey: "k-u1", DisplayName: "Notified One", Outcome: models.RecipientSent,
			DingTalkUserID: "u1", DeliveryID: &f.sent.ID},
	)
	return f
}

func TestDeliveriesScreenIsForAdmins(t *testing.T) {
	app := startApp(t)
	f := seedDeliveries(t, app)
	app.addUser(t, "alice", "alice-password-1", false)
	member := newClient(t)
	signIn(t, member, app.URL, "alice", "alice-password-1")
	eventPath := fmt.Sprintf("/admin/dingtalk/deliveries/%d", f.notified.ID)
	for _, path := range []string{"/admin/dingtalk/deliveries", eventPath} {
		if status, _, _ := get(t, member, app.URL, path); status != http.StatusForbidden {
			t.Errorf("non-admin GET %s: status %d, want 403", path, status)
		}
		if status, _, _ := get(t, newClient(t), app.URL, path); status != http.StatusSeeOther {
			t.Errorf("anonymous GET %s: status %d, want 303 to sign in", path, status)
		}
	}
	_, _, token := get(t, member, app.URL, "/profile")
	res, _ := post(t, member, app.URL, eventPath+"/retry", url.Values{"_csrf": {token}, "delivery": {fmt.Sprint(f.dead.ID)}})
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("non-admin Retry: status %d, want 403", res.StatusCode)
	}
	if d, _ := app.Store.DeliveryByID(t.Context(), f.dead.ID); d.Status != models.DeliveryDead {
		t.Errorf("after a non-admin's Retry the delivery is %s", d.Status)
	}
}

func TestDeliveriesScreenListsFiltersAndSearches(t *testing.T) {
	app := startApp(t)
	f := seedDeliveries(t, app)
	admin, _ := app.adminSession(t, "/admin")
	row := func(e models.Event) string { return fmt.Sprintf(`id="event-%d"`, e.ID) }

	status, body, _ := get(t, admin, app.URL, "/admin/dingtalk/deliveries")
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	for _, want := range []string{
		`id="nav-deliveries" aria-current`, `<a href="/admin/dingtalk/deliveries" aria-current`, "Events: 4",
		`<a href="https://wiki.example/display/ENG/Release+plan">Release plan 100% done</a>`, "<bdi>张三</bdi>",
		"Page updated", "Blog post updated", "Page created", "2026-12-02",
		"Notified", "1 sent · 1 dead", "1 outcome unknown",
		"a minor edit (Notify watchers was not ticked)",
		fmt.Sprintf(`<a href="/admin/dingtalk/deliveries/%d" class="df-status-detail">into #%d</a>`, f.notified.ID, f.notified.ID),
		`<td class="df-right df-watchers">9</td>`, `<td class="df-right df-sent">5</td>`,
		"no view right: 1", "view right undecided (not sent): 1", "no DingTalk match: 1", "own edit: 1",
		`data-polling="false"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the list lacks %q", want)
		}
	}
	if strings.Contains(body, "hx-trigger") {
		t.Error("the list polls although nothing is in flight")
	}
	// Newest first.
	if i, j := strings.Index(body, row(f.coalesced)), strings.Index(body, row(f.notified)); i < 0 || j < 0 || i > j {
		t.Errorf("the coalesced event (newest) is not above the first one")
	}

	for _, tc := range []struct {
		query    string
		want     []models.Event
		notWant  []models.Event
		wantText string
	}{
		{"status=skipped", []models.Event{f.skipped}, []models.Event{f.notified, f.unknownEvent, f.coalesced}, "Events: 1"},
		{"status=notified", []models.Event{f.notified, f.unknownEvent}, []models.Event{f.skipped, f.coalesced}, "Events: 2"},
		// The search is a substring match in which % and _ are themselves.
		{"q=" + url.QueryEscape("100%"), []models.Event{f.notified, f.coalesced}, []models.Event{f.skipped, f.unknownEvent}, "Events: 2"},
		{"q=1000", []models.Event{f.skipped}, []models.Event{f.notified, f.unknownEvent, f.coalesced}, "Events: 1"},
		{"q=_", nil, []models.Event{f.notified, f.skipped, f.unknownEvent, f.coalesced}, "No events."},
		{"q=roadMAP", []models.Event{f.unknownEvent}, []models.Event{f.notified}, "Events: 1"},
		{"status=coalesced&q=Release", []models.Event{f.coalesced}, []models.Event{f.notified, f.skipped}, "Events: 1"},
	} {
		status, body, _ := get(t, admin, app.URL, "/admin/dingtalk/deliveries?"+tc.query)
		if status != http.StatusOK || !strings.Contains(body, tc.wantText) {
			t.Errorf("%s: status %d, want 200 with %q", tc.query, status, tc.wantText)
		}
		for _, e := range tc.want {
			if !strings.Contains(body, row(e)) {
				t.Errorf("%s: event %d (%s) missing", tc.query, e.ID, e.Title)
			}
		}
		for _, e := range tc.notWant {
			if strings.Contains(body, row(e)) {
				t.Errorf("%s: event %d (%s) listed", tc.query, e.ID, e.Title)
			}
		}
	}
	if status, _, _ := get(t, admin, app.URL, "/admin/dingtalk/deliveries?status=bogus"); status != http.StatusBadRequest {
		t.Errorf("unknown status filter: status %d, want 400", status)
	}
	if status, _, _ := get(t, admin, app.URL, "/admin/dingtalk/deliveries/999999"); status != http.StatusNotFound {
		t.Errorf("unknown event: status %d, want 404", status)
	}
}

func TestDeliveryEventPageAndRetry(t *testing.T) {
	app := startApp(t)
	f := seedDeliveries(t, app)
	eventPath := fmt.Sprintf("/admin/dingtalk/deliveries/%d", f.notified.ID)
	admin, token := app.adminSession(t, eventPath)

	_, body, _ := get(t, admin, app.URL, eventPath)
	for _, want := range []string{
		fmt.Sprintf("<h1>Event #%d</h1>", f.notified.ID), `id="nav-deliveries" aria-current`,
		fmt.Sprintf(`<tr id="delivery-%d" data-status="sent">`, f.sent.ID), "<code>256271667527</code>",
		fmt.Sprintf(`<tr id="delivery-%d" data-status="dead">`, f.dead.ID), "DingTalk answered errcode 40035: 不合法的参数",
		fmt.Sprintf(`id="retry-%d"`, f.dead.ID),
		`<tr data-outcome="no_view">`, "赵六", "no view right", "钱七", "view right undecided (not sent)", "孙八", "no DingTalk match",
		`data-polling="false"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the event page lacks %q", want)
		}
	}
	if strings.Contains(body, fmt.Sprintf(`id="retry-%d"`, f.sent.ID)) || strings.Contains(body, "Notified One") {
		t.Error("the event page offers Retry on a sent delivery or lists a notified watcher as dropped")
	}
	_, body, _ = get(t, admin, app.URL, fmt.Sprintf("/admin/dingtalk/deliveries/%d", f.unknownEvent.ID))
	for _, want := range []string{"outcome unknown", "retrying may notify these people twice", "Retry anyway"} {
		if !strings.Contains(body, want) {
			t.Errorf("the unknown delivery's page lacks %q", want)
		}
	}

	retry := func(path string, form url.Values) *http.Response {
		t.Helper()
		res, _ := post(t, admin, app.URL, path+"/retry", form)
		return res
	}
	status := func(id uint64) models.DeliveryStatus {
		d, err := app.Store.DeliveryByID(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		return d.Status
	}
	// Without the CSRF token nothing changes.
	if res := retry(eventPath, url.Values{"delivery": {fmt.Sprint(f.dead.ID)}}); res.StatusCode != http.StatusForbidden || status(f.dead.ID) != models.DeliveryDead {
		t.Fatalf("Retry without CSRF: status %d, delivery %s; want 403 and dead", res.StatusCode, status(f.dead.ID))
	}
	for _, tc := range []struct {
		name     string
		path     string
		delivery uint64
		want     int
	}{
		{"a sent delivery", eventPath, f.sent.ID, http.StatusConflict},
		{"another event's delivery", eventPath, f.unknown.ID, http.StatusNotFound},
	} {
		if res := retry(tc.path, url.Values{"_csrf": {token}, "delivery": {fmt.Sprint(tc.delivery)}}); res.StatusCode != tc.want {
			t.Errorf("Retry of %s: status %d, want %d", tc.name, res.StatusCode, tc.want)
		}
	}
	if status(f.sent.ID) != models.DeliverySent || status(f.unknown.ID) != models.DeliveryUnknown {
		t.Fatal("a refused Retry changed a delivery")
	}

	res := retry(eventPath, url.Values{"_csrf": {token}, "delivery": {fmt.Sprint(f.dead.ID)}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != eventPath {
		t.Fatalf("Retry: status %d to %q, want 303 to %s", res.StatusCode, res.Header.Get("Location"), eventPath)
	}
	d, _ := app.Store.DeliveryByID(t.Context(), f.dead.ID)
	if d.Status != models.DeliveryPending || d.Attempts != 0 || d.TaskID != 0 {
		t.Fatalf("after Retry the delivery = %s, %d attempts; want pending with a fresh set of attempts", d.Status, d.Attempts)
	}
	_, body, _ = get(t, admin, app.URL, eventPath)
	for _, want := range []string{"The delivery is pending again", `data-polling="true"`, `hx-trigger="every 3s"`,
		fmt.Sprintf(`<tr id="delivery-%d" data-status="pending">`, f.dead.ID)} {
		if !strings.Contains(body, want) {
			t.Errorf("after Retry the event page lacks %q", want)
		}
	}
	if _, body, _ := get(t, admin, app.URL, "/admin/dingtalk/deliveries"); !strings.Contains(body, `hx-trigger="every 3s"`) {
		t.Error("with a delivery pending the list does not refresh itself")
	}
	_, body, _ = get(t, admin, app.URL, "/admin/audit?action=delivery.retry")
	want := fmt.Sprintf("delivery %d of event %d (was dead after 1 attempts)", f.dead.ID, f.notified.ID)
	if !strings.Contains(body, `<tr data-action="delivery.retry">`) || !strings.Contains(body, want) || !strings.Contains(body, "<bdi>admin</bdi>") {
		t.Errorf("the audit log lacks the Retry by admin (%q)", want)
	}

	// The unknown one may be retried too, knowingly.
	unknownPath := fmt.Sprintf("/admin/dingtalk/deliveries/%d", f.unknownEvent.ID)
	if res := retry(unknownPath, url.Values{"_csrf": {token}, "delivery": {fmt.Sprint(f.unknown.ID)}}); res.StatusCode != http.StatusSeeOther || status(f.unknown.ID) != models.DeliveryPending {
		t.Errorf("Retry of the unknown delivery: status %d, delivery %s; want 303 and pending", res.StatusCode, status(f.unknown.ID))
	}
}
