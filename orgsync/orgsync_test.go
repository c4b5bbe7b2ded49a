package orgsync_test

import (
	"context"
	"encoding/json"
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
)

// allDepartments is what a full sync stores for buildOrg's organisation.
var allDepartments = map[int64]deptRow{
	1: {0, "Example Corp"}, 2: {1, "Engineering"}, 3: {1, "Sales"}, 4: {2, "Backend"}, 5: {2, "Frontend"}, 6: {3, "North"},
}

func TestOperations(t *testing.T) {
	pick := func(ids ...int64) map[int64]deptRow {
		out := map[int64]deptRow{}
		for _, id := range ids {
			out[id] = allDepartments[id]
		}
		return out
	}
	tests := []struct {
		kind              models.SyncKind
		dept              int64
		wantDepts         map[int64]deptRow
		wantUsers         int           // rows in dingtalk_users
		wantMembers       map[int64]int // rows in department_members by department
		wantDeptsSeen     int
		wantUsersSeen     int
		wantMembersWrites int
		wantCalls         int
		wantUnits         int
	}{
		{
			// department.get for the root's own row, one listsub.
			kind: models.SyncKindSubDepartments, dept: 1,
			wantDepts: pick(1, 2, 3), wantMembers: map[int64]int{},
			wantDeptsSeen: 3, wantCalls: 2, wantUnits: 1,
		},
		{
			kind: models.SyncKindSubDepartments, dept: 2,
			wantDepts: pick(4, 5), wantMembers: map[int64]int{},
			wantDeptsSeen: 2, wantCalls: 1, wantUnits: 1,
		},
		{
			// listsub of 2, 4 and 5.
			kind: models.SyncKindAllSubDepartments, dept: 2,
			wantDepts: pick(4, 5), wantMembers: map[int64]int{},
			wantDeptsSeen: 2, wantCalls: 3, wantUnits: 3,
		},
		{
			kind: models.SyncKindAllSubDepartments, dept: 1,
			wantDepts: allDepartments, wantMembers: map[int64]int{},
			wantDeptsSeen: 6, wantCalls: 7, wantUnits: 6,
		},
		{
			// 251 members: three pages of user/list, no per-user calls.
			kind: models.SyncKindDepartmentUsers, dept: 5,
			wantDepts: map[int64]deptRow{}, wantUsers: 251, wantMembers: map[int64]int{5: 251},
			wantUsersSeen: 251, wantMembersWrites: 251, wantCalls: 3, wantUnits: 1,
		},
		{
			// listsub of 2, 4, 5; user/list of 2, 4, and 5 (3 pages). carol is in 4 and 5.
			kind: models.SyncKindAllSubDepartmentUsers, dept: 2,
			wantDepts: pick(4, 5), wantUsers: 253, wantMembers: map[int64]int{2: 1, 4: 2, 5: 251},
			wantDeptsSeen: 2, wantUsersSeen: 253, wantMembersWrites: 254, wantCalls: 8, wantUnits: 6,
		},
		{
			// department.get, 6 listsub, 8 user/list.
			kind: models.SyncKindFull, dept: 1,
			wantDepts: allDepartments, wantUsers: 256, wantMembers: map[int64]int{1: 1, 2: 1, 3: 1, 4: 2, 5: 251, 6: 1},
			wantDeptsSeen: 6, wantUsersSeen: 256, wantMembersWrites: 257, wantCalls: 15, wantUnits: 12,
		},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s of %d", tt.kind, tt.dept), func(t *testing.T) {
			modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
				f := newFixture(t, db, setup{})
				buildOrg(f.srv)

				first := f.run(t, tt.kind, tt.dept)
				want := models.SyncRun{
					DepartmentsSeen: tt.wantDeptsSeen, DepartmentsChanged: len(tt.wantDepts),
					UsersSeen: tt.wantUsersSeen, UsersChanged: tt.wantUsers, MembershipsChanged: tt.wantMembersWrites,
					APICalls: tt.wantCalls, UnitsTotal: tt.wantUnits, UnitsDone: tt.wantUnits,
				}
				checkCounters(t, "first run", first, want)
				if got := apiCalls(f.srv); got != first.APICalls {
					t.Errorf("first run counted %d API calls, the simulator received %d", first.APICalls, got)
				}
				if got := departments(t, db); !maps.Equal(got, tt.wantDepts) {
					t.Errorf("departments = %v, want %v", got, tt.wantDepts)
				}
				if got := len(users(t, db)); got != tt.wantUsers {
					t.Errorf("%d users stored, want %d", got, tt.wantUsers)
				}
				if got := memberships(t, db); !maps.Equal(got, tt.wantMembers) {
					t.Errorf("members per department = %v, want %v", got, tt.wantMembers)
				}
				stored, err := f.store.SyncRun(context.Background(), first.ID)
				if err != nil || stored.Status != models.SyncStatusSucceeded || stored.ActiveScope != nil ||
					stored.FinishedAt == nil || stored.UsersSeen != first.UsersSeen || stored.APICalls != first.APICalls ||
					stored.Kind != tt.kind || stored.DeptID != tt.dept || stored.Trigger != models.SyncTriggerUser || stored.Actor != "admin" {
					t.Errorf("stored run = %+v, %v", stored, err)
				}

				// Nothing changed in DingTalk: the second run reads the same and writes nothing.
				f.clock.Advance(time.Hour)
				f.srv.ResetCounters()
				second := f.run(t, tt.kind, tt.dept)
				want.DepartmentsChanged, want.UsersChanged, want.MembershipsChanged = 0, 0, 0
				checkCounters(t, "second run", second, want)
				if got := apiCalls(f.srv); got != tt.wantCalls {
					t.Errorf("second run: the simulator received %d calls, want %d", got, tt.wantCalls)
				}
				for id, u := range users(t, db) {
					if !u.UpdatedAt.Equal(t0) || !u.SyncedAt.Equal(t0) {
						t.Errorf("user %s rewritten by the second run: updated %v, synced %v", id, u.UpdatedAt, u.SyncedAt)
					}
				}
				var rewritten int64
				db.Model(&models.Department{}).Where("synced_at <> ?", t0).Count(&rewritten)
				if rewritten != 0 {
					t.Errorf("%d departments rewritten by the second run", rewritten)
				}
			})
		})
	}
}

