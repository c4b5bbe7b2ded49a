package orgsync_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/dingfluence/dingfluence/dingtalk"
	"github.com/dingfluence/dingfluence/dingtalk/dingtalktest"
	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/models/modelstest"
	"github.com/dingfluence/dingfluence/orgsync"
	"github.com/dingfluence/dingfluence/settings"
)

// buildWideOrg fills the simulator with 300 departments, 1 to 300 (1 is the root):
// 20 divisions under the root and 279 teams spread under them, one user in each.
func buildWideOrg(srv *dingtalktest.Server) map[int64]deptRow {
	want := map[int64]deptRow{1: {0, dingtalktest.DefaultCompanyName}}
	for id := int64(2); id <= 300; id++ {
		parent := int64(1)
		if id > 21 {
			parent = 2 + (id-22)%20
		}
		name := fmt.Sprintf("Dept %d", id)
		srv.AddDepartment(dingtalktest.Department{ID: id, ParentID: parent, Name: name})
		want[id] = deptRow{parent, name}
	}
	for id := int64(1); id <= 300; id++ {
		srv.AddUser(dingtalktest.User{UserID: fmt.Sprintf("u%03d", id), Name: fmt.Sprintf("User %03d", id), Active: true, DeptIDs: []int64{id}})
	}
	return want
}

// callsPerWideSync is what a full sync of buildWideOrg calls when every call succeeds:
// department.get of the root, then listsub and user/list of each department.
const callsPerWideSync = 1 + 300 + 300

// With DingTalk failing 30% of calls, now and then a call fails all five of the
// client's attempts. That department is retried at the end of the walk, so each full
// sync still succeeds with the directory exactly as DingTalk has it.
func TestFullSyncSurvivesTransientFailures(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		// One worker makes the order of calls, and so which of them fail, the same each time.
		f := newFixture(t, db, setup{options: orgsync.Options{Concurrency: 1}})
		want := buildWideOrg(f.srv)
		// With this seed each of the three syncs has a call or two that fail all five
		// attempts: without the later rounds every one of them would fail.
		f.srv.FailTransiently("", 0.3, 7)

		for i := range 3 {
			run := f.run(t, models.SyncKindFull, 1)
			if got := departments(t, db); !maps.Equal(got, want) {
				t.Fatalf("full sync %d: departments differ from DingTalk's: %d stored, want %d", i, len(got), len(want))
			}
			stored := users(t, db)
			if len(stored) != 300 || run.UsersDeactivated != 0 || run.DepartmentsUnreadable != 0 {
				t.Fatalf("full sync %d: %d users, %d deactivated, %d unreadable; want 300, 0, 0", i, len(stored), run.UsersDeactivated, run.DepartmentsUnreadable)
			}
			for id, u := range stored {
				if !u.Active {
					t.Fatalf("full sync %d: %s inactive", i, id)
				}
			}
			if got := memberships(t, db); len(got) != 300 {
				t.Fatalf("full sync %d: memberships in %d departments, want 300", i, len(got))
			}
			// More calls than the sync needs: some were made again in a later round,
			// which is what this test is about.
			t.Logf("full sync %d: %d calls, %d made again in a later round", i, run.APICalls, run.APICalls-callsPerWideSync)
			if run.APICalls <= callsPerWideSync {
				t.Errorf("full sync %d made %d calls: no call failed all the client's attempts, so nothing was retried", i, run.APICalls)
			}
		}
	})
}

