package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Sync run statuses.
const (
	SyncStatusRunning   = "running"
	SyncStatusSucceeded = "succeeded"
	SyncStatusFailed    = "failed"
)

// defaultSyncRunLimit is how many runs RecentSyncRuns returns when asked for none or fewer.
const defaultSyncRunLimit = 20

// SyncRun records one org sync: what it synced, who started it, how far it got and how it ended.
type SyncRun struct {
	ID      uint   `gorm:"column:id;primaryKey"`
	Kind    string `gorm:"column:kind"` // orgsync.Kind
	DeptID  int64  `gorm:"column:dept_id"`
	Trigger string `gorm:"column:run_trigger"` // "user" or "schedule"
	Actor   string `gorm:"column:actor"`       // username for user-triggered runs
	Status  string `gorm:"column:status"`      // SyncStatus*
	// Counters. "Changed" counts rows actually written: unchanged rows are not rewritten.
	DepartmentsSeen    int `gorm:"column:departments_seen"`
	DepartmentsChanged int `gorm:"column:departments_changed"` // inserted, updated or removed
	UsersSeen          int `gorm:"column:users_seen"`
	UsersChanged       int `gorm:"column:users_changed"` // inserted or updated
	UsersDeactivated   int `gorm:"column:users_deactivated"`
	MembershipsChanged int `gorm:"column:memberships_changed"` // department_members rows added or removed
	APICalls           int `gorm:"column:api_calls"`
	// Progress: units (departments to list or to read the members of) known so far and
	// done; UnitsTotal grows while a subtree walk discovers departments.
	UnitsTotal int `gorm:"column:units_total"`
	UnitsDone  int `gorm:"column:units_done"`
	// Errcode is DingTalk's normalised code when DingTalk's answer failed the run.
	Errcode     int        `gorm:"column:errcode"`
	Error       string     `gorm:"column:error"`
	StartedAt   time.Time  `gorm:"column:started_at"`
	FinishedAt  *time.Time `gorm:"column:finished_at"`
	HeartbeatAt time.Time  `gorm:"column:heartbeat_at"`
	// ActiveScope is SyncScope(Kind, DeptID) while the run runs and nil afterwards; a
	// unique index on it admits one running run per scope across all replicas.
	ActiveScope *string `gorm:"column:active_scope"`
}

// TableName implements gorm's tabler.
func (SyncRun) TableName() string { return "sync_runs" }

// Running reports whether the run has not ended.
func (r SyncRun) Running() bool { return r.Status == SyncStatusRunning }

// Percent is the progress of a running run from 0 to 100; an ended run is at 100.
func (r SyncRun) Percent() int {
	switch {
	case !r.Running():
		return 100
	case r.UnitsTotal <= 0:
		return 0
	}
	return min(100, max(0, r.UnitsDone*100/r.UnitsTotal))
}

// RowsWritten is how many rows of the org tables the run wrote.
func (r SyncRun) RowsWritten() int {
	return r.DepartmentsChanged + r.UsersChanged + r.UsersDeactivated + r.MembershipsChanged
}

// SyncScope names what a run syncs: "<kind>:<dept_id>", e.g. "full:1". Runs of the same
// scope must not overlap.
func SyncScope(kind string, deptID int64) string {
	return fmt.Sprintf("%s:%d", kind, deptID)
}

// interruptedError is the Error of a run taken over after its process stopped heartbeating.
const interruptedError = "interrupted: the process running it stopped (no heartbeat)"

// BeginSyncRun records run (Kind, DeptID, Trigger, Actor, StartedAt, HeartbeatAt set by
// the caller) as running and holding its scope, and returns it with started = true.
// When a run of the same scope is already running it returns that run and started = false.
// A running run whose heartbeat is older than staleBefore is taken to be dead: it is
// marked failed ("interrupted") and its scope given to run.
func (s *Store) BeginSyncRun(ctx context.Context, run SyncRun, staleBefore time.Time) (SyncRun, bool, error) {
	scope := SyncScope(run.Kind, run.DeptID)
	run.ID, run.Status, run.ActiveScope, run.FinishedAt = 0, SyncStatusRunning, &scope, nil
	// A retry happens only when another process took the scope between our look and our
	// insert, or freed it between our insert and our look, so a few rounds are plenty.
	for range 3 {
		err := s.db.WithContext(ctx).Model(&SyncRun{}).
			Where("active_scope = ? AND heartbeat_at < ?", scope, staleBefore).
			Updates(map[string]any{
				"status": SyncStatusFailed, "error": interruptedError,
				"finished_at": run.StartedAt, "active_scope": nil,
			}).Error
		if err != nil {
			return SyncRun{}, false, dbError("take over stale sync run", err)
		}
		var holder SyncRun
		err = s.db.WithContext(ctx).Where("active_scope = ?", scope).Take(&holder).Error
		if err == nil {
			return holder, false, nil
		}
		if err = dbError("find running sync run", err); !errors.Is(err, ErrNotFound) {
			return SyncRun{}, false, err
		}
		row := run
		// The unique index on active_scope is what admits a single run; losing that race
		// is expected, so the duplicate-key error is not logged as an SQL failure.
		err = s.db.WithContext(ctx).Session(&gorm.Session{Logger: logger.Discard}).Create(&row).Error
		if err == nil {
			return row, true, nil
		}
		if err = dbError("begin sync run", err); !errors.Is(err, ErrDuplicate) {
			return SyncRun{}, false, err
		}
	}
	return SyncRun{}, false, fmt.Errorf("begin sync run %s: scope keeps changing hands", scope)
}