func checkCounters(t *testing.T, what string, got, want models.SyncRun) {
	t.Helper()
	type counters struct {
		DeptsSeen, DeptsChanged, UsersSeen, UsersChanged, Deactivated, Memberships, Calls, Total, Done int
	}
	c := func(r models.SyncRun) counters {
		return counters{r.DepartmentsSeen, r.DepartmentsChanged, r.UsersSeen, r.UsersChanged, r.UsersDeactivated,
			r.MembershipsChanged, r.APICalls, r.UnitsTotal, r.UnitsDone}
	}
	if c(got) != c(want) {
		t.Errorf("%s counters = %+v, want %+v", what, c(got), c(want))
	}
}

func TestFullSyncDeactivatesUsersWhoLeft(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		f := newFixture(t, db, setup{})
		buildOrg(f.srv)
		f.run(t, models.SyncKindFull, 1)

		f.srv.RemoveUser("dave")
		f.srv.RemoveUser("erin")
		f.clock.Advance(time.Hour)

		// A department sync sees erin gone from her department, but cannot know whether
		// she left the company: only the full sync lists everyone.
		run := f.run(t, models.SyncKindDepartmentUsers, 6)
		if run.UsersDeactivated != 0 || run.MembershipsChanged != 1 {
			t.Errorf("department sync: deactivated %d, memberships changed %d; want 0 and 1", run.UsersDeactivated, run.MembershipsChanged)
		}
		if u := users(t, db)["erin"]; !u.Active || isMember(t, db, 6, "erin") {
			t.Errorf("after the department sync erin is active=%v, member of 6=%v; want still active, no longer a member",
				u.Active, isMember(t, db, 6, "erin"))
		}

		run = f.run(t, models.SyncKindFull, 1)
		if run.UsersDeactivated != 2 || run.UsersChanged != 0 || run.MembershipsChanged != 1 {
			t.Errorf("full sync: deactivated %d, users changed %d, memberships changed %d; want 2, 0, 1 (dave's)",
				run.UsersDeactivated, run.UsersChanged, run.MembershipsChanged)
		}
		all := users(t, db)
		for _, id := range []string{"dave", "erin"} {
			u, ok := all[id]
			if !ok {
				t.Fatalf("%s was deleted; users who left must be kept, marked inactive", id)
			}
			if u.Active || !u.UpdatedAt.Equal(f.clock.Now()) {
				t.Errorf("%s: active=%v updated=%v; want inactive, updated now", id, u.Active, u.UpdatedAt)
			}
		}
		if !all["alice"].Active || !all["alice"].UpdatedAt.Equal(t0) {
			t.Errorf("alice = %+v; want untouched", all["alice"])
		}
		if isMember(t, db, 3, "dave") {
			t.Errorf("dave is still a member of Sales")
		}
		if run := f.run(t, models.SyncKindFull, 1); run.UsersDeactivated != 0 || run.RowsWritten() != 0 {
			t.Errorf("third full sync wrote %d rows (%d deactivations); want none", run.RowsWritten(), run.UsersDeactivated)
		}

		// Coming back makes a user active again.
		f.srv.AddUser(dingtalktest.User{UserID: "dave", Name: "Dave", Active: true, DeptIDs: []int64{3}})
		run = f.run(t, models.SyncKindFull, 1)
		if run.UsersChanged != 1 || !users(t, db)["dave"].Active || !isMember(t, db, 3, "dave") {
			t.Errorf("dave's return: users changed %d, active %v, member %v", run.UsersChanged, users(t, db)["dave"].Active, isMember(t, db, 3, "dave"))
		}
	})
}

