package models_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/models/modelstest"
)

func newRun(kind string, dept int64, at time.Time) models.SyncRun {
	return models.SyncRun{Kind: kind, DeptID: dept, Trigger: "user", Actor: "admin", StartedAt: at, HeartbeatAt: at}
}

func TestBeginSyncRunAdmitsOneRunPerScope(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		stale := t0.Add(-2 * time.Minute)

		first, started, err := store.BeginSyncRun(ctx, newRun("department_users", 5, t0), stale)
		if err != nil || !started {
			t.Fatalf("first BeginSyncRun = %v, %v", started, err)
		}
		if first.ID == 0 || first.Status != models.SyncStatusRunning || first.ActiveScope == nil || *first.ActiveScope != "department_users:5" {
			t.Errorf("first run = %+v", first)
		}

		again, started, err := store.BeginSyncRun(ctx, newRun("department_users", 5, t0.Add(time.Second)), stale)
		if err != nil || started || again.ID != first.ID {
			t.Errorf("same scope while running = run %d, started %v, %v; want run %d, not started", again.ID, started, err, first.ID)
		}
		other, started, err := store.BeginSyncRun(ctx, newRun("department_users", 6, t0), stale)
		if err != nil || !started || other.ID == first.ID {
			t.Errorf("other department = run %d, started %v, %v; want a new run", other.ID, started, err)
		}
		full, started, err := store.BeginSyncRun(ctx, newRun("full", 1, t0), stale)
		if err != nil || !started || *full.ActiveScope != "full:1" {
			t.Errorf("full sync = %+v, started %v, %v", full, started, err)
		}

		first.Status, first.FinishedAt = models.SyncStatusSucceeded, &t1
		if err := store.FinishSyncRun(ctx, first); err != nil {
			t.Fatalf("FinishSyncRun: %v", err)
		}
		next, started, err := store.BeginSyncRun(ctx, newRun("department_users", 5, t1), t1.Add(-2*time.Minute))
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
				run, started, err := store.BeginSyncRun(context.Background(), newRun("full", 1, t0), t0.Add(-time.Minute))
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
		crashed, _, err := store.BeginSyncRun(ctx, newRun("full", 1, t0), t0.Add(-2*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		crashed.UsersChanged, crashed.HeartbeatAt = 7, t0.Add(30*time.Second)
		if err := store.SaveSyncRunProgress(ctx, crashed); err != nil {
			t.Fatal(err)
		}

		// 90 s after the last heartbeat the run still counts as alive.
		at := t0.Add(2 * time.Minute)
		if got, started, _ := store.BeginSyncRun(ctx, newRun("full", 1, at), at.Add(-2*time.Minute)); started || got.ID != crashed.ID {
			t.Fatalf("begin 90 s after the last heartbeat = run %d started %v; want the running run %d", got.ID, started, crashed.ID)
		}
		at = t0.Add(3 * time.Minute)
		next, started, err := store.BeginSyncRun(ctx, newRun("full", 1, at), at.Add(-2*time.Minute))
		if err != nil || !started || next.ID == crashed.ID {
			t.Fatalf("begin 150 s after the last heartbeat = run %d started %v, %v; want a new run", next.ID, started, err)
		}
		old, err := store.SyncRun(ctx, crashed.ID)
		if err != nil {
			t.Fatal(err)
		}
		if old.Status != models.SyncStatusFailed || old.Error == "" || old.ActiveScope != nil || old.FinishedAt == nil ||
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
		run, _, err := store.BeginSyncRun(ctx, newRun("all_sub_department_users", 2, t0), t0)
		if err != nil {
			t.Fatal(err)
		}
		run.DepartmentsSeen, run.DepartmentsChanged, run.UsersSeen, run.UsersChanged = 3, 2, 250, 249
		run.MembershipsChanged, run.APICalls, run.UnitsTotal, run.UnitsDone = 251, 9, 6, 4
		run.HeartbeatAt = t0.Add(time.Second)
		if err := store.SaveSyncRunProgress(ctx, run); err != nil {
			t.Fatalf("SaveSyncRunProgress: %v", err)
		}
		got, err := store.SyncRun(ctx, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.UsersSeen != 250 || got.UnitsDone != 4 || got.APICalls != 9 || got.MembershipsChanged != 251 ||
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
			got.FinishedAt == nil || !got.FinishedAt.Equal(t1) || got.UnitsDone != 5 || got.Running() || got.Percent() != 100 {
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
		if _, err := store.LastSyncRun(ctx, "full", "schedule"); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("LastSyncRun on no runs = %v, want ErrNotFound", err)
		}
		begin := func(kind, trigger string, at time.Time) models.SyncRun {
			r := newRun(kind, 1, at)
			r.Trigger = trigger
			run, _, err := store.BeginSyncRun(ctx, r, at)
			if err != nil {
				t.Fatal(err)
			}
			run.Status, run.FinishedAt = models.SyncStatusSucceeded, &at
			if err := store.FinishSyncRun(ctx, run); err != nil {
				t.Fatal(err)
			}
			return run
		}
		begin("full", "schedule", t0)
		wantLast := begin("full", "schedule", t1)
		begin("full", "user", t2)
		newest := begin("sub_departments", "user", t2)

		last, err := store.LastSyncRun(ctx, "full", "schedule")
		if err != nil || last.ID != wantLast.ID {
			t.Errorf("LastSyncRun(full, schedule) = %d, %v; want %d", last.ID, err, wantLast.ID)
		}
		recent, err := store.RecentSyncRuns(ctx, 3)
		if err != nil || len(recent) != 3 || recent[0].ID != newest.ID || recent[2].ID != wantLast.ID {
			t.Errorf("RecentSyncRuns(3) = %d runs, first %d, %v; want 3, newest (%d) first", len(recent), recent[0].ID, err, newest.ID)
		}

		// A run still going is listed as running however many runs ended after it began.
		going, started, err := store.BeginSyncRun(ctx, newRun("department_users", 7, t0), t0)
		if err != nil || !started {
			t.Fatalf("begin a long run: %v", err)
		}
		for range 12 {
			begin("sub_departments", "user", t2)
		}
		running, err := store.RunningSyncRuns(ctx)
		if err != nil || len(running) != 1 || running[0].ID != going.ID {
			t.Errorf("RunningSyncRuns = %+v, %v; want only run %d", running, err, going.ID)
		}
	})
}

func TestSyncRunPercent(t *testing.T) {
	tests := []struct {
		status      string
		total, done int
		want        int
	}{
		{models.SyncStatusRunning, 0, 0, 0},
		{models.SyncStatusRunning, 4, 1, 25},
		{models.SyncStatusRunning, 3, 3, 100},
		{models.SyncStatusRunning, 3, 5, 100},
		{models.SyncStatusSucceeded, 0, 0, 100},
		{models.SyncStatusFailed, 10, 2, 100},
	}
	for _, tt := range tests {
		r := models.SyncRun{Status: tt.status, UnitsTotal: tt.total, UnitsDone: tt.done}
		if got := r.Percent(); got != tt.want {
			t.Errorf("Percent of %s %d/%d = %d, want %d", tt.status, tt.done, tt.total, got, tt.want)
		}
	}
}
