package models_test

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/models/modelstest"
)

func newRun(kind models.SyncKind, dept int64, at time.Time) models.SyncRun {
	return models.SyncRun{Kind: kind, DeptID: dept, Trigger: models.SyncTriggerUser, Actor: "admin", StartedAt: at, HeartbeatAt: at}
}

func TestBeginSyncRunAdmitsOneRunPerScope(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		stale := t0.Add(-2 * time.Minute)

		first, started, err := store.BeginSyncRun(ctx, newRun(models.SyncKindDepartmentUsers, 5, t0), stale)
		if err != nil || !started {
			t.Fatalf("first BeginSyncRun = %v, %v", started, err)
		}
		if first.ID == 0 || first.Status != models.SyncStatusRunning || first.ActiveScope == nil || *first.ActiveScope != "department_users:5" {
			t.Errorf("first run = %+v", first)
		}

		again, started, err := store.BeginSyncRun(ctx, newRun(models.SyncKindDepartmentUsers, 5, t0.Add(time.Second)), stale)
		if err != nil || started || again.ID != first.ID {
			t.Errorf("same scope while running = run %d, started %v, %v; want run %d, not started", again.ID, started, err, first.ID)
		}
		other, started, err := store.BeginSyncRun(ctx, newRun(models.SyncKindDepartmentUsers, 6, t0), stale)
		if err != nil || !started || other.ID == first.ID {
			t.Errorf("other department = run %d, started %v, %v; want a new run", other.ID, started, err)
		}
		// A full sync covers every department: it waits for the others.
		full, started, err := store.BeginSyncRun(ctx, newRun(models.SyncKindFull, 1, t0), stale)
		if err != nil || started || full.ID != first.ID {
			t.Errorf("full sync beside department syncs = run %d, started %v, %v; want run %d, not started", full.ID, started, err, first.ID)
		}

		first.Status, first.FinishedAt = models.SyncStatusSucceeded, &t1
		if err := store.FinishSyncRun(ctx, first); err != nil {
			t.Fatalf("FinishSyncRun: %v", err)
		}
		next, started, err := store.BeginSyncRun(ctx, newRun(models.SyncKindDepartmentUsers, 5, t1), t1.Add(-2*time.Minute))
		if err != nil || !started || next.ID == first.ID {
			t.Errorf("same scope after the first ended = run %d, started %v, %v; want a new run", next.ID, started, err)
		}
	})
}

// Replicas sharing the database may press the same button at the same moment.
func TestBeginSyncRunConcurrently(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		store := newStore(t, db)
		const replicas = 8
		type result struct {
			run     models.SyncRun
			started bool
			err     error
		}
		results := make(chan result, replicas)
		for range replicas {
			go func() {
				run, started, err := store.BeginSyncRun(context.Background(), newRun(models.SyncKindFull, 1, t0), t0.Add(-time.Minute))
				results <- result{run, started, err}
			}()
		}
		var ids []uint
		startedRuns := 0
		for range replicas {
			r := <-results
			if r.err != nil {
				t.Fatalf("BeginSyncRun: %v", r.err)
			}
			if r.started {
				startedRuns++
			}
			ids = append(ids, r.run.ID)
		}
		if startedRuns != 1 {
			t.Errorf("%d runs started, want exactly 1", startedRuns)
		}
		for _, id := range ids {
			if id != ids[0] {
				t.Errorf("replicas got runs %v, want all the same running run", ids)
				break
			}
		}
	})
}