func TestDepartmentRenamesMovesAndRemovals(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		f := newFixture(t, db, setup{})
		buildOrg(f.srv)
		f.run(t, models.SyncKindFull, 1)

		f.srv.RenameDepartment(4, "Platform")
		f.srv.MoveDepartment(6, 2) // North moves from Sales to Engineering
		f.clock.Advance(time.Hour)

		run := f.run(t, models.SyncKindFull, 1)
		if run.DepartmentsChanged != 2 || run.RowsWritten() != 2 {
			t.Errorf("rename + move: departments changed %d, rows written %d; want 2 and 2", run.DepartmentsChanged, run.RowsWritten())
		}
		want := maps.Clone(allDepartments)
		want[4] = deptRow{2, "Platform"}
		want[6] = deptRow{2, "North"}
		if got := departments(t, db); !maps.Equal(got, want) {
			t.Errorf("departments = %v, want %v", got, want)
		}
		if !isMember(t, db, 6, "erin") {
			t.Errorf("erin lost her membership of the moved department")
		}

		// Sub-department sync of the old parent: North no longer appears under Sales.
		f.srv.MoveDepartment(6, 3)
		f.run(t, models.SyncKindFull, 1)
		f.srv.MoveDepartment(6, 2)
		run = f.run(t, models.SyncKindSubDepartments, 3)
		if _, ok := departments(t, db)[6]; ok || run.DepartmentsChanged != 1 || run.MembershipsChanged != 1 {
			t.Errorf("after North vanished from Sales: stored=%v, departments changed %d, memberships changed %d; want removed, 1, 1",
				ok, run.DepartmentsChanged, run.MembershipsChanged)
		}
		if u, ok := users(t, db)["erin"]; !ok || !u.Active {
			t.Errorf("erin = %+v, %v; the user must stay when her department is removed from the tree", u, ok)
		}
		f.run(t, models.SyncKindSubDepartments, 2)
		if got := departments(t, db)[6]; got != (deptRow{2, "North"}) {
			t.Errorf("North after syncing Engineering's sub-departments = %+v, want under 2", got)
		}
		f.run(t, models.SyncKindDepartmentUsers, 6)
		if !isMember(t, db, 6, "erin") {
			t.Errorf("erin is not back in North after its user sync")
		}

		// A deleted department disappears with its subtree; its users are deactivated by
		// the full sync, as they are in no department any more.
		f.srv.RemoveDepartment(3)
		run = f.run(t, models.SyncKindAllSubDepartments, 1)
		got := departments(t, db)
		if _, ok := got[3]; ok || run.DepartmentsChanged != 1 || len(got) != 5 {
			t.Errorf("after deleting Sales: departments %v, changed %d; want Sales gone", got, run.DepartmentsChanged)
		}
		if run := f.run(t, models.SyncKindFull, 1); run.UsersDeactivated != 1 || users(t, db)["dave"].Active {
			t.Errorf("dave (only in Sales) after a full sync: deactivated %d, active %v", run.UsersDeactivated, users(t, db)["dave"].Active)
		}
	})
}