// SaveSyncRunProgress writes the counters, progress and heartbeat of a running run. It
// returns ErrNotFound when the run is no longer running (e.g. taken over as stale).
func (s *Store) SaveSyncRunProgress(ctx context.Context, run SyncRun) error {
	return s.updateRunningSyncRun(ctx, "save sync run progress", run.ID, syncRunCounters(run))
}

// FinishSyncRun records the end of a running run: status, error, counters, FinishedAt,
// and frees its scope. It returns ErrNotFound when the run is no longer running.
func (s *Store) FinishSyncRun(ctx context.Context, run SyncRun) error {
	cols := syncRunCounters(run)
	cols["status"], cols["errcode"], cols["error"] = run.Status, run.Errcode, run.Error
	cols["finished_at"], cols["active_scope"] = run.FinishedAt, nil
	return s.updateRunningSyncRun(ctx, "finish sync run", run.ID, cols)
}

func syncRunCounters(r SyncRun) map[string]any {
	return map[string]any{
		"departments_seen": r.DepartmentsSeen, "departments_changed": r.DepartmentsChanged,
		"users_seen": r.UsersSeen, "users_changed": r.UsersChanged, "users_deactivated": r.UsersDeactivated,
		"memberships_changed": r.MembershipsChanged, "api_calls": r.APICalls,
		"units_total": r.UnitsTotal, "units_done": r.UnitsDone, "heartbeat_at": r.HeartbeatAt,
	}
}

// updateRunningSyncRun sets cols on run id if it is still running; the status condition
// keeps a run that was taken over from overwriting its "interrupted" outcome.
func (s *Store) updateRunningSyncRun(ctx context.Context, step string, id uint, cols map[string]any) error {
	res := s.db.WithContext(ctx).Model(&SyncRun{}).Where("id = ? AND status = ?", id, SyncStatusRunning).Updates(cols)
	if res.Error != nil {
		return dbError(step, res.Error)
	}
	if res.RowsAffected == 0 {
		return dbError(step, ErrNotFound)
	}
	return nil
}

// SyncRun returns the run id, or ErrNotFound.
func (s *Store) SyncRun(ctx context.Context, id uint) (SyncRun, error) {
	var r SyncRun
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&r).Error; err != nil {
		return SyncRun{}, dbError("find sync run", err)
	}
	return r, nil
}

// RecentSyncRuns returns the newest limit runs, newest first (limit <= 0 means 20).
func (s *Store) RecentSyncRuns(ctx context.Context, limit int) ([]SyncRun, error) {
	if limit <= 0 {
		limit = defaultSyncRunLimit
	}
	var runs []SyncRun
	if err := s.db.WithContext(ctx).Order("id DESC").Limit(limit).Find(&runs).Error; err != nil {
		return nil, dbError("list sync runs", err)
	}
	return runs, nil
}

// LastSyncRun returns the newest run of kind started by trigger, or ErrNotFound.
func (s *Store) LastSyncRun(ctx context.Context, kind, trigger string) (SyncRun, error) {
	var r SyncRun
	err := s.db.WithContext(ctx).Where("kind = ? AND run_trigger = ?", kind, trigger).Order("id DESC").Take(&r).Error
	if err != nil {
		return SyncRun{}, dbError("find last sync run", err)
	}
	return r, nil
}

// RunningSyncRuns returns every run that holds its scope, newest first: the syncs going on
// now, however many runs have ended since they began.
func (s *Store) RunningSyncRuns(ctx context.Context) ([]SyncRun, error) {
	var runs []SyncRun
	if err := s.db.WithContext(ctx).Where("active_scope IS NOT NULL").Order("id DESC").Find(&runs).Error; err != nil {
		return nil, dbError("list running sync runs", err)
	}
	return runs, nil
}