// A department DingTalk keeps refusing does not sink the sync: everything else is
// written, the run says which department it could not read, and since the walk was
// incomplete nobody is deactivated and nothing below that department is removed.
func TestStubbornDepartmentLeavesTheRunIncomplete(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		f := newFixture(t, db, setup{})
		buildOrg(f.srv)
		f.run(t, models.SyncKindFull, 1)
		// Since then zed left the company, and a team below North was deleted.
		if _, err := f.store.UpsertDingTalkUsers(ctx, []models.DingTalkUser{{UserID: "zed", Name: "Zed", Active: true}}, t0); err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.UpsertDepartments(ctx, []models.Department{{DeptID: 60, ParentID: 6, Name: "North-East"}}, t0); err != nil {
			t.Fatal(err)
		}
		f.srv.RenameDepartment(4, "Platform")
		f.srv.FailDepartment(6, -1) // North: DingTalk busy, every time

		run, err := f.runToEnd(t, models.SyncKindFull, 1)
		if err != nil {
			t.Fatal(err)
		}
		if run.Status != models.SyncStatusIncomplete || run.DepartmentsUnreadable != 1 || run.Errcode != -1 ||
			!strings.Contains(run.Error, "North (6)") || !strings.Contains(run.Error, "after 4 attempts") {
			t.Errorf("run = %s, %d unreadable, errcode %d, %q; want incomplete naming North (6)", run.Status, run.DepartmentsUnreadable, run.Errcode, run.Error)
		}
		stored, _ := f.store.SyncRun(ctx, run.ID)
		if stored.Status != models.SyncStatusIncomplete || stored.DepartmentsUnreadable != 1 || stored.Error != run.Error || stored.ActiveScope != nil {
			t.Errorf("stored run = %+v", stored)
		}
		if got := departments(t, db)[4]; got.name != "Platform" {
			t.Errorf("Backend after the sync = %+v; the readable departments must be synced", got)
		}
		if _, ok := departments(t, db)[60]; !ok {
			t.Errorf("North-East was removed although North's listing was never read")
		}
		if !users(t, db)["zed"].Active || run.UsersDeactivated != 0 {
			t.Errorf("zed deactivated by an incomplete full sync (%d deactivated)", run.UsersDeactivated)
		}
		// The department's DingTalk calls: four rounds of the client's five attempts each,
		// for its listing and for its members.
		if got := f.srv.Calls("v2/department/listsub"); got < 4*5 {
			t.Errorf("listsub was called %d times; North's listing alone should take 20", got)
		}

		f.srv.HealDepartment(6)
		run = f.run(t, models.SyncKindFull, 1)
		if run.UsersDeactivated != 1 || users(t, db)["zed"].Active {
			t.Errorf("complete full sync: %d deactivated, zed active %v; want zed deactivated", run.UsersDeactivated, users(t, db)["zed"].Active)
		}
		if _, ok := departments(t, db)[60]; ok {
			t.Errorf("North-East still stored after a complete walk")
		}
	})
}

// When DingTalk is really down the run fails rather than calling itself incomplete.
func TestDingTalkDownFailsTheRun(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		f := newFixture(t, db, setup{})
		buildOrg(f.srv)
		f.run(t, models.SyncKindFull, 1)
		f.srv.FailTransiently("v2/department/listsub", 1, 1)
		f.srv.FailTransiently("v2/user/list", 1, 1)

		run, err := f.runToEnd(t, models.SyncKindFull, 1)
		if err != nil {
			t.Fatal(err)
		}
		if run.Status != models.SyncStatusFailed || run.Errcode != -1 || !strings.Contains(run.Error, "系统繁忙") {
			t.Errorf("run = %s, errcode %d, %q; want failed with DingTalk's -1", run.Status, run.Errcode, run.Error)
		}
		if run.UsersDeactivated != 0 || len(departments(t, db)) != len(allDepartments) {
			t.Errorf("a failed sync removed %d departments and deactivated %d users", len(allDepartments)-len(departments(t, db)), run.UsersDeactivated)
		}
	})
}