func TestPermanentErrorFailsTheRunAndKeepsWhatWasWritten(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		var srv *dingtalktest.Server
		// Injected once, when the first request for department 6's users is about to go
		// out; with one worker no other request is in flight to consume it.
		injected := false
		hook := onRequest(func(path string, body []byte) {
			var req struct {
				DeptID int64 `json:"dept_id"`
			}
			if !injected && strings.HasSuffix(path, "/v2/user/list") && json.Unmarshal(body, &req) == nil && req.DeptID == 6 {
				injected = true
				srv.InjectError("v2/user/list", 60011, 1)
			}
		})
		f := newFixture(t, db, setup{transport: hook, options: orgsync.Options{Concurrency: 1}})
		srv = f.srv
		buildOrg(f.srv)
		// zed was synced once and has left since; a failed full sync must not deactivate him.
		if _, err := f.store.UpsertDingTalkUsers(context.Background(), []models.DingTalkUser{{UserID: "zed", Active: true}}, t0); err != nil {
			t.Fatal(err)
		}

		run, err := f.svc.Run(context.Background(), models.SyncKindFull, 1, models.SyncTriggerSchedule, "")
		if err != nil {
			t.Fatalf("Run: %v (a failed sync is recorded, not returned as an error)", err)
		}
		if run.Status != models.SyncStatusFailed || run.Errcode != 60011 ||
			!strings.Contains(run.Error, "没有调用该接口的权限") || !strings.Contains(run.Error, "department 6") {
			t.Errorf("run = %s, errcode %d, error %q; want failed with DingTalk's 60011 and its message", run.Status, run.Errcode, run.Error)
		}
		stored, _ := f.store.SyncRun(context.Background(), run.ID)
		if stored.Status != models.SyncStatusFailed || stored.Errcode != 60011 || stored.Error != run.Error ||
			stored.ActiveScope != nil || stored.FinishedAt == nil || stored.UsersChanged != 255 {
			t.Errorf("stored run = %+v", stored)
		}
		if got := departments(t, db); !maps.Equal(got, allDepartments) {
			t.Errorf("departments = %v; want all, written before the failure", got)
		}
		all := users(t, db)
		if _, ok := all["erin"]; ok || len(all) != 256 {
			t.Errorf("%d users stored (erin: %v); want everyone but erin, plus zed", len(all), ok)
		}
		if !all["zed"].Active {
			t.Errorf("zed was deactivated by a failed full sync")
		}
		// The scope is free again.
		f.srv.ResetCounters()
		if run := f.run(t, models.SyncKindFull, 1); run.UsersChanged != 1 || run.UsersDeactivated != 1 {
			t.Errorf("retry: users changed %d, deactivated %d; want erin added and zed deactivated", run.UsersChanged, run.UsersDeactivated)
		}
	})
}

