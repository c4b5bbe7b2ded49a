package main

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dingfluence/dingfluence/dingtalk/dingtalktest"
	"github.com/dingfluence/dingfluence/models"
)

// Each text field of the settings form that is too long for its MySQL column
// or not UTF-8 is refused over HTTP with its own message, nothing is saved,
// and the form comes back with what was typed.
func TestSettingsFormRefusesOverlongAndInvalidText(t *testing.T) {
	app := startApp(t)
	admin, token := app.adminSession(t, "/admin/dingtalk/settings")
	base := "https://oapi.dingtalk.com/"
	longURL := base + strings.Repeat("p", models.SettingsURLMax+1-len(base))
	tests := []struct {
		field, value, wantMsg string
		echoed                bool // the value comes back in the form (never the secret)
	}{
		{"appKey", strings.Repeat("k", 100_000), "at most 255 characters", true},
		{"appKey", "ding\xff", "not valid UTF-8", false},
		{"appSecret", strings.Repeat("s", models.SettingsAppSecretMaxBytes+1), "at most 722 bytes", false},
		{"appSecret", "se\xffcret", "not valid UTF-8", false},
		{"agentId", strings.Repeat("9", 100_000), "positive whole number", true},
		{"syncIntervalMinutes", strings.Repeat("1", 100_000), "whole number of minutes", true},
		{"coalesceMinutes", strings.Repeat("1", 100_000), "whole number of minutes", true},
	}
	for _, f := range []string{"tokenUrl", "sendMessageUrl", "subDepartmentUrl", "departmentDetailUrl", "departmentUsersUrl", "userProfileUrl", "userByMobileUrl", "userListUrl"} {
		tests = append(tests,
			struct {
				field, value, wantMsg string
				echoed                bool
			}{f, longURL, "at most 500 characters", true},
			struct {
				field, value, wantMsg string
				echoed                bool
			}{f, base + "\xff", "not valid UTF-8", false},
		)
	}
	for _, tt := range tests {
		t.Run(tt.field+" "+tt.wantMsg, func(t *testing.T) {
			form := validSettingsForm("https://oapi.dingtalk.com")
			form.Set("_csrf", token)
			form.Set("appKey", "key-before-"+tt.field)
			form.Set(tt.field, tt.value)
			res, body := post(t, admin, app.URL, "/admin/dingtalk/settings", form)
			if res.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", res.StatusCode)
			}
			errDiv := `id="` + tt.field + `-error">`
			i := strings.Index(body, errDiv)
			if i < 0 || !strings.Contains(html.UnescapeString(body[i:min(len(body), i+300)]), tt.wantMsg) {
				t.Fatalf("no %s error saying %q", tt.field, tt.wantMsg)
			}
			if tt.echoed && !strings.Contains(body, `value="`+tt.value+`"`) {
				t.Fatalf("%s does not come back as typed", tt.field)
			}
			if tt.field != "appKey" && !strings.Contains(body, `value="key-before-`+tt.field+`"`) {
				t.Fatal("the other fields are lost")
			}
			if tt.field == "appSecret" && strings.Contains(body, tt.value) {
				t.Fatal("the typed secret is echoed into the page")
			}
			set, err := app.Store.LoadSettings(context.Background())
			if err != nil || set.AppKey == form.Get("appKey") {
				t.Fatalf("settings were saved: %+v, %v", set, err)
			}
		})
	}
}

// Test connection with appSecret left empty sends the stored secret only to
// the saved Get Token URL's host; for another one the appSecret field says to
// type it. A network failure is told apart from DingTalk's errcodes.
func TestTestConnectionOverHTTP(t *testing.T) {
	dt := dingtalktest.Start(t, dingtalktest.Options{AppKey: "ding-app-key", AppSecret: "ding-app-secret", AgentID: 123456})
	var gotSecret atomic.Bool
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotSecret.Store(gotSecret.Load() || strings.Contains(r.URL.RawQuery, "ding-app-secret"))
		_, _ = w.Write([]byte(`{"errcode":0,"access_token":"t","expires_in":7200}`))
	}))
	defer other.Close()
	refused := httptest.NewServer(http.NotFoundHandler())
	refused.Close()

	app := startApp(t)
	configureDingTalk(t, app, dt)
	admin, token := app.adminSession(t, "/admin/dingtalk/settings")
	testWith := func(tokenURL, secret string) string {
		t.Helper()
		form := validSettingsForm(dt.URL())
		form.Set("_csrf", token)
		form.Set("tokenUrl", tokenURL)
		form.Set("appSecret", secret)
		res, body := post(t, admin, app.URL, "/admin/dingtalk/settings/test", form)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("status %d", res.StatusCode)
		}
		return body
	}

	if body := testWith(dt.Endpoints().Token, ""); !strings.Contains(body, "test-connection-ok") || !strings.Contains(body, `id="appSecret-test-error" hx-swap-oob="true"></div>`) {
		t.Fatalf("saved host with the stored secret: %.500s", body)
	}
	body := testWith(other.URL+"/gettoken", "")
	if gotSecret.Load() {
		t.Fatal("the stored secret was sent to a host it was not saved for")
	}
	if !strings.Contains(body, `<div id="appSecret-test-error" class="error" hx-swap-oob="true">`) || !strings.Contains(body, "type the appSecret") {
		t.Fatalf("another host: no appSecret field error: %.500s", body)
	}

	body = testWith(refused.URL+"/gettoken", "typed-secret")
	if !strings.Contains(body, "Could not reach DingTalk. The network said: ") || strings.Contains(body, "errcode") {
		t.Fatalf("refused connection: %.500s", body)
	}
	if body := testWith(dt.Endpoints().Token, "wrong-secret"); !strings.Contains(body, "DingTalk refused the request.") || !strings.Contains(body, "40096") {
		t.Fatalf("wrong secret: %.500s", body)
	}
	// In Chinese the prefix is translated too.
	form := validSettingsForm(dt.URL())
	form.Set("_csrf", token)
	form.Set("tokenUrl", refused.URL+"/gettoken")
	req, _ := http.NewRequest(http.MethodPost, app.URL+"/admin/dingtalk/settings/test", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept-Language", "zh-CN")
	res, err := admin.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	zh, _ := io.ReadAll(res.Body)
	if !strings.Contains(string(zh), "无法连接钉钉。网络错误（原文）：") {
		t.Fatalf("Chinese unreachable message missing: %.500s", zh)
	}
}