// A one-department sync whose one call fails all the client's attempts tries again
// after a pause instead of failing.
func TestDepartmentSyncRetriesAfterAPause(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		f := newFixture(t, db, setup{})
		buildOrg(f.srv)
		f.srv.InjectError("v2/user/list", -1, 5) // the client's five attempts at the first page
		run := f.run(t, models.SyncKindDepartmentUsers, 5)
		if run.UsersSeen != 251 || run.APICalls != 4 || f.srv.Calls("v2/user/list") != 5+3 {
			t.Errorf("run saw %d users in %d calls (%d requests); want 251 in 4 calls (8 requests)",
				run.UsersSeen, run.APICalls, f.srv.Calls("v2/user/list"))
		}
		if !run.FinishedAt.After(run.StartedAt) {
			t.Errorf("the run took no time on the clock: it did not pause before trying again")
		}
	})
}

// After a crash, the runs the dead server left running show as interrupted as soon as
// their heartbeat is stale, are marked so when a server starts, and do not hold up the
// next sync.
func TestCrashedRunsAreInterrupted(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		f := newFixture(t, db, setup{})
		buildOrg(f.srv)
		begin := func(kind models.SyncKind, dept int64, heartbeat time.Time) models.SyncRun {
			r, started, err := f.store.BeginSyncRun(ctx, models.SyncRun{
				Kind: kind, DeptID: dept, Trigger: models.SyncTriggerUser, Actor: "admin",
				StartedAt: heartbeat.Add(-time.Minute), HeartbeatAt: heartbeat,
			}, time.Time{})
			if err != nil || !started {
				t.Fatalf("BeginSyncRun = %v, %v", started, err)
			}
			return r
		}
		now := f.clock.Now()
		dead := begin(models.SyncKindDepartmentUsers, 2, now.Add(-3*time.Minute))
		alive := begin(models.SyncKindDepartmentUsers, 99, now.Add(-30*time.Second)) // another replica's

		// The screen's view: the dead run is interrupted already, before any write.
		got, err := f.svc.SyncRun(ctx, dead.ID)
		if err != nil || got.Status != models.SyncStatusInterrupted || got.Running() || got.Error != models.SyncErrorCrashed {
			t.Errorf("SyncRun(dead) = %s %q, %v; want interrupted", got.Status, got.Error, err)
		}
		running, err := f.svc.RunningSyncRuns(ctx)
		if err != nil || len(running) != 2 {
			t.Fatalf("RunningSyncRuns = %d, %v", len(running), err)
		}
		for _, r := range running {
			if want := r.ID == alive.ID; r.Running() != want {
				t.Errorf("run %d listed with status %s", r.ID, r.Status)
			}
		}
		recent, _ := f.svc.RecentSyncRuns(ctx, 10)
		for _, r := range recent {
			if r.ID == dead.ID && r.Status != models.SyncStatusInterrupted {
				t.Errorf("recent list shows the dead run as %s", r.Status)
			}
		}

		// A server starting marks it so; the live one is left alone.
		if err := f.svc.Recover(ctx); err != nil {
			t.Fatal(err)
		}
		stored, _ := f.store.SyncRun(ctx, dead.ID)
		if stored.Status != models.SyncStatusInterrupted || stored.ActiveScope != nil || stored.FinishedAt == nil {
			t.Errorf("dead run after Recover = %+v", stored)
		}
		if r, _ := f.store.SyncRun(ctx, alive.ID); !r.Running() {
			t.Errorf("live run after Recover = %s", r.Status)
		}

		// Once the live one goes stale too, a press takes over at once.
		f.clock.Advance(2 * time.Minute)
		if got, err := f.svc.SyncRun(ctx, alive.ID); err != nil || got.Status != models.SyncStatusInterrupted {
			t.Errorf("SyncRun(alive) 2½ minutes after its heartbeat = %s, %v; want interrupted", got.Status, err)
		}
		run := f.run(t, models.SyncKindFull, 1)
		if run.ID == alive.ID {
			t.Errorf("the stale run was returned instead of taken over")
		}
	})
}

// noClient is a ClientSource with no DingTalk app configured.
type noClient struct{ err error }

func (n noClient) Client(context.Context) (*dingtalk.Client, error) { return nil, n.err }