func TestThrottlingSlowsASyncDown(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		t.Run("injected 90018", func(t *testing.T) {
			f := newFixture(t, db, setup{})
			buildOrg(f.srv)
			f.srv.InjectError("v2/department/listsub", 90018, 2)
			f.srv.InjectError("v2/user/list", 90018, 3)
			run := f.run(t, models.SyncKindFull, 1)
			if run.APICalls != 15 || f.srv.Calls("v2/department/listsub") != 6+2 || f.srv.Calls("v2/user/list") != 8+3 {
				t.Errorf("counted %d calls, simulator got %d listsub and %d user/list; want 15 counted (one per call), 8 and 11 sent",
					run.APICalls, f.srv.Calls("v2/department/listsub"), f.srv.Calls("v2/user/list"))
			}
			if len(users(t, db)) != 256 {
				t.Errorf("%d users stored after retries, want 256", len(users(t, db)))
			}
		})
		t.Run("simulator at 20 QPS, client unlimited", func(t *testing.T) {
			// The client's own limiter is what normally keeps under DingTalk's limit; with
			// it off, the simulator answers 90018 and the client's backoff must cope.
			f := newFixture(t, db, setup{
				server: dingtalktest.Options{QPS: 20},
				client: dingtalk.Config{BaseBackoff: dingtalk.DefaultBaseBackoff},
			})
			for id := int64(100); id < 140; id++ {
				f.srv.AddDepartment(dingtalktest.Department{ID: id, ParentID: 1, Name: fmt.Sprintf("Team %d", id)})
			}
			run := f.run(t, models.SyncKindAllSubDepartments, 1)
			if run.DepartmentsSeen != 41 || len(departments(t, db)) != 41 {
				t.Errorf("departments seen %d, stored %d; want 41", run.DepartmentsSeen, len(departments(t, db)))
			}
			if sent := f.srv.Calls("v2/department/listsub"); sent <= 41 {
				t.Errorf("simulator got %d listsub calls: no call was throttled, so this test tests nothing", sent)
			}
		})
	})
}

func TestBusyScope(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		g := newGate("/v2/user/list")
		f := newFixture(t, db, setup{transport: g, options: orgsync.Options{FlushEvery: 5 * time.Millisecond}})
		buildOrg(f.srv)
		ctx := context.Background()

		done := make(chan models.SyncRun)
		go func() {
			run, err := f.svc.Run(ctx, models.SyncKindDepartmentUsers, 5, models.SyncTriggerSchedule, "")
			if err != nil {
				t.Errorf("first Run: %v", err)
			}
			done <- run
		}()
		<-g.arrived // the first run is calling DingTalk

		var busy *orgsync.BusyError
		running, err := f.svc.Start(ctx, models.SyncKindDepartmentUsers, 5, models.SyncTriggerUser, "alice")
		if !errors.As(err, &busy) || !errors.Is(err, orgsync.ErrBusy) || running.ID != busy.Run.ID ||
			!busy.Run.Running() || busy.Run.Trigger != models.SyncTriggerSchedule {
			t.Fatalf("Start of the busy scope = %+v, %v; want a BusyError with the running run", running, err)
		}
		again, err := f.svc.Run(ctx, models.SyncKindDepartmentUsers, 5, models.SyncTriggerUser, "alice")
		if !errors.Is(err, orgsync.ErrBusy) || again.ID != running.ID {
			t.Errorf("Run of the busy scope = run %d, %v; want run %d, ErrBusy", again.ID, err, running.ID)
		}
		// The running row shows live progress.
		eventually(t, "the progress flush", func() bool {
			f.clock.Advance(5 * time.Millisecond)
			r, err := f.store.SyncRun(ctx, running.ID)
			return err == nil && r.UnitsTotal == 1 && r.APICalls == 1 && r.Percent() == 0
		})

		other, err := f.svc.Start(ctx, models.SyncKindDepartmentUsers, 4, models.SyncTriggerUser, "alice")
		if err != nil || other.ID == running.ID {
			t.Errorf("Start of another department = run %d, %v; want a new run", other.ID, err)
		}

		g.open()
		first := <-done
		if first.ID != running.ID || first.Status != models.SyncStatusSucceeded || first.UsersSeen != 251 {
			t.Errorf("first run = %+v", first)
		}
		next, err := f.svc.Start(ctx, models.SyncKindDepartmentUsers, 5, models.SyncTriggerUser, "alice")
		if err != nil || next.ID == first.ID {
			t.Errorf("Start after the first run ended = run %d, %v; want a new run", next.ID, err)
		}
		for _, id := range []uint{other.ID, next.ID} {
			var r models.SyncRun
			eventually(t, "the end of a run begun by Start", func() bool {
				r, err = f.store.SyncRun(ctx, id)
				return err == nil && !r.Running()
			})
			if r.Status != models.SyncStatusSucceeded {
				t.Errorf("run %d begun by Start = %s: %s", id, r.Status, r.Error)
			}
		}
	})
}

