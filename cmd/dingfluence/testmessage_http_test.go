package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/dingfluence/dingfluence/dingtalk"
	"github.com/dingfluence/dingfluence/dingtalk/dingtalktest"
	"github.com/dingfluence/dingfluence/models"
)

// pressTestMessage presses Send test message as htmx does (the form's fields, the
// HX-Request header) and returns the status and the answer fragment. query is added to
// the URL as it is.
func pressTestMessage(t *testing.T, app *testApp, c *http.Client, form url.Values, query string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, app.URL+"/profile/dingtalk/test"+query, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// matchedUser adds a Confluence user and matches them now, by e-mail against the synced
// directory of profileFixture.
func matchedUser(t *testing.T, app *testApp, username, email string) models.User {
	t.Helper()
	u := app.addConfluenceUser(t, username, email)
	if _, err := app.matcher.MatchUser(context.Background(), u.ID); err != nil {
		t.Fatal(err)
	}
	u = storedUser(t, app, u.ID)
	if u.MatchStatus != models.MatchMatched {
		t.Fatalf("%s is not matched: %s", username, u.MatchStatus)
	}
	return u
}

// testMessageAudit returns the audit details of the test messages sent, oldest first.
func testMessageAudit(t *testing.T, app *testApp) []string {
	t.Helper()
	page, err := app.Store.AuditPage(context.Background(), models.AuditQuery{Action: models.ActionTestMessage})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range slices.Backward(page.Entries) {
		out = append(out, e.Actor+": "+e.Details)
	}
	return out
}

var taskIDShown = regexp.MustCompile(`id="test-message-task-id">(\d+)<`)

// Send test message sends one card, in the language of the person's notifications, to
// exactly their own DingTalk userid, and shows DingTalk's task id.
func TestSendTestMessage(t *testing.T) {
	app, dt := profileFixture(t)
	tests := []struct {
		lang             string
		wantTitle, wantV string
		wantSays         string
	}{
		{"", "Page updated: Test message (", "Version 1", "DingTalk accepted the test message for your account zhangsan."},
		{"zh-Hans", "页面已更新：测试消息（", "第 1 版", "钉钉已接受发给您的账号 zhangsan 的测试消息。"},
	}
	for i, tt := range tests {
		name := tt.lang
		if name == "" {
			name = "the default language"
		}
		t.Run(name, func(t *testing.T) {
			username := fmt.Sprint("zs", i)
			u := matchedUser(t, app, username, "zhang.san@acme.example")
			if tt.lang != "" {
				if err := app.Store.SetUserLocale(context.Background(), u.ID, tt.lang); err != nil {
					t.Fatal(err)
				}
			}
			c, token := app.userSession(t, username, "/profile/dingtalk")
			before := len(dt.Sent())
			status, body := pressTestMessage(t, app, c, url.Values{"_csrf": {token}}, "")
			if status != http.StatusOK || !strings.Contains(body, `id="test-message-sent"`) || !strings.Contains(body, tt.wantSays) {
				t.Fatalf("status %d: %s", status, body)
			}
			sent := dt.Sent()[before:]
			if len(sent) != 1 || !slices.Equal(sent[0].UserIDs, []string{"zhangsan"}) || sent[0].AgentID != 123456 {
				t.Fatalf("DingTalk got %+v, want one message to zhangsan", sent)
			}
			m := taskIDShown.FindStringSubmatch(body)
			if m == nil || m[1] != fmt.Sprint(sent[0].TaskID) {
				t.Errorf("the answer shows task id %v, DingTalk gave %d", m, sent[0].TaskID)
			}
			if !strings.Contains(body, `id="test-message-async"`) {
				t.Errorf("no note that DingTalk delivers later and drops repeats")
			}
			var card struct {
				MsgType    string `json:"msgtype"`
				ActionCard struct {
					Title       string `json:"title"`
					Markdown    string `json:"markdown"`
					SingleTitle string `json:"single_title"`
					SingleURL   string `json:"single_url"`
				} `json:"action_card"`
			}
			if err := json.Unmarshal(sent[0].Msg, &card); err != nil || card.MsgType != "action_card" || len(sent[0].Msg) > dingtalk.MaxMessageBytes {
				t.Fatalf("not an action card (%v): %s", err, sent[0].Msg)
			}
			if !strings.HasPrefix(card.ActionCard.Title, tt.wantTitle) || !strings.Contains(card.ActionCard.Markdown, tt.wantV) ||
				!strings.Contains(card.ActionCard.Markdown, "Display "+username) || !strings.HasSuffix(card.ActionCard.SingleURL, "/profile/dingtalk") ||
				!strings.HasSuffix(card.ActionCard.Title, "UTC)") && !strings.HasSuffix(card.ActionCard.Title, "UTC）") {
				t.Errorf("card %+v", card.ActionCard)
			}
			if got := testMessageAudit(t, app); len(got) == 0 || got[len(got)-1] != fmt.Sprintf("%s: sent to zhangsan: task_id %d", username, sent[0].TaskID) {
				t.Errorf("audit log %q", got)
			}
		})
	}
	// Without JavaScript the form posts normally and the whole tab comes back with the answer.
	matchedUser(t, app, "nojs", "zhang.san@acme.example")
	c, token := app.userSession(t, "nojs", "/profile/dingtalk")
	res, body := post(t, c, app.URL, "/profile/dingtalk/test", url.Values{"_csrf": {token}})
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `id="dingtalk-form"`) || !taskIDShown.MatchString(body) {
		t.Errorf("posted without htmx: status %d: %.3000s", res.StatusCode, body)
	}
}