func TestBeginSyncRunTakesOverStaleRun(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		crashed, _, err := store.BeginSyncRun(ctx, newRun(models.SyncKindFull, 1, t0), t0.Add(-2*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		crashed.UsersChanged, crashed.HeartbeatAt = 7, t0.Add(30*time.Second)
		if err := store.SaveSyncRunProgress(ctx, crashed); err != nil {
			t.Fatal(err)
		}

		// 90 s after the last heartbeat the run still counts as alive.
		at := t0.Add(2 * time.Minute)
		if got, started, _ := store.BeginSyncRun(ctx, newRun(models.SyncKindFull, 1, at), at.Add(-2*time.Minute)); started || got.ID != crashed.ID {
			t.Fatalf("begin 90 s after the last heartbeat = run %d started %v; want the running run %d", got.ID, started, crashed.ID)
		}
		at = t0.Add(3 * time.Minute)
		next, started, err := store.BeginSyncRun(ctx, newRun(models.SyncKindFull, 1, at), at.Add(-2*time.Minute))
		if err != nil || !started || next.ID == crashed.ID {
			t.Fatalf("begin 150 s after the last heartbeat = run %d started %v, %v; want a new run", next.ID, started, err)
		}
		old, err := store.SyncRun(ctx, crashed.ID)
		if err != nil {
			t.Fatal(err)
		}
		if old.Status != models.SyncStatusInterrupted || old.Error != models.SyncErrorCrashed || old.ActiveScope != nil || old.FinishedAt == nil ||
			!old.FinishedAt.Equal(at) || old.UsersChanged != 7 {
			t.Errorf("taken-over run = %+v; want failed, interrupted, scope freed, counters kept", old)
		}
		// The crashed process, should it come back, can no longer write to its run.
		if err := store.SaveSyncRunProgress(ctx, crashed); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("SaveSyncRunProgress on a taken-over run = %v, want ErrNotFound", err)
		}
		crashed.Status = models.SyncStatusSucceeded
		if err := store.FinishSyncRun(ctx, crashed); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("FinishSyncRun on a taken-over run = %v, want ErrNotFound", err)
		}
	})
}

func TestSyncRunLifecycle(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		run, _, err := store.BeginSyncRun(ctx, newRun(models.SyncKindAllSubDepartmentUsers, 2, t0), t0)
		if err != nil {
			t.Fatal(err)
		}
		run.DepartmentsSeen, run.DepartmentsChanged, run.UsersSeen, run.UsersChanged = 3, 2, 250, 249
		run.MembershipsChanged, run.APICalls, run.UnitsTotal, run.UnitsDone = 251, 9, 6, 4
		run.DepartmentsUnreadable = 2
		run.HeartbeatAt = t0.Add(time.Second)
		if err := store.SaveSyncRunProgress(ctx, run); err != nil {
			t.Fatalf("SaveSyncRunProgress: %v", err)
		}
		got, err := store.SyncRun(ctx, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.UsersSeen != 250 || got.UnitsDone != 4 || got.APICalls != 9 || got.MembershipsChanged != 251 || got.DepartmentsUnreadable != 2 ||
			!got.HeartbeatAt.Equal(run.HeartbeatAt) || !got.Running() || got.Percent() != 66 {
			t.Errorf("after progress = %+v (percent %d)", got, got.Percent())
		}

		run.Status, run.Errcode, run.Error, run.FinishedAt = models.SyncStatusFailed, 60011, "no permission", &t1
		run.UnitsDone = 5
		if err := store.FinishSyncRun(ctx, run); err != nil {
			t.Fatalf("FinishSyncRun: %v", err)
		}
		got, _ = store.SyncRun(ctx, run.ID)
		if got.Status != models.SyncStatusFailed || got.Errcode != 60011 || got.Error != "no permission" || got.ActiveScope != nil ||
			got.FinishedAt == nil || !got.FinishedAt.Equal(t1) || got.UnitsDone != 5 || got.Running() || got.Percent() != 83 { // a failed run: how far it got
			t.Errorf("after finish = %+v", got)
		}
		if _, err := store.SyncRun(ctx, 9999); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("SyncRun(9999) = %v, want ErrNotFound", err)
		}
	})
}

