package main

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dingfluence/dingfluence/dingtalk"
	"github.com/dingfluence/dingfluence/dingtalk/dingtalktest"
	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/models/modelstest"
	"github.com/dingfluence/dingfluence/secretbox"
)

// A sync button pressed before any DingTalk app is configured says so, with the way to
// Settings, and sends DingTalk nothing.
func TestSyncWithoutSettingsSaysSo(t *testing.T) {
	dt := dingtalktest.Start(t, dingtalktest.Options{})
	app := startApp(t)
	// Endpoints saved, credentials not: a request, had one left, would reach dt.
	set := models.DefaultSettings()
	e := dingtalk.EndpointsAt(dt.URL())
	set.TokenURL, set.SubDepartmentURL, set.DepartmentDetailURL, set.UserListURL = e.Token, e.ListSubDepartments, e.GetDepartment, e.ListUsers
	if err := app.Store.SaveSettings(context.Background(), set, "test"); err != nil {
		t.Fatal(err)
	}
	admin, token := app.adminSession(t, "/admin/dingtalk/departments")

	res, body := post(t, admin, app.URL, "/admin/dingtalk/departments/1/sync", url.Values{"kind": {"full"}, "_csrf": {token}})
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "DingTalk is not configured") ||
		!strings.Contains(body, `href="/admin/dingtalk/settings"`) {
		t.Fatalf("press without settings: status %d, body %.500s", res.StatusCode, body)
	}
	if n := dt.TotalCalls(); n != 0 {
		t.Errorf("%d requests reached DingTalk", n)
	}
}

// insertRunningRun stores a run that a server began and then stopped heartbeating for.
func insertRunningRun(t *testing.T, store *models.Store, kind models.SyncKind, dept int64, heartbeat time.Time) models.SyncRun {
	t.Helper()
	run, started, err := store.BeginSyncRun(context.Background(), models.SyncRun{
		Kind: kind, DeptID: dept, Trigger: models.SyncTriggerUser, Actor: "admin",
		StartedAt: heartbeat.Add(-time.Minute), HeartbeatAt: heartbeat,
	}, time.Time{})
	if err != nil || !started {
		t.Fatalf("insert running run: %v, %v", started, err)
	}
	return run
}

// A server killed during a sync leaves its run "running". The restarted server marks
// it interrupted; one whose heartbeat goes stale while the server runs shows as
// interrupted at once, stops polling, and does not hold up the next press.
func TestCrashedSyncShowsAsInterrupted(t *testing.T) {
	dsn := modelstest.SQLiteDSN(t)
	db, err := models.Open(dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.New(bytes.Repeat([]byte{1}, secretbox.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	before := insertRunningRun(t, models.NewStore(db, box), models.SyncKindDepartmentUsers, 2, time.Now().Add(-10*time.Minute))
	sqlDB, _ := db.DB()
	_ = sqlDB.Close()

	dt := orgFixture(t)
	app := startApp(t, func(c *Config) { c.DB = dsn; c.DataDir = filepath.Dir(strings.TrimPrefix(dsn, "sqlite://")) })
	configureDingTalk(t, app, dt)
	recovered, err := app.Store.SyncRun(context.Background(), before.ID)
	if err != nil || recovered.Status != models.SyncStatusInterrupted || recovered.ActiveScope != nil {
		t.Errorf("run left by the killed server = %+v, %v; want interrupted at start", recovered, err)
	}

	// Another replica's run, whose heartbeat stopped three minutes ago.
	stale := insertRunningRun(t, app.Store, models.SyncKindFull, 1, time.Now().Add(-3*time.Minute))
	admin, token := app.adminSession(t, "/admin/dingtalk/departments")
	_, page, _ := get(t, admin, app.URL, "/admin/dingtalk/departments")
	panel := regexp.MustCompile(`(?s)<div[^>]*id="sync-run-` + itoa(stale.ID) + `"[^>]*>`).FindString(page)
	if !strings.Contains(panel, `data-status="interrupted"`) || strings.Contains(panel, "hx-get") {
		t.Errorf("panel of the dead run = %q; want interrupted, not polling", panel)
	}
	if !strings.Contains(page, "the server stopped") {
		t.Errorf("the page does not say why the run stopped")
	}
	res, err := admin.Get(app.URL + "/admin/dingtalk/syncs/" + itoa(stale.ID))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if !strings.Contains(res.Header.Get("HX-Trigger"), `"sync-finished":{"dept":1}`) {
		t.Errorf("polling the dead run did not end the polling (HX-Trigger %q)", res.Header.Get("HX-Trigger"))
	}

	body := startAndWait(t, admin, app, token, "full")
	if !strings.Contains(body, `data-status="succeeded"`) {
		t.Fatalf("full sync after the crash: %.500s", body)
	}
}

func itoa(id uint) string { return strconv.FormatUint(uint64(id), 10) }

// The Members screen tells apart who left the organisation from who has not yet
// activated DingTalk.
func TestMembersShowWhetherActivatedOrLeft(t *testing.T) {
	app := startApp(t)
	users := []models.DingTalkUser{
		{UserID: "u-active", Name: "Ann", Active: true, Activated: true},
		{UserID: "u-new", Name: "Ben", Active: true, Activated: false},
		{UserID: "u-gone", Name: "Cat", Active: false, Activated: true},
	}
	if _, err := app.Store.UpsertDingTalkUsers(context.Background(), users, time.Now()); err != nil {
		t.Fatal(err)
	}
	admin, _ := app.adminSession(t, "/admin/dingtalk/members")
	_, body, _ := get(t, admin, app.URL, "/admin/dingtalk/members")
	want := map[string]string{"u-active": "Active", "u-new": "Not activated", "u-gone": "Left DingTalk"}
	for id, label := range want {
		row := regexp.MustCompile(`(?s)<tr data-userid="` + id + `">.*?</tr>`).FindString(body)
		status := regexp.MustCompile(`(?s)data-status="([a-z_]+)">\s*<span[^>]*>([^<]+)</span>`).FindStringSubmatch(row)
		if status == nil || status[2] != label {
			t.Errorf("row of %s shows %v, want %q", id, status, label)
		}
	}
	if !strings.Contains(body, ">Status</th>") {
		t.Errorf("the members table has no Status column")
	}
}