// Each answer that is not a plain success says what happened in its own words, and
// nothing is sent when there is nobody or nothing to send with.
func TestSendTestMessageAnswers(t *testing.T) {
	app, dt := profileFixture(t)
	tests := []struct {
		name     string
		email    string // "" → a user without a match
		setup    func()
		want     []string
		wantSent int // new messages DingTalk recorded
		audit    string
	}{
		{"DingTalk refuses", "zhang.san@acme.example", func() { dt.InjectError("asyncsend_v2", 60011, 1) },
			[]string{`id="test-message-refused"`, "DingTalk refused the test message.", "DingTalk says: errcode 60011: ding talk error[subcode=60011"},
			0, "refused by DingTalk for zhangsan: errcode 60011"},
		{"the outcome is unknown", "zhang.san@acme.example", func() { dt.InjectFault("asyncsend_v2", dingtalktest.FaultAcceptThenDrop, 1) },
			[]string{`id="test-message-unknown"`, "The outcome is unknown", "Check DingTalk for the message before trying again."},
			1, "outcome unknown for zhangsan"},
		{"no match yet", "", func() {},
			[]string{`id="test-message-unmatched"`, "You have no DingTalk match yet", "Press Save And Sync first."},
			0, "not sent: no DingTalk match"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			username := fmt.Sprint("user", i)
			if tt.email != "" {
				matchedUser(t, app, username, tt.email)
			} else {
				app.addConfluenceUser(t, username, username+"@nowhere.example")
			}
			c, token := app.userSession(t, username, "/profile/dingtalk")
			tt.setup()
			before, calls := len(dt.Sent()), dt.Calls("asyncsend_v2")
			status, body := pressTestMessage(t, app, c, url.Values{"_csrf": {token}}, "")
			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("the answer lacks %q: %s", w, body)
				}
			}
			if strings.Contains(body, `id="test-message-sent"`) {
				t.Errorf("reported as sent: %s", body)
			}
			if got := len(dt.Sent()) - before; got != tt.wantSent {
				t.Errorf("DingTalk recorded %d messages, want %d", got, tt.wantSent)
			}
			if tt.email == "" && dt.Calls("asyncsend_v2") != calls {
				t.Errorf("DingTalk was asked to send for a user without a match")
			}
			if got := testMessageAudit(t, app); len(got) == 0 || !strings.HasPrefix(got[len(got)-1], username+": "+tt.audit) {
				t.Errorf("audit log %q, want %q last", got, tt.audit)
			}
		})
	}

	// Presses in quick succession are held back after a few.
	matchedUser(t, app, "eager", "zhang.san@acme.example")
	c, token := app.userSession(t, "eager", "/profile/dingtalk")
	before := len(dt.Sent())
	var body string
	for range 4 {
		_, body = pressTestMessage(t, app, c, url.Values{"_csrf": {token}}, "")
	}
	if !strings.Contains(body, `id="test-message-too-soon"`) || len(dt.Sent())-before != 3 {
		t.Errorf("the 4th press in a row: %s; DingTalk got %d messages, want 3", body, len(dt.Sent())-before)
	}
}