// A sync inside, or around, the departments of a running sync is refused with the
// running one: together they would make every call twice and provoke 90018.
func TestOverlappingSyncIsRefused(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		f := newFixture(t, db, setup{})
		buildOrg(f.srv)
		f.run(t, models.SyncKindFull, 1) // the tree is stored: 5 is below 2
		g := newGate("/v2/user/list")
		f2 := newFixture(t, db, setup{transport: g})
		buildOrg(f2.srv)
		ctx := context.Background()

		full, err := f2.svc.Start(ctx, models.SyncKindFull, 1, models.SyncTriggerUser, "admin")
		if err != nil {
			t.Fatal(err)
		}
		<-g.arrived
		f.srv.ResetCounters()
		for _, s := range []struct {
			kind models.SyncKind
			dept int64
		}{{models.SyncKindDepartmentUsers, 5}, {models.SyncKindAllSubDepartments, 2}, {models.SyncKindFull, 1}} {
			var busy *orgsync.BusyError
			got, err := f.svc.Start(ctx, s.kind, s.dept, models.SyncTriggerUser, "alice")
			if !errors.As(err, &busy) || busy.Run.ID != full.ID || got.ID != full.ID {
				t.Errorf("Start(%s, %d) beside a full sync = run %d, %v; want refused with run %d", s.kind, s.dept, got.ID, err, full.ID)
			}
		}
		if n := f.srv.TotalCalls(); n != 0 {
			t.Errorf("the refused syncs made %d calls", n)
		}
		g.open()
	})
}

func TestCloseCancelsBackgroundRuns(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		g := newGate("/v2/user/list")
		f := newFixture(t, db, setup{transport: g})
		buildOrg(f.srv)
		ctx := context.Background()
		run, err := f.svc.Start(ctx, models.SyncKindFull, 1, models.SyncTriggerUser, "admin")
		if err != nil {
			t.Fatalf("Start = %v", err)
		}
		<-g.arrived

		f.svc.Close()
		got, err := f.store.SyncRun(ctx, run.ID)
		if err != nil || got.Status != models.SyncStatusInterrupted || got.Error != models.SyncErrorShutdown ||
			got.ActiveScope != nil || got.FinishedAt == nil {
			t.Errorf("run after Close = %+v, %v; want interrupted (%q), scope freed", got, err, models.SyncErrorShutdown)
		}
		if _, err := f.svc.Start(ctx, models.SyncKindFull, 1, models.SyncTriggerUser, "admin"); !errors.Is(err, orgsync.ErrClosed) {
			t.Errorf("Start after Close = %v, want ErrClosed", err)
		}
	})
}

func TestStaleRunIsTakenOver(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		f := newFixture(t, db, setup{})
		buildOrg(f.srv)
		ctx := context.Background()
		begin := func(heartbeat time.Time) models.SyncRun {
			r, started, err := f.store.BeginSyncRun(ctx, models.SyncRun{
				Kind: models.SyncKindFull, DeptID: 1, Trigger: models.SyncTriggerSchedule, StartedAt: heartbeat, HeartbeatAt: heartbeat,
			}, heartbeat.Add(-time.Hour))
			if err != nil || !started {
				t.Fatalf("BeginSyncRun = %v, %v", started, err)
			}
			return r
		}

		// A replica died 3 minutes ago in the middle of a full sync.
		crashed := begin(f.clock.Now().Add(-3 * time.Minute))
		run := f.run(t, models.SyncKindFull, 1)
		if run.ID == crashed.ID {
			t.Fatalf("the stale run was returned instead of taken over")
		}
		old, _ := f.store.SyncRun(ctx, crashed.ID)
		if old.Status != models.SyncStatusInterrupted || old.Error != models.SyncErrorCrashed || old.ActiveScope != nil {
			t.Errorf("crashed run = %+v; want interrupted, scope freed", old)
		}

		// One that heartbeat 30 s ago is alive.
		alive := begin(f.clock.Now().Add(-30 * time.Second))
		got, err := f.svc.Run(ctx, models.SyncKindFull, 1, models.SyncTriggerUser, "admin")
		if !errors.Is(err, orgsync.ErrBusy) || got.ID != alive.ID {
			t.Errorf("Run beside a live run = %d, %v; want %d, ErrBusy", got.ID, err, alive.ID)
		}
	})
}

