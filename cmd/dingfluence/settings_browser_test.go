package main

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/dingfluence/dingfluence/dingtalk/dingtalktest"
)

func TestSettingsScreenInBrowser(t *testing.T) {
	dt := dingtalktest.Start(t, dingtalktest.Options{AppKey: "ding-app-key", AppSecret: "ding-app-secret", AgentID: 123456})
	app := startApp(t)
	ctx := newBrowser(t)

	browserSignIn(t, ctx, app.URL, "/admin/dingtalk/settings", "admin", testAdminPassword)

	e := dt.Endpoints()
	fields := map[string]string{
		"#agentId":             "123456",
		"#appKey":              "ding-app-key",
		"#appSecret":           "ding-app-secret",
		"#tokenUrl":            e.Token,
		"#sendMessageUrl":      e.SendMessage,
		"#subDepartmentUrl":    e.ListSubDepartments,
		"#departmentDetailUrl": e.GetDepartment,
		"#departmentUsersUrl":  e.ListUserIDs,
		"#userProfileUrl":      e.GetUser,
		"#userByMobileUrl":     e.GetUserByMobile,
		"#userListUrl":         e.ListUsers,
		"#syncIntervalMinutes": "30",
	}
	var fill []chromedp.Action[chromedp.Void]
	for sel, val := range fields {
		fill = append(fill, chromedp.SetValue(css(sel), val))
	}
	fill = append(fill,
		chromedp.Click(css(`#matchingMethodJobNumber`)),
		chromedp.Click(css(`#enabledYes`)),
		chromedp.Click(css(`#settings-save`)),
		chromedp.WaitVisible(css(`#flash`)),
	)
	do(t, ctx, "fill and save the settings form", fill...)

	// Reload: every value is back, the secret is not.
	do(t, ctx, "reload", chromedp.Reload(), chromedp.WaitVisible(css(`#settings-form`)))
	agentID := read(t, ctx, "agentId", chromedp.Value(css(`#agentId`)))
	appKey := read(t, ctx, "appKey", chromedp.Value(css(`#appKey`)))
	secret := read(t, ctx, "appSecret", chromedp.Value(css(`#appSecret`)))
	tokenURL := read(t, ctx, "tokenUrl", chromedp.Value(css(`#tokenUrl`)))
	interval := read(t, ctx, "sync interval", chromedp.Value(css(`#syncIntervalMinutes`)))
	secretNote := read(t, ctx, "secret note", chromedp.Text(css(`#appSecret-description`)))
	jobNumberChecked := read(t, ctx, "job number radio", chromedp.JavascriptAttribute[bool](css(`#matchingMethodJobNumber`), "checked"))
	enabledChecked := read(t, ctx, "enabled radio", chromedp.JavascriptAttribute[bool](css(`#enabledYes`), "checked"))
	if agentID != "123456" || appKey != "ding-app-key" || tokenURL != e.Token || interval != "30" {
		t.Fatalf("after reload agentId=%q appKey=%q tokenUrl=%q interval=%q", agentID, appKey, tokenURL, interval)
	}
	if secret != "" || !strings.Contains(secretNote, "A secret is stored") {
		t.Fatalf("secret field = %q, note = %q; want empty field and a 'stored' note", secret, secretNote)
	}
	if !jobNumberChecked || !enabledChecked {
		t.Fatalf("radios: job number %v, enabled %v", jobNumberChecked, enabledChecked)
	}
	if html := read(t, ctx, "page source", chromedp.OuterHTML(css(`html`))); strings.Contains(html, "ding-app-secret") {
		t.Fatal("the page contains the stored secret")
	}
	screenshot(t, ctx, "settings")

	// Test connection with the stored secret against the DingTalk double.
	do(t, ctx, "test connection",
		chromedp.Click(css(`#settings-test`)),
		chromedp.WaitVisible(css(`#test-connection-ok`)),
	)
	if result := read(t, ctx, "result", chromedp.Text(css(`#test-connection-ok`))); !strings.Contains(result, "Connected") {
		t.Fatalf("test connection said %q", result)
	}
	if dt.TokenIssued() != 1 {
		t.Fatalf("DingTalk issued %d tokens, want 1", dt.TokenIssued())
	}

	// A wrong secret shows DingTalk's errcode and errmsg.
	do(t, ctx, "test connection with a wrong secret",
		chromedp.SetValue(css(`#appSecret`), "wrong-secret"),
		chromedp.Click(css(`#settings-test`)),
		chromedp.WaitVisible(css(`#test-connection-failed`)),
	)
	if result := read(t, ctx, "result", chromedp.Text(css(`#test-connection-failed`))); !strings.Contains(result, "40096") {
		t.Fatalf("failed test connection said %q, want errcode 40096", result)
	}

	// Inline validation.
	do(t, ctx, "submit invalid values",
		chromedp.SetValue(css(`#agentId`), "abc"),
		chromedp.SetValue(css(`#sendMessageUrl`), "oapi.dingtalk.com/send"),
		chromedp.Click(css(`#settings-save`)),
		chromedp.WaitVisible(css(`#agentId-error`)),
	)
	agentErr := read(t, ctx, "agentId error", chromedp.Text(css(`#agentId-error`)))
	urlErr := read(t, ctx, "url error", chromedp.Text(css(`#sendMessageUrl-error`)))
	if !strings.Contains(agentErr, "whole number") || !strings.Contains(urlErr, "absolute") {
		t.Fatalf("validation messages: agentId %q, url %q", agentErr, urlErr)
	}

	// The same page in 简体中文, chosen with the language picker.
	do(t, ctx, "switch to Chinese",
		chromedp.Navigate(app.URL+"/admin/dingtalk/settings"),
		pageReady(),
		chromedp.WaitVisible(css(`#language-form`)),
		chromedp.SetValue(css(`#language`), "zh-Hans"),
		chromedp.Click(css(`#language-apply`)),
		chromedp.WaitVisible(css(`html[lang="zh-Hans"] #settings-form`)),
	)
	title := read(t, ctx, "title", chromedp.Text(css(`#main h1`)))
	tokenLabel := read(t, ctx, "token label", chromedp.Text(css(`label[for="tokenUrl"]`)))
	if title != "钉钉设置" || tokenLabel != "获取 Token 地址" {
		t.Fatalf("Chinese page: title %q, token label %q", title, tokenLabel)
	}
	screenshot(t, ctx, "settings-zh")
}