func TestRecentAndLastSyncRuns(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		if _, err := store.LastSyncRun(ctx, models.SyncKindFull, models.SyncTriggerSchedule); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("LastSyncRun on no runs = %v, want ErrNotFound", err)
		}
		begin := func(kind models.SyncKind, trigger models.SyncTrigger, at time.Time) models.SyncRun {
			r := newRun(kind, 1, at)
			r.Trigger = trigger
			// Nothing counts as stale: the long run below must stay running.
			run, _, err := store.BeginSyncRun(ctx, r, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			run.Status, run.FinishedAt = models.SyncStatusSucceeded, &at
			if err := store.FinishSyncRun(ctx, run); err != nil {
				t.Fatal(err)
			}
			return run
		}
		begin(models.SyncKindFull, models.SyncTriggerSchedule, t0)
		wantLast := begin(models.SyncKindFull, models.SyncTriggerSchedule, t1)
		begin(models.SyncKindFull, models.SyncTriggerUser, t2)
		newest := begin(models.SyncKindSubDepartments, models.SyncTriggerUser, t2)

		last, err := store.LastSyncRun(ctx, models.SyncKindFull, models.SyncTriggerSchedule)
		if err != nil || last.ID != wantLast.ID {
			t.Errorf("LastSyncRun(full, schedule) = %d, %v; want %d", last.ID, err, wantLast.ID)
		}
		recent, err := store.RecentSyncRuns(ctx, 3)
		if err != nil || len(recent) != 3 || recent[0].ID != newest.ID || recent[2].ID != wantLast.ID {
			t.Errorf("RecentSyncRuns(3) = %d runs, first %d, %v; want 3, newest (%d) first", len(recent), recent[0].ID, err, newest.ID)
		}

		// A run still going is listed as running however many runs ended after it began.
		going, started, err := store.BeginSyncRun(ctx, newRun(models.SyncKindDepartmentUsers, 7, t0), time.Time{})
		if err != nil || !started {
			t.Fatalf("begin a long run: %v", err)
		}
		for range 12 {
			begin(models.SyncKindSubDepartments, models.SyncTriggerUser, t2)
		}
		running, err := store.RunningSyncRuns(ctx)
		if err != nil || len(running) != 1 || running[0].ID != going.ID {
			t.Errorf("RunningSyncRuns = %+v, %v; want only run %d", running, err, going.ID)
		}
	})
}

func TestSyncRunPercent(t *testing.T) {
	tests := []struct {
		status      models.SyncStatus
		total, done int
		want        int
	}{
		{models.SyncStatusRunning, 0, 0, 0},
		{models.SyncStatusRunning, 4, 1, 25},
		{models.SyncStatusRunning, 3, 3, 100},
		{models.SyncStatusRunning, 3, 5, 100},
		{models.SyncStatusSucceeded, 0, 0, 100},
		// A failed run shows how far it got too: a full bar would read as done.
		{models.SyncStatusFailed, 10, 2, 20},
		{models.SyncStatusFailed, 0, 0, 0},
		{models.SyncStatusIncomplete, 10, 9, 100},
		// An interrupted run shows how far it got, not a full bar.
		{models.SyncStatusInterrupted, 10, 4, 40},
	}
	for _, tt := range tests {
		r := models.SyncRun{Status: tt.status, UnitsTotal: tt.total, UnitsDone: tt.done}
		if got := r.Percent(); got != tt.want {
			t.Errorf("Percent of %s %d/%d = %d, want %d", tt.status, tt.done, tt.total, got, tt.want)
		}
	}
}

// orgTree stores this tree of departments:
//
//	1
//	├── 2
//	│   ├── 4
//	│   │   └── 7
//	│   └── 5
//	└── 3
//	    └── 6
func orgTree(t *testing.T, store *models.Store) {
	t.Helper()
	depts := []models.Department{
		{DeptID: 1, Name: "Corp"}, {DeptID: 2, ParentID: 1, Name: "Eng"}, {DeptID: 3, ParentID: 1, Name: "Sales"},
		{DeptID: 4, ParentID: 2, Name: "Backend"}, {DeptID: 5, ParentID: 2, Name: "Frontend"},
		{DeptID: 6, ParentID: 3, Name: "North"}, {DeptID: 7, ParentID: 4, Name: "Storage"},
	}
	if _, err := store.UpsertDepartments(context.Background(), depts, t0); err != nil {
		t.Fatal(err)
	}
}

