package main

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dingfluence/dingfluence/confluence"
	"github.com/dingfluence/dingfluence/confluence/confluencetest"
	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/models/modelstest"
)

// eachAppDB runs fn against the whole app on SQLite and on MariaDB.
func eachAppDB(t *testing.T, fn func(t *testing.T, app *testApp)) {
	t.Helper()
	t.Run(models.DialectSQLite, func(t *testing.T) { fn(t, startApp(t)) })
	t.Run(models.DialectMySQL, func(t *testing.T) {
		fn(t, startApp(t, func(c *Config) { c.DB = modelstest.MySQLDSN(t) }))
	})
}

var webhookSecretField = regexp.MustCompile(`id="webhookSecret" value="([^"]+)"`)

// generateWebhookSecret presses Generate (or Regenerate) on the Confluence screen as
// admin and returns the secret the answer shows, with the answer.
func generateWebhookSecret(t testing.TB, app *testApp) (string, string) {
	t.Helper()
	admin, csrf := app.adminSession(t, "/admin/confluence")
	res, body := post(t, admin, app.URL, "/admin/confluence/webhook/secret", url.Values{"_csrf": {csrf}})
	m := webhookSecretField.FindStringSubmatch(body)
	if res.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("generate: status %d, secret shown %v", res.StatusCode, m != nil)
	}
	return html.UnescapeString(m[1]), body
}