// A run that another replica declared dead must stop and leave the "interrupted"
// outcome alone, rather than keep writing beside the run that replaced it.
func TestTakenOverRunStops(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		g := newGate("/v2/user/list")
		f := newFixture(t, db, setup{transport: g, options: orgsync.Options{FlushEvery: 5 * time.Millisecond}})
		buildOrg(f.srv)
		ctx := context.Background()
		run, err := f.svc.Start(ctx, models.SyncKindDepartmentUsers, 5, models.SyncTriggerUser, "admin")
		if err != nil {
			t.Fatal(err)
		}
		<-g.arrived

		// Another replica whose clock says our heartbeat is stale takes the scope.
		later := f.clock.Now().Add(time.Hour)
		replacement, started, err := f.store.BeginSyncRun(ctx, models.SyncRun{
			Kind: models.SyncKindDepartmentUsers, DeptID: 5, Trigger: models.SyncTriggerSchedule, StartedAt: later, HeartbeatAt: later,
		}, later.Add(-2*time.Minute))
		if err != nil || !started {
			t.Fatalf("takeover = %v, %v", started, err)
		}
		// Our next heartbeat finds the run taken over; the run then cancels its call.
		f.clock.Advance(time.Minute)
		<-g.cancelled
		f.svc.Close()

		old, _ := f.store.SyncRun(ctx, run.ID)
		if old.Status != models.SyncStatusInterrupted || old.Error != models.SyncErrorCrashed {
			t.Errorf("taken-over run = %s %q; want its interrupted outcome kept", old.Status, old.Error)
		}
		if r, _ := f.store.SyncRun(ctx, replacement.ID); !r.Running() || r.ActiveScope == nil {
			t.Errorf("replacement run = %+v; want still running", r)
		}
	})
}

func TestScheduledFullSync(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		f := newFixture(t, db, setup{})
		buildOrg(f.srv)
		ctx := context.Background()
		if last, err := f.svc.LastScheduledFullSync(ctx); err != nil || !last.IsZero() {
			t.Errorf("LastScheduledFullSync before any = %v, %v; want zero", last, err)
		}
		f.run(t, models.SyncKindFull, 1) // by a user: not a scheduled one
		f.clock.Advance(time.Minute)
		if err := f.svc.RunScheduledFullSync(ctx); err != nil {
			t.Fatalf("RunScheduledFullSync: %v", err)
		}
		if last, err := f.svc.LastScheduledFullSync(ctx); err != nil || !last.Equal(t0.Add(time.Minute)) {
			t.Errorf("LastScheduledFullSync = %v, %v; want %v", last, err, t0.Add(time.Minute))
		}
		if models.Dialect(db) == models.DialectSQLite {
			// A sync that wrote users refreshed the planner statistics the Members search needs.
			var n int64
			db.Raw("SELECT COUNT(DISTINCT tbl) FROM sqlite_stat1 WHERE tbl IN ('dingtalk_users', 'department_members')").Scan(&n)
			if n != 2 {
				t.Errorf("statistics for %d of the 2 member tables after a full sync", n)
			}
		}

		f.srv.InjectError("v2/department/listsub", 60011, 1)
		if err := f.svc.RunScheduledFullSync(ctx); err == nil || !strings.Contains(err.Error(), "errcode 60011") {
			t.Errorf("RunScheduledFullSync with a permission error = %v, want it reported", err)
		}
		if _, _, err := f.store.BeginSyncRun(ctx, models.SyncRun{Kind: models.SyncKindFull, DeptID: 1, Trigger: models.SyncTriggerUser,
			StartedAt: f.clock.Now(), HeartbeatAt: f.clock.Now()}, t0); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.RunScheduledFullSync(ctx); !errors.Is(err, orgsync.ErrBusy) {
			t.Errorf("RunScheduledFullSync beside a running full sync = %v, want ErrBusy", err)
		}
	})
}