// Two syncs that would write the same departments do not run at once: the second is
// refused with the running one, whichever of them covers the other.
func TestBeginSyncRunRefusesOverlappingScopes(t *testing.T) {
	type sync struct {
		kind models.SyncKind
		dept int64
	}
	tests := []struct {
		running sync
		begin   sync
		refused bool
	}{
		{sync{models.SyncKindAllSubDepartmentUsers, 2}, sync{models.SyncKindDepartmentUsers, 7}, true}, // inside, two levels down
		{sync{models.SyncKindAllSubDepartmentUsers, 2}, sync{models.SyncKindAllSubDepartments, 4}, true},
		{sync{models.SyncKindAllSubDepartmentUsers, 2}, sync{models.SyncKindFull, 1}, true},           // contains it
		{sync{models.SyncKindAllSubDepartmentUsers, 2}, sync{models.SyncKindSubDepartments, 1}, true}, // lists 2 itself
		{sync{models.SyncKindAllSubDepartmentUsers, 2}, sync{models.SyncKindAllSubDepartments, 1}, true},
		{sync{models.SyncKindAllSubDepartmentUsers, 2}, sync{models.SyncKindDepartmentUsers, 1}, false}, // the root's own members only
		{sync{models.SyncKindAllSubDepartmentUsers, 2}, sync{models.SyncKindAllSubDepartmentUsers, 3}, false},
		{sync{models.SyncKindAllSubDepartmentUsers, 2}, sync{models.SyncKindDepartmentUsers, 6}, false},
		{sync{models.SyncKindDepartmentUsers, 4}, sync{models.SyncKindAllSubDepartmentUsers, 4}, true}, // same department
		{sync{models.SyncKindDepartmentUsers, 4}, sync{models.SyncKindSubDepartments, 2}, true},        // 2 lists 4
		{sync{models.SyncKindDepartmentUsers, 4}, sync{models.SyncKindSubDepartments, 1}, false},       // 1 lists 2 and 3 only
		{sync{models.SyncKindDepartmentUsers, 4}, sync{models.SyncKindDepartmentUsers, 5}, false},      // siblings
		{sync{models.SyncKindDepartmentUsers, 7}, sync{models.SyncKindDepartmentUsers, 4}, false},      // a department's own members only
		{sync{models.SyncKindSubDepartments, 4}, sync{models.SyncKindSubDepartments, 2}, true},         // both write 4
		{sync{models.SyncKindSubDepartments, 4}, sync{models.SyncKindSubDepartments, 5}, false},
		{sync{models.SyncKindFull, 1}, sync{models.SyncKindDepartmentUsers, 6}, true}, // a full sync covers all
		{sync{models.SyncKindFull, 1}, sync{models.SyncKindDepartmentUsers, 99}, true},
		// A department not stored yet lies somewhere below the root.
		{sync{models.SyncKindDepartmentUsers, 99}, sync{models.SyncKindAllSubDepartments, 1}, true},
		{sync{models.SyncKindDepartmentUsers, 99}, sync{models.SyncKindSubDepartments, 1}, false},
	}
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		orgTree(t, store)
		for _, tt := range tests {
			running, started, err := store.BeginSyncRun(ctx, newRun(tt.running.kind, tt.running.dept, t0), time.Time{})
			if err != nil || !started {
				t.Fatalf("begin %v = %v, %v", tt.running, started, err)
			}
			got, started, err := store.BeginSyncRun(ctx, newRun(tt.begin.kind, tt.begin.dept, t0), time.Time{})
			if err != nil {
				t.Fatalf("begin %v beside %v: %v", tt.begin, tt.running, err)
			}
			if tt.refused && (started || got.ID != running.ID) {
				t.Errorf("begin %v beside %v = run %d, started %v; want refused with run %d", tt.begin, tt.running, got.ID, started, running.ID)
			}
			if !tt.refused && (!started || got.ID == running.ID) {
				t.Errorf("begin %v beside %v = run %d, started %v; want a new run", tt.begin, tt.running, got.ID, started)
			}
			for _, r := range []models.SyncRun{running, got} {
				r.Status, r.FinishedAt = models.SyncStatusSucceeded, &t1
				_ = store.FinishSyncRun(ctx, r) // the refused one is the running one, already finished
			}
		}
	})
}