// webhookReply is the endpoint's JSON answer with its status.
type webhookReply struct {
	code    int
	Status  string `json:"status"`
	EventID uint64 `json:"eventId"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

func sendWebhook(t testing.TB, req *http.Request) webhookReply {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST webhook: %v", err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := webhookReply{code: res.StatusCode}
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("status %d, answer is not JSON: %q", res.StatusCode, raw)
	}
	return r
}

// webhookPost builds a webhook request by hand: body signed with secret ("" for no
// signature header), with contentType.
func webhookPost(t testing.TB, target, secret, eventKey, contentType string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if eventKey != "" {
		req.Header.Set(confluence.HeaderEventKey, eventKey)
	}
	req.Header.Set(confluence.HeaderRequestID, "req-by-hand")
	if secret != "" {
		req.Header.Set(confluence.HeaderSignature, confluencetest.Sign(secret, body))
	}
	return req
}

func countEvents(t testing.TB, app *testApp) int64 {
	t.Helper()
	var n int64
	if err := app.Store.DB().Table("events").Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// padTo returns a page_created body of exactly n bytes (a padding field fills it).
func padTo(n int) []byte {
	head := `{"timestamp":1768241233603,"event":"page_created","userKey":"u1","page":{"id":4242},"pad":"`
	tail := `"}`
	return []byte(head + strings.Repeat("x", n-len(head)-len(tail)) + tail)
}

// The endpoint end to end: refused while no secret is set, then every payload shape of
// the four events accepted and stored with its fields, ignored events and the
// connection test answered without storing, and each refusal with its status and a
// message naming the problem, counted on the Confluence screen.
func TestWebhookEndpoint(t *testing.T) {
	eachAppDB(t, func(t *testing.T, app *testApp) {
		cf := confluencetest.New(t)
		cf.AddUser(confluencetest.User{Username: "alice", DisplayName: "Alice"})
		cf.AddSpace("ENG", "Engineering")
		page := cf.AddContent(confluencetest.NewContent{Space: "ENG", Title: "Release plan", Author: "alice"})
		cf.EditPage(page, "alice", "second", false)
		blog := cf.AddContent(confluencetest.NewContent{Type: confluence.ContentBlogPost, Space: "ENG", Title: "Weekly notes", Author: "alice"})
		alice, _ := cf.User("alice")
		target := app.URL + "/webhooks/confluence"

		// No secret yet: everything is refused, the connection test too, with where to
		// make one.
		for _, req := range []*http.Request{
			cf.WebhookRequest(target, "anything", confluencetest.Webhook{Event: confluence.EventPageCreated, ContentID: page}),
			cf.TestConnectionRequest(target, ""),
		} {
			r := sendWebhook(t, req)
			if r.code != http.StatusForbidden || r.Reason != "no_secret" || !strings.Contains(r.Message, "Generate the secret on dingfluence's Confluence screen") {
				t.Fatalf("without a secret: %+v", r)
			}
		}
		secret, _ := generateWebhookSecret(t, app)

		if r := sendWebhook(t, cf.TestConnectionRequest(target, secret)); r.code != http.StatusOK || r.Status != "ok" {
			t.Errorf("connection test: %+v", r)
		}
		if r := sendWebhook(t, webhookPost(t, target, secret, "diagnostics:ping", "application/json", nil)); r.code != http.StatusOK {
			t.Errorf("empty ping: %+v", r)
		}
		if n := countEvents(t, app); n != 0 {
			t.Fatalf("the connection test stored %d events", n)
		}

		accepted := []struct {
			event   confluence.EventName
			id      string
			payload confluence.PayloadKind
		}{
			{confluence.EventPageCreated, page, confluence.PayloadIDOnly},
			{confluence.EventPageUpdated, page, confluence.PayloadIDOnly},
			{confluence.EventBlogCreated, blog, confluence.PayloadIDOnly},
			{confluence.EventBlogUpdated, blog, confluence.PayloadIDOnly},
			{confluence.EventPageCreated, page, confluence.PayloadLegacy},
			{confluence.EventPageUpdated, page, confluence.PayloadLegacy},
			{confluence.EventBlogCreated, blog, confluence.PayloadLegacy},
			{confluence.EventBlogUpdated, blog, confluence.PayloadLegacy},
		}
		for _, tt := range accepted {
			t.Run(string(tt.event)+" "+string(tt.payload), func(t *testing.T) {
				req := cf.WebhookRequest(target, secret, confluencetest.Webhook{Event: tt.event, ContentID: tt.id, Payload: tt.payload})
				body := cf.WebhookPayload(confluencetest.Webhook{Event: tt.event, ContentID: tt.id, Payload: tt.payload})
				r := sendWebhook(t, req)
				if r.code != http.StatusAccepted || r.Status != "accepted" || r.EventID == 0 {
					t.Fatalf("answer %+v", r)
				}
				e, err := app.Store.EventByID(context.Background(), r.EventID)
				if err != nil {
					t.Fatal(err)
				}
				wantType, wantTrigger := "page", ""
				if tt.id == blog {
					wantType = "blogpost"
				}
				if tt.event.IsUpdate() {
					wantTrigger = "edit_page"
				}
				if e.Source != models.EventSourceWebhook || e.EventName != string(tt.event) || e.PayloadKind != string(tt.payload) ||
					e.ContentID != tt.id || e.ContentType != wantType || e.ActorKey != alice.Key || e.UpdateTrigger != wantTrigger ||
					e.Status != models.EventPending || !strings.HasPrefix(e.RequestID, "c0ffee00-") || e.OccurredAt.IsZero() || e.ReceivedAt.IsZero() {
					t.Errorf("stored %+v", e)
				}
				// The raw payload is kept byte for byte (the body was rebuilt the same way,
				// so compare all but the timestamp).
				if !strings.Contains(e.Payload, `"page"`) && !strings.Contains(e.Payload, `"blog"`) || len(e.Payload) != len(body) {
					t.Errorf("payload %q, sent %q", e.Payload, body)
				}
				if tt.payload == confluence.PayloadLegacy {
					wantTitle, wantVersion := "Release plan", 2
					if tt.id == blog {
						wantTitle, wantVersion = "Weekly notes", 1
					}
					if e.Title != wantTitle || e.SpaceKey != "ENG" || e.Version != wantVersion {
						t.Errorf("legacy hints: title %q, space %q, version %d", e.Title, e.SpaceKey, e.Version)
					}
				} else if e.Title != "" || e.Version != 0 {
					t.Errorf("ID-only event with hints: %q v%d", e.Title, e.Version)
				}
			})
		}
		stored := countEvents(t, app)
		if stored != int64(len(accepted)) {
			t.Fatalf("%d events stored, want %d", stored, len(accepted))
		}

		idOnly := []byte(`{"timestamp":1768241233603,"event":"page_created","userKey":"u1","page":{"id":4242}}`)
		refusals := []struct {
			name         string
			req          *http.Request
			code         int
			reason, want string
		}{
			{"no signature", webhookPost(t, target, "", "page_created", "application/json", idOnly), 401, "no_signature", "no X-Hub-Signature header"},
			{"wrong signature", webhookPost(t, target, "not-the-secret", "page_created", "application/json", idOnly), 401, "bad_signature", "does not match"},
			{"not JSON", webhookPost(t, target, secret, "page_created", "text/plain", idOnly), 415, "not_json", "application/json"},
			{"no content type", webhookPost(t, target, secret, "page_created", "", idOnly), 415, "not_json", "application/json"},
			{"over 1 MiB", webhookPost(t, target, secret, "page_created", "application/json", padTo(1<<20+1)), 413, "too_large", "1 MiB"},
			{"malformed JSON", webhookPost(t, target, secret, "page_created", "application/json", []byte(`{"event":`)), 400, "malformed", "not a JSON object"},
			{"no event", webhookPost(t, target, secret, "", "application/json", []byte(`{"page":{"id":1}}`)), 400, "malformed", `no "event"`},
			{"missing content id", webhookPost(t, target, secret, "page_updated", "application/json", []byte(`{"event":"page_updated","page":{}}`)), 400, "no_content_id", "has no id"},
			{"invalid content id", webhookPost(t, target, secret, "page_updated", "application/json", []byte(`{"event":"page_updated","page":{"id":"../x"}}`)), 400, "no_content_id", "not a positive integer"},
		}
		for _, tt := range refusals {
			t.Run(tt.name, func(t *testing.T) {
				r := sendWebhook(t, tt.req)
				if r.code != tt.code || r.Status != "refused" || r.Reason != tt.reason || !strings.Contains(r.Message, tt.want) {
					t.Errorf("answer %+v, want %d %s saying %q", r, tt.code, tt.reason, tt.want)
				}
			})
		}

		// Exactly 1 MiB is within the limit; the charset parameter is fine.
		if r := sendWebhook(t, webhookPost(t, target, secret, "page_created", "application/json; charset=UTF-8", padTo(1<<20))); r.code != http.StatusAccepted {
			t.Errorf("1 MiB body: %+v", r)
		}
		// Other events are accepted and ignored: nothing stored.
		comment := webhookPost(t, target, secret, "comment_created", "application/json", []byte(`{"event":"comment_created","comment":{"id":7}}`))
		if r := sendWebhook(t, comment); r.code != http.StatusAccepted || r.Status != "ignored" || r.EventID != 0 {
			t.Errorf("ignored event: %+v", r)
		}
		if n := countEvents(t, app); n != stored+1 {
			t.Errorf("%d events, want %d: a refusal or an ignored event stored one", n, stored+1)
		}
		// Messages follow Accept-Language.
		zh := webhookPost(t, target, "", "page_created", "application/json", idOnly)
		zh.Header.Set("Accept-Language", "zh-CN,zh;q=0.9")
		if r := sendWebhook(t, zh); r.code != 401 || !strings.Contains(r.Message, "缺少 X-Hub-Signature") {
			t.Errorf("Chinese answer: %+v", r)
		}

		// The metric counts outcomes by a fixed label set.
		_, metrics, _ := get(t, newClient(t), app.URL, "/metrics")
		for _, want := range []string{
			`dingfluence_webhook_requests_total{outcome="accepted"} 9`, `dingfluence_webhook_requests_total{outcome="test"} 2`,
			`dingfluence_webhook_requests_total{outcome="ignored"} 1`, `dingfluence_webhook_requests_total{outcome="no_secret"} 2`,
			`dingfluence_webhook_requests_total{outcome="unavailable"} 0`,
		} {
			if !strings.Contains(metrics, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}

		// The screen counts them by reason and shows the last arrival.
		admin, _ := app.adminSession(t, "/admin")
		_, body, _ := get(t, admin, app.URL, "/admin/confluence")
		body = html.UnescapeString(body)
		for reason, n := range map[string]int{"no_secret": 2, "no_signature": 2, "bad_signature": 1, "not_json": 2, "too_large": 1, "malformed": 2, "no_content_id": 2} {
			if !strings.Contains(body, `data-reason="`+reason+`" data-count="`+strconv.Itoa(n)+`"`) {
				t.Errorf("screen does not count %d refusals for %s", n, reason)
			}
		}
		for _, want := range []string{`id="webhook-refused" data-total="12"`, "12 webhooks refused in the last 24 hours.", "Wrong signature: 1", "Last webhook arrived at "} {
			if !strings.Contains(body, want) {
				t.Errorf("screen lacks %q", want)
			}
		}
	})
}

// A database failure answers 503 and stores nothing; the refusal is still counted when
// the counters' table can be written.
func TestWebhookDatabaseFailure(t *testing.T) {
	eachAppDB(t, func(t *testing.T, app *testApp) {
		secret, _ := generateWebhookSecret(t, app)
		db := app.Store.DB()
		if err := db.Exec("ALTER TABLE events RENAME TO events_away").Error; err != nil {
			t.Fatal(err)
		}
		body := []byte(`{"timestamp":1768241233603,"event":"page_created","userKey":"u1","page":{"id":4242}}`)
		r := sendWebhook(t, webhookPost(t, app.URL+"/webhooks/confluence", secret, "page_created", "application/json", body))
		if err := db.Exec("ALTER TABLE events_away RENAME TO events").Error; err != nil {
			t.Fatal(err)
		}
		if r.code != http.StatusServiceUnavailable || r.Reason != "unavailable" || !strings.Contains(r.Message, "cannot reach its database") {
			t.Errorf("answer %+v", r)
		}
		if n := countEvents(t, app); n != 0 {
			t.Errorf("%d events stored", n)
		}
		if h, err := app.Store.LoadWebhookHealth(context.Background(), time.Now().Add(-24*time.Hour)); err != nil || h.Refused[models.RefusalUnavailable] != 1 {
			t.Errorf("health %+v, %v", h, err)
		}
	})
}

// Generate shows the secret once with Copy; afterwards the screen says when it was set
// and offers Regenerate, which makes the old secret fail at once. Saving the
// connection keeps the secret; only admins see or change it.
func TestWebhookSecretScreen(t *testing.T) {
	app := startApp(t, func(c *Config) { c.BaseURL = "https://dingfluence.example.com/" })
	admin, csrf := app.adminSession(t, "/admin/confluence")
	_, body, _ := get(t, admin, app.URL, "/admin/confluence")
	for _, want := range []string{
		`id="webhookUrl" value="https://dingfluence.example.com/webhooks/confluence" readonly`,
		`data-copy-target="webhookUrl"`, `id="webhook-generate"`, "No secret yet.", "No webhook has arrived yet.",
		"Administration › General Configuration › Webhooks", "page_created and page_updated", "blog_created and blog_updated", "Test connection",
	} {
		if !strings.Contains(html.UnescapeString(body), want) {
			t.Errorf("screen lacks %q", want)
		}
	}

	first, answer := generateWebhookSecret(t, app)
	if len(first) < 40 || len(first) > 255 || !strings.Contains(answer, `data-copy-target="webhookSecret"`) || !strings.Contains(answer, "it is shown only this once") {
		t.Errorf("generated %q; Copy or warning missing", first)
	}
	_, body, _ = get(t, admin, app.URL, "/admin/confluence")
	if strings.Contains(body, first) || !strings.Contains(body, "Secret set on ") || !strings.Contains(body, `id="webhook-regenerate"`) || !strings.Contains(body, `data-confirm="`) {
		t.Errorf("after reload: the secret is shown again, or no set-on date and Regenerate with its question")
	}

	target := app.URL + "/webhooks/confluence"
	payload := []byte(`{"timestamp":1768241233603,"event":"page_created","userKey":"u1","page":{"id":4242}}`)
	if r := sendWebhook(t, webhookPost(t, target, first, "page_created", "application/json", payload)); r.code != http.StatusAccepted {
		t.Fatalf("first secret: %+v", r)
	}
	// Saving the Confluence form does not touch the secret.
	if res, _ := post(t, admin, app.URL, "/admin/confluence", confluenceForm("https://wiki.example.com", "tok", csrf)); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d", res.StatusCode)
	}
	if r := sendWebhook(t, webhookPost(t, target, first, "page_created", "application/json", payload)); r.code != http.StatusAccepted {
		t.Fatalf("after saving the form: %+v", r)
	}

	second, _ := generateWebhookSecret(t, app)
	if second == first {
		t.Fatal("regenerate gave the same secret")
	}
	if r := sendWebhook(t, webhookPost(t, target, first, "page_created", "application/json", payload)); r.code != http.StatusUnauthorized || r.Reason != "bad_signature" {
		t.Errorf("old secret after regenerate: %+v", r)
	}
	if r := sendWebhook(t, webhookPost(t, target, second, "page_created", "application/json", payload)); r.code != http.StatusAccepted {
		t.Errorf("new secret: %+v", r)
	}
	page, err := app.Store.AuditPage(context.Background(), models.AuditQuery{Action: models.ActionWebhookSecret})
	if err != nil || page.Total != 2 || strings.Contains(page.Entries[0].Details+page.Entries[1].Details, first[:10]) {
		t.Errorf("audit %+v, %v", page, err)
	}

	// Only admins.
	app.addUser(t, "carol", "carol-password-123", false)
	carol := newClient(t)
	signIn(t, carol, app.URL, "carol", "carol-password-123")
	_, _, carolCSRF := get(t, carol, app.URL, "/profile")
	if status, _, _ := get(t, carol, app.URL, "/admin/confluence"); status != http.StatusForbidden {
		t.Errorf("non-admin screen: %d", status)
	}
	if res, body := post(t, carol, app.URL, "/admin/confluence/webhook/secret", url.Values{"_csrf": {carolCSRF}}); res.StatusCode != http.StatusForbidden || !strings.Contains(body, "It is for dingfluence administrators") {
		t.Errorf("non-admin regenerate: %d", res.StatusCode)
	}
	// Regenerate needs the CSRF token; the webhook is the only POST without one.
	if res, body := post(t, admin, app.URL, "/admin/confluence/webhook/secret", url.Values{}); res.StatusCode != http.StatusForbidden || !strings.Contains(body, "This form has expired") {
		t.Errorf("regenerate without CSRF: %d", res.StatusCode)
	}
	if got, _ := app.Store.LoadWebhookSecret(context.Background()); got.Secret != second {
		t.Error("a refused regenerate changed the secret")
	}
	if res, _ := post(t, newClient(t), app.URL, "/webhooks/confluence/other", url.Values{}); res.StatusCode != http.StatusNotFound {
		t.Errorf("a path beside the webhook: %d", res.StatusCode)
	}
}

// Two instances share one database: a secret regenerated on one verifies on the other
// at once (a signature that does not match its cached secret makes it read the stored
// one), and from then on the old secret is refused there too.
func TestWebhookSecretAcrossInstances(t *testing.T) {
	dsn := modelstest.SQLiteDSN(t)
	shared := func(c *Config) { c.DB, c.SecretKey = dsn, "one key for both instances" }
	a, b := startApp(t, shared), startApp(t, shared)
	payload := []byte(`{"timestamp":1768241233603,"event":"page_created","userKey":"u1","page":{"id":4242}}`)
	send := func(app *testApp, secret string) int {
		return sendWebhook(t, webhookPost(t, app.URL+"/webhooks/confluence", secret, "page_created", "application/json", payload)).code
	}
	first, _ := generateWebhookSecret(t, a)
	if got := send(b, first); got != http.StatusAccepted {
		t.Fatalf("first secret on the other instance: %d", got)
	}
	second, _ := generateWebhookSecret(t, a)
	if got := send(b, second); got != http.StatusAccepted {
		t.Errorf("new secret on the other instance right after regenerating: %d", got)
	}
	if got := send(b, first); got != http.StatusUnauthorized {
		t.Errorf("old secret on the other instance once the new one was seen: %d", got)
	}
	if got := send(a, first); got != http.StatusUnauthorized {
		t.Errorf("old secret on the instance that regenerated: %d", got)
	}
}