// The user menu in the header leads to the profile, and its Log out ends
// the session.
func TestUserMenuInBrowser(t *testing.T) {
	app := startApp(t)
	ctx := newBrowser(t)
	browserSignIn(t, ctx, app.URL, "/admin/dingtalk/settings", "admin", testAdminPassword)

	do(t, ctx, "open the user menu and go to the profile",
		chromedp.Click(css(`#user-menu-trigger`)),
		chromedp.WaitVisible(css(`#user-menu-profile`)),
		chromedp.Click(css(`#user-menu-profile a`)),
		chromedp.WaitVisible(css(`#profile-details`)),
	)
	if title := read(t, ctx, "title", chromedp.Text(css(`#main h1`))); title != "Profile" {
		t.Fatalf("profile page title %q", title)
	}
	do(t, ctx, "log out from the user menu",
		chromedp.Click(css(`#user-menu-trigger`)),
		chromedp.WaitVisible(css(`#logout`)),
		chromedp.Click(css(`#logout`)),
		chromedp.WaitVisible(css(`#login-form`)),
	)
	if msg := read(t, ctx, "log-out message", chromedp.Text(css(`#flash`))); msg != "You have been logged out." {
		t.Fatalf("after log out the log-in page says %q", msg)
	}
	do(t, ctx, "signed out",
		chromedp.Navigate(app.URL+"/admin/dingtalk/settings"),
		chromedp.WaitVisible(css(`#login-form`)),
	)
}