// Without a DingTalk app the button says so, with a way to the Settings screen for admins.
func TestSendTestMessageUnconfigured(t *testing.T) {
	app := startApp(t)
	app.addConfluenceUser(t, "fred", "fred@acme.example")
	for _, tt := range []struct {
		name     string
		session  func() (*http.Client, string)
		wantLink bool
	}{
		{"a user", func() (*http.Client, string) { return app.userSession(t, "fred", "/profile/dingtalk") }, false},
		{"an admin", func() (*http.Client, string) { return app.adminSession(t, "/profile/dingtalk") }, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, token := tt.session()
			status, body := pressTestMessage(t, app, c, url.Values{"_csrf": {token}}, "")
			if status != http.StatusOK || !strings.Contains(body, `id="test-message-not-configured"`) || !strings.Contains(body, "DingTalk is not configured") {
				t.Fatalf("status %d: %s", status, body)
			}
			if got := strings.Contains(body, `href="/admin/dingtalk/settings"`); got != tt.wantLink {
				t.Errorf("link to Settings shown: %v, want %v", got, tt.wantLink)
			}
		})
	}
	if got := testMessageAudit(t, app); len(got) != 2 || !strings.HasSuffix(got[0], "not sent: DingTalk is not configured") {
		t.Errorf("audit log %q", got)
	}
}

// The message goes to the signed-in person's own userid whatever the request says, needs
// the CSRF token, and is not offered on an admin's read-only view of someone else.
func TestSendTestMessageOnlyToOneself(t *testing.T) {
	app, dt := profileFixture(t)
	zs := matchedUser(t, app, "zs", "zhang.san@acme.example")
	matchedUser(t, app, "bob", "robert@acme.example") // dt-bob

	c, token := app.userSession(t, "bob", "/profile/dingtalk")
	_, page, _ := get(t, c, app.URL, "/profile/dingtalk")
	if !strings.Contains(page, `id="test-message-send"`) || !strings.Contains(page, `action="/profile/dingtalk/test"`) {
		t.Fatalf("the own tab has no Send test message button")
	}

	// No CSRF token, or a wrong one: refused, nothing sent.
	for _, form := range []url.Values{{}, {"_csrf": {"forged"}}} {
		if status, _ := pressTestMessage(t, app, c, form, ""); status != http.StatusForbidden {
			t.Errorf("CSRF token %q: status %d, want 403", form.Get("_csrf"), status)
		}
	}
	if n := dt.Calls("asyncsend_v2"); n != 0 {
		t.Fatalf("DingTalk got %d sends without a CSRF token", n)
	}

	// zs's id and userid under every name a handler might read, in the form and the query.
	id := fmt.Sprint(zs.ID)
	form := url.Values{"_csrf": {token}, "id": {id}, "userId": {id}, "user_id": {id}, "userID": {id},
		"userid": {"zhangsan"}, "dingtalkUserId": {"zhangsan"}, "userid_list": {"zhangsan"}}
	status, body := pressTestMessage(t, app, c, form, "?id="+id+"&userid=zhangsan")
	if status != http.StatusOK || !strings.Contains(body, `id="test-message-sent"`) {
		t.Fatalf("status %d: %s", status, body)
	}
	sent := dt.Sent()
	if len(sent) != 1 || !slices.Equal(sent[0].UserIDs, []string{"dt-bob"}) {
		t.Fatalf("DingTalk got %+v, want one message to bob's own dt-bob", sent)
	}

	// An admin looking at zs's tab sees no button, and there is no route to press one there.
	admin, adminToken := app.adminSession(t, "/admin/dingtalk/members")
	_, view, _ := get(t, admin, app.URL, fmt.Sprintf("/admin/users/%d/dingtalk", zs.ID))
	if strings.Contains(view, `id="test-message`) || strings.Contains(view, "/profile/dingtalk/test") {
		t.Errorf("the read-only view offers Send test message")
	}
	res, _ := post(t, admin, app.URL, fmt.Sprintf("/admin/users/%d/dingtalk/test", zs.ID), url.Values{"_csrf": {adminToken}})
	if res.StatusCode != http.StatusNotFound && res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST to a test route under another user: status %d", res.StatusCode)
	}
	if n := len(dt.Sent()); n != 1 {
		t.Errorf("DingTalk has %d messages, want still 1", n)
	}
}
