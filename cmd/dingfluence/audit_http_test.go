package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/dingfluence/dingfluence/dingtalk/dingtalktest"
	"github.com/dingfluence/dingfluence/models"
)

// The Audit log screen is for admins only.
func TestAuditLogIsForAdmins(t *testing.T) {
	app := startApp(t)
	app.addUser(t, "alice", "alice-password-1", false)
	member := newClient(t)
	signIn(t, member, app.URL, "alice", "alice-password-1")
	if status, _, _ := get(t, member, app.URL, "/admin/audit"); status != http.StatusForbidden {
		t.Fatalf("non-admin: status %d, want 403", status)
	}
	if status, _, _ := get(t, newClient(t), app.URL, "/admin/audit"); status != http.StatusSeeOther {
		t.Fatalf("anonymous: status %d, want 303 to sign in", status)
	}
}

// Sign-ins, failed sign-ins, settings saves and connection tests each leave
// an entry on the Audit log screen, which filters by action and never shows
// a secret.
func TestAuditLogRecordsWhatHappened(t *testing.T) {
	dt := dingtalktest.Start(t, dingtalktest.Options{AppKey: "ding-app-key", AppSecret: "ding-app-secret", AgentID: 123456})
	app := startApp(t)

	// A failed sign-in, then the admin signs in, saves and tests.
	failed := newClient(t)
	_, _, token := get(t, failed, app.URL, "/login")
	post(t, failed, app.URL, "/login", url.Values{"username": {"mallory"}, "password": {"guess"}, "_csrf": {token}})
	admin, token := app.adminSession(t, "/admin/dingtalk/settings")
	form := validSettingsForm(dt.URL())
	form.Set("_csrf", token)
	if res, _ := post(t, admin, app.URL, "/admin/dingtalk/settings", form); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: status %d", res.StatusCode)
	}
	if res, body := post(t, admin, app.URL, "/admin/dingtalk/settings/test", form); !strings.Contains(body, "test-connection-ok") {
		t.Fatalf("test connection: status %d", res.StatusCode)
	}

	status, body, _ := get(t, admin, app.URL, "/admin/audit")
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	for _, want := range []string{
		`<tr data-action="auth.signin_failed">`, `<bdi>mallory</bdi>`, `<bdi>127.0.0.1</bdi>`,
		`<tr data-action="auth.signin">`, `method: password`,
		`<tr data-action="settings.update">`, `changed: agentId, appKey, appSecret`,
		`<tr data-action="settings.test">`, `succeeded (127.0.0.1:`,
		`id="nav-audit"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("audit log lacks %s", want)
		}
	}
	if strings.Contains(body, "ding-app-secret") || strings.Contains(body, "guess") {
		t.Fatal("the audit log shows a secret or a password")
	}
	// Newest first: the test, the save, the sign-in, the failed sign-in.
	order := []string{"settings.test", "settings.update", "auth.signin", "auth.signin_failed"}
	last := -1
	for _, a := range order {
		i := strings.Index(body, `data-action="`+a+`"`)
		if i < last {
			t.Fatalf("%s is not below the newer entries", a)
		}
		last = i
	}

	_, filtered, _ := get(t, admin, app.URL, "/admin/audit?action=auth.signin_failed")
	if strings.Count(filtered, "<tr data-action=") != 1 || !strings.Contains(filtered, `data-action="auth.signin_failed"`) || !strings.Contains(filtered, `<option value="auth.signin_failed" selected>`) {
		t.Fatalf("filtered page: %.600s", filtered)
	}
	if status, _, _ := get(t, admin, app.URL, "/admin/audit?action=drop.tables"); status != http.StatusBadRequest {
		t.Fatalf("unknown action: status %d, want 400", status)
	}
}

// The screen pages 50 entries at a time, newest first.
func TestAuditLogPages(t *testing.T) {
	app := startApp(t)
	for i := range 120 {
		if err := app.Store.Audit(t.Context(), models.AuditEntry{Actor: fmt.Sprintf("actor-%03d", i), Action: models.ActionSyncStart}); err != nil {
			t.Fatal(err)
		}
	}
	admin := newClient(t)
	signIn(t, admin, app.URL, "admin", testAdminPassword) // the 121st entry
	tests := []struct {
		path                string
		rows                int
		first, absent, next string
	}{
		{"/admin/audit", 50, "<bdi>admin</bdi>", "actor-070", `href="/admin/audit?page=2"`},
		{"/admin/audit?page=3", 21, "actor-020", "actor-021", ""},
		{"/admin/audit?action=sync.start&page=2", 50, "actor-069", "actor-070", `href="/admin/audit?action=sync.start&amp;page=3"`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			status, body, _ := get(t, admin, app.URL, tt.path)
			if status != http.StatusOK {
				t.Fatalf("status %d", status)
			}
			if n := strings.Count(body, "<tr data-action="); n != tt.rows {
				t.Errorf("%d rows, want %d", n, tt.rows)
			}
			if i := strings.Index(body, "<tr data-action="); i < 0 || !strings.Contains(body[i:i+400], tt.first) {
				t.Errorf("first row is not %s", tt.first)
			}
			if strings.Contains(body, tt.absent+"<") {
				t.Errorf("%s is on this page", tt.absent)
			}
			if tt.next != "" && !strings.Contains(body, tt.next) {
				t.Errorf("no link %s", tt.next)
			}
		})
	}
}