// Replicas pressing different, overlapping and disjoint buttons at the same moment:
// the disjoint syncs all start, and of each overlapping set exactly one does.
func TestBeginSyncRunOverlapsConcurrently(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		store := newStore(t, db)
		orgTree(t, store)
		begins := []models.SyncRun{
			newRun(models.SyncKindDepartmentUsers, 4, t0), newRun(models.SyncKindDepartmentUsers, 5, t0),
			newRun(models.SyncKindDepartmentUsers, 6, t0), newRun(models.SyncKindDepartmentUsers, 7, t0),
			newRun(models.SyncKindAllSubDepartmentUsers, 3, t0), newRun(models.SyncKindAllSubDepartmentUsers, 3, t0),
			newRun(models.SyncKindSubDepartments, 6, t0), newRun(models.SyncKindAllSubDepartments, 3, t0),
		}
		type result struct {
			run     models.SyncRun
			started bool
			err     error
		}
		results := make(chan result, len(begins))
		for _, r := range begins {
			go func() {
				run, started, err := store.BeginSyncRun(context.Background(), r, time.Time{})
				results <- result{run, started, err}
			}()
		}
		byScope := map[int64]int{} // started runs by department: 3 and 6 make one set
		for range begins {
			r := <-results
			if r.err != nil {
				t.Fatalf("BeginSyncRun: %v", r.err)
			}
			if r.started {
				dept := r.run.DeptID
				if dept == 6 {
					dept = 3
				}
				byScope[dept]++
			}
		}
		want := map[int64]int{4: 1, 5: 1, 7: 1, 3: 1}
		if !maps.Equal(byScope, want) {
			t.Errorf("started runs by department = %v, want %v", byScope, want)
		}
	})
}

func TestInterruptStaleSyncRuns(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		dead, _, err := store.BeginSyncRun(ctx, newRun(models.SyncKindDepartmentUsers, 4, t0), time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		alive, _, err := store.BeginSyncRun(ctx, newRun(models.SyncKindDepartmentUsers, 5, t0.Add(90*time.Second)), time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		now := t0.Add(3 * time.Minute)
		n, err := store.InterruptStaleSyncRuns(ctx, now.Add(-2*time.Minute), now)
		if err != nil || n != 1 {
			t.Fatalf("InterruptStaleSyncRuns = %d, %v; want 1", n, err)
		}
		got, _ := store.SyncRun(ctx, dead.ID)
		if got.Status != models.SyncStatusInterrupted || got.Error != models.SyncErrorCrashed || got.ActiveScope != nil ||
			got.FinishedAt == nil || !got.FinishedAt.Equal(now) {
			t.Errorf("stale run = %+v; want interrupted now, scope freed", got)
		}
		if got, _ := store.SyncRun(ctx, alive.ID); !got.Running() {
			t.Errorf("live run = %+v; want still running", got)
		}
		if n, err := store.InterruptStaleSyncRuns(ctx, now.Add(-2*time.Minute), now); err != nil || n != 0 {
			t.Errorf("second InterruptStaleSyncRuns = %d, %v; want 0", n, err)
		}
	})
}

func TestSyncRunJudged(t *testing.T) {
	staleBefore := t0
	tests := []struct {
		name       string
		run        models.SyncRun
		wantStatus models.SyncStatus
	}{
		{"running, fresh heartbeat", models.SyncRun{Status: models.SyncStatusRunning, HeartbeatAt: t0}, models.SyncStatusRunning},
		{"running, stale heartbeat", models.SyncRun{Status: models.SyncStatusRunning, HeartbeatAt: t0.Add(-time.Second)}, models.SyncStatusInterrupted},
		{"ended long ago", models.SyncRun{Status: models.SyncStatusSucceeded, HeartbeatAt: t0.Add(-time.Hour)}, models.SyncStatusSucceeded},
		{"failed long ago", models.SyncRun{Status: models.SyncStatusFailed, Error: "boom", HeartbeatAt: t0.Add(-time.Hour)}, models.SyncStatusFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.run.Judged(staleBefore)
			if got.Status != tt.wantStatus || got.Running() != (tt.wantStatus == models.SyncStatusRunning) {
				t.Errorf("Judged = %s, want %s", got.Status, tt.wantStatus)
			}
			if tt.wantStatus == models.SyncStatusInterrupted && got.Error != models.SyncErrorCrashed {
				t.Errorf("Error = %q, want %q", got.Error, models.SyncErrorCrashed)
			}
			if tt.wantStatus != models.SyncStatusInterrupted && got.Error != tt.run.Error {
				t.Errorf("Error = %q, want it unchanged", got.Error)
			}
		})
	}
}

func TestSyncKindValid(t *testing.T) {
	for _, k := range append(models.DepartmentSyncKinds(), models.SyncKindFull) {
		if !k.Valid() {
			t.Errorf("%s is not valid", k)
		}
	}
	for _, k := range []models.SyncKind{"", "drop_everything", "FULL"} {
		if k.Valid() {
			t.Errorf("%q is valid", k)
		}
	}
}