// Without DingTalk settings a sync does not call DingTalk's public host with an empty
// appKey: it fails at once, saying why.
func TestSyncWithoutSettings(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		f := newFixture(t, db, setup{})
		svc := orgsync.New(f.store, noClient{settings.ErrNotConfigured}, orgsync.Options{Clock: f.clock, Logger: testLogger(t)})
		t.Cleanup(svc.Close)

		run, err := svc.Start(ctx, models.SyncKindFull, 1, models.SyncTriggerUser, "admin")
		if !errors.Is(err, settings.ErrNotConfigured) {
			t.Fatalf("Start = %v, want ErrNotConfigured", err)
		}
		stored, err := f.store.SyncRun(ctx, run.ID)
		if err != nil || stored.Status != models.SyncStatusFailed || !strings.Contains(stored.Error, "DingTalk is not configured") || stored.ActiveScope != nil {
			t.Errorf("recorded run = %+v, %v; want failed: not configured", stored, err)
		}
		if n := f.srv.TotalCalls(); n != 0 {
			t.Errorf("%d requests reached DingTalk", n)
		}
		if _, err := svc.Run(ctx, models.SyncKindFull, 1, models.SyncTriggerSchedule, ""); !errors.Is(err, settings.ErrNotConfigured) {
			t.Errorf("Run = %v, want ErrNotConfigured", err)
		}
	})
}

// The audit entry of a pressed button is written in the transaction that begins the
// run: a run is never begun without it.
func TestSyncStartIsAuditedInTheSameTransaction(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		f := newFixture(t, db, setup{})
		buildOrg(f.srv)
		run := f.run(t, models.SyncKindSubDepartments, 1)
		entries, err := f.store.RecentAudit(ctx, 10)
		want := fmt.Sprintf("sub_departments of department 1 (run %d)", run.ID)
		if err != nil || len(entries) != 1 || entries[0].Action != models.ActionSyncStart || entries[0].Details != want || entries[0].Actor != "admin" {
			t.Fatalf("audit = %+v, %v; want one %q", entries, err, want)
		}

		// With the audit log unwritable, the run does not begin either.
		if err := db.Exec("ALTER TABLE audit_log RENAME TO audit_log_gone").Error; err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Start(ctx, models.SyncKindSubDepartments, 2, models.SyncTriggerUser, "admin"); err == nil {
			t.Fatalf("Start with no audit log succeeded")
		}
		var runs int64
		db.Model(&models.SyncRun{}).Count(&runs)
		if runs != 1 {
			t.Errorf("%d runs stored, want only the first: the second began without its audit entry", runs)
		}
	})
}

// DingTalk's own "active" (has activated DingTalk) is kept beside "still listed".
func TestSyncKeepsWhetherUsersActivatedDingTalk(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		f := newFixture(t, db, setup{})
		buildOrg(f.srv)
		f.srv.AddUser(dingtalktest.User{UserID: "newbie", Name: "Newbie", Active: false, DeptIDs: []int64{3}})
		f.run(t, models.SyncKindFull, 1)
		all := users(t, db)
		if u := all["newbie"]; !u.Active || u.Activated || u.Status() != models.MemberNotActivated {
			t.Errorf("newbie = active %v, activated %v; want listed but not activated", u.Active, u.Activated)
		}
		if u := all["dave"]; !u.Activated || u.Status() != models.MemberActive {
			t.Errorf("dave = activated %v; want activated", u.Activated)
		}

		// Activating DingTalk later is a change the next sync writes.
		f.srv.UpdateUser(dingtalktest.User{UserID: "newbie", Name: "Newbie", Active: true, DeptIDs: []int64{3}})
		if run := f.run(t, models.SyncKindDepartmentUsers, 3); run.UsersChanged != 1 || !users(t, db)["newbie"].Activated {
			t.Errorf("after activation: %d users changed, activated %v", run.UsersChanged, users(t, db)["newbie"].Activated)
		}
	})
}
