package models

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"gorm.io/gorm/clause"
)

// SyncKind is what a sync run synchronises. It is stored in sync_runs.kind and names the
// buttons of the Departments screen; this list is its one definition.
type SyncKind string

// The sync actions: four per department on the Departments screen, and the full sync.
const (
	// SyncKindSubDepartments syncs the direct children of one department.
	SyncKindSubDepartments SyncKind = "sub_departments"
	// SyncKindAllSubDepartments syncs the whole subtree below one department.
	SyncKindAllSubDepartments SyncKind = "all_sub_departments"
	// SyncKindDepartmentUsers syncs the direct members of one department.
	SyncKindDepartmentUsers SyncKind = "department_users"
	// SyncKindAllSubDepartmentUsers syncs the subtree below one department and the members
	// of every department in it, the department itself included.
	SyncKindAllSubDepartmentUsers SyncKind = "all_sub_department_users"
	// SyncKindFull syncs every department from the root, then every user, and marks users
	// no longer in DingTalk inactive. Its department is always the root.
	SyncKindFull SyncKind = "full"
)

// DepartmentSyncKinds are the syncs every department offers, in the order of its buttons.
func DepartmentSyncKinds() []SyncKind {
	return []SyncKind{SyncKindSubDepartments, SyncKindAllSubDepartments, SyncKindDepartmentUsers, SyncKindAllSubDepartmentUsers}
}

// Valid reports whether k is one of the sync kinds.
func (k SyncKind) Valid() bool {
	return k == SyncKindFull || slices.Contains(DepartmentSyncKinds(), k)
}

// reach is how many levels below its department a sync of kind k writes: the department
// alone (0), its direct children (1), or its whole subtree (math.MaxInt).
func (k SyncKind) reach() int {
	switch k {
	case SyncKindDepartmentUsers:
		return 0
	case SyncKindSubDepartments:
		return 1
	}
	return math.MaxInt
}

// SyncStatus is where a sync run stands.
type SyncStatus string

// Sync run statuses.
const (
	SyncStatusRunning   SyncStatus = "running"
	SyncStatusSucceeded SyncStatus = "succeeded"
	// SyncStatusIncomplete is a run that finished but could not read some departments
	// even after retrying them; what it read is written, and nothing was removed or
	// deactivated on the strength of the parts it missed.
	SyncStatusIncomplete SyncStatus = "incomplete"
	SyncStatusFailed     SyncStatus = "failed"
	// SyncStatusInterrupted is a run whose server stopped before it ended: shut down
	// (the run recorded that itself) or crashed (its heartbeat went stale).
	SyncStatusInterrupted SyncStatus = "interrupted"
)

// SyncTrigger says who started a run.
type SyncTrigger string

// Triggers.
const (
	SyncTriggerUser     SyncTrigger = "user"     // an admin pressed a button
	SyncTriggerSchedule SyncTrigger = "schedule" // the scheduler
)

// Errors of interrupted runs.
const (
	// SyncErrorCrashed is the Error of a running run whose heartbeat went stale: the
	// process running it is gone.
	SyncErrorCrashed = "interrupted: the server stopped during the sync"
	// SyncErrorShutdown is the Error of a run stopped by a graceful shutdown.
	SyncErrorShutdown = "stopped: the server shut down"
)

// defaultSyncRunLimit is how many runs RecentSyncRuns returns when asked for none or fewer.
const defaultSyncRunLimit = 20

// SyncRun records one org sync: what it synced, who started it, how far it got and how it ended.
type SyncRun struct {
	ID      uint        `gorm:"column:id;primaryKey"`
	Kind    SyncKind    `gorm:"column:kind"`
	DeptID  int64       `gorm:"column:dept_id"`
	Trigger SyncTrigger `gorm:"column:run_trigger"`
	Actor   string      `gorm:"column:actor"` // username for user-triggered runs
	Status  SyncStatus  `gorm:"column:status"`
	// Counters. "Changed" counts rows actually written: unchanged rows are not rewritten.
	DepartmentsSeen    int `gorm:"column:departments_seen"`
	DepartmentsChanged int `gorm:"column:departments_changed"` // inserted, updated or removed
	UsersSeen          int `gorm:"column:users_seen"`
	UsersChanged       int `gorm:"column:users_changed"` // inserted or updated
	UsersDeactivated   int `gorm:"column:users_deactivated"`
	MembershipsChanged int `gorm:"column:memberships_changed"` // department_members rows added or removed
	APICalls           int `gorm:"column:api_calls"`
	// DepartmentsUnreadable counts the departments DingTalk did not answer for, even after
	// the run's retries; Error names them.
	DepartmentsUnreadable int `gorm:"column:departments_unreadable"`
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
	// DeptName is the stored name of department DeptID as the run is read (not a
	// column): screens name departments, not ids. Empty while the department has not
	// been synced (the root before the first sync).
	DeptName string `gorm:"-"`
}

// TableName implements gorm's tabler.
func (SyncRun) TableName() string { return "sync_runs" }

// Running reports whether the run has not ended.
func (r SyncRun) Running() bool { return r.Status == SyncStatusRunning }

// Judged returns the run as it stands when heartbeats older than staleBefore mean that
// its process is gone: a running run with such a heartbeat is reported interrupted,
// before any other start takes over its scope and records that.
func (r SyncRun) Judged(staleBefore time.Time) SyncRun {
	if r.Running() && r.HeartbeatAt.Before(staleBefore) {
		r.Status, r.Error = SyncStatusInterrupted, SyncErrorCrashed
	}
	return r
}

// Percent is the progress of the run from 0 to 100: how far a running, failed or
// interrupted run got; a run that went through to the end (succeeded, or incomplete
// with some departments unreadable) is at 100.
func (r SyncRun) Percent() int {
	switch {
	case r.Status == SyncStatusSucceeded || r.Status == SyncStatusIncomplete:
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
func SyncScope(kind SyncKind, deptID int64) string {
	return fmt.Sprintf("%s:%d", kind, deptID)
}

// BeginSyncRun records run (Kind, DeptID, Trigger, Actor, StartedAt, HeartbeatAt set by
// the caller) as running and holding its scope, and returns it with started = true.
//
// Runs whose departments overlap would read and write the same rows twice over and
// double the calls against DingTalk's limits, so when a running run covers a department
// run would write, or run would write one it covers (a full sync covers every
// department), BeginSyncRun returns that run with started = false. Running runs whose
// heartbeat is older than staleBefore are taken to be dead first: they are marked
// interrupted and their scopes freed.
//
// Inside InTx the run is begun in the caller's transaction (with its audit entry, say).
// The unique index on active_scope backs this up: a second run of the same scope fails
// with ErrDuplicate whatever happens.
func (s *Store) BeginSyncRun(ctx context.Context, run SyncRun, staleBefore time.Time) (SyncRun, bool, error) {
	var (
		out     SyncRun
		started bool
	)
	err := s.InTx(ctx, func(tx *Store) error {
		var err error
		out, started, err = tx.beginSyncRun(ctx, run, staleBefore)
		return err
	})
	return out, started, err
}

func (s *Store) beginSyncRun(ctx context.Context, run SyncRun, staleBefore time.Time) (SyncRun, bool, error) {
	scope := SyncScope(run.Kind, run.DeptID)
	run.ID, run.Status, run.ActiveScope, run.FinishedAt = 0, SyncStatusRunning, &scope, nil
	release, err := s.serializeSyncRunBegins(ctx)
	if err != nil {
		return SyncRun{}, false, err
	}
	defer release()
	if _, err := s.interruptStaleSyncRuns(ctx, staleBefore, run.StartedAt); err != nil {
		return SyncRun{}, false, err
	}
	// A locking read: it waits for a running run begun by a transaction that has not
	// committed yet, and then sees it.
	var running []SyncRun
	err = s.db.WithContext(ctx).Clauses(clause.Locking{Strength: "UPDATE"}).
		Where("active_scope IS NOT NULL").Order("id").Find(&running).Error
	if err != nil {
		return SyncRun{}, false, dbError("find running sync runs", err)
	}
	if len(running) > 0 {
		mine, err := s.departmentLineage(ctx, run.DeptID)
		if err != nil {
			return SyncRun{}, false, err
		}
		for _, r := range running {
			theirs, err := s.departmentLineage(ctx, r.DeptID)
			if err != nil {
				return SyncRun{}, false, err
			}
			if overlap(run.Kind, mine, r.Kind, theirs) {
				named, err := s.withDepartmentNames(ctx, []SyncRun{r})
				if err != nil {
					return SyncRun{}, false, err
				}
				return named[0], false, nil
			}
		}
	}
	if err := s.db.WithContext(ctx).Create(&run).Error; err != nil {
		return SyncRun{}, false, dbError("begin sync run", err)
	}
	named, err := s.withDepartmentNames(ctx, []SyncRun{run})
	if err != nil {
		return SyncRun{}, false, err
	}
	return named[0], true, nil
}

// withDepartmentNames sets DeptName of each run to its department's stored name.
func (s *Store) withDepartmentNames(ctx context.Context, runs []SyncRun) ([]SyncRun, error) {
	ids := make([]int64, 0, len(runs))
	for _, r := range runs {
		if !slices.Contains(ids, r.DeptID) {
			ids = append(ids, r.DeptID)
		}
	}
	names := make(map[int64]string, len(ids))
	for chunk := range slices.Chunk(ids, orgBatch) {
		var depts []Department
		if err := s.db.WithContext(ctx).Select("dept_id", "name").Where("dept_id IN ?", chunk).Find(&depts).Error; err != nil {
			return nil, dbError("name the departments of sync runs", err)
		}
		for _, d := range depts {
			names[d.DeptID] = d.Name
		}
	}
	for i := range runs {
		runs[i].DeptName = names[runs[i].DeptID]
	}
	return runs, nil
}

// syncBeginLockWait bounds how long a beginning waits for another to finish its check.
const syncBeginLockWait = 10

// serializeSyncRunBegins makes beginnings of sync runs take turns, so that no two check
// the running runs for overlaps at once and both start. SQLite's transactions take the
// write lock at BEGIN, so they take turns already. On MySQL a locking read of the
// running runs alone is not enough: with none running, two transactions would both find
// nothing and both insert. So this transaction takes a named lock for the database,
// which the returned function releases. It may release it before the transaction
// commits: the next beginning's locking read then waits for this one's new row.
func (s *Store) serializeSyncRunBegins(ctx context.Context) (release func(), err error) {
	if Dialect(s.db) != DialectMySQL {
		return func() {}, nil
	}
	// Lock names are server-wide and at most 64 characters long.
	const name = "CONCAT('dingfluence.sync_begin.', LEFT(DATABASE(), 40))"
	var got *int
	if err := s.db.WithContext(ctx).Raw("SELECT GET_LOCK("+name+", ?)", syncBeginLockWait).Scan(&got).Error; err != nil {
		return nil, dbError("lock sync run beginnings", err)
	}
	if got == nil || *got != 1 {
		return nil, fmt.Errorf("lock sync run beginnings: another beginning held the lock for %d s", syncBeginLockWait)
	}
	return func() {
		var released *int
		// Also after ctx ended: the lock lives as long as the connection, which goes back
		// to the pool.
		_ = s.db.WithContext(context.WithoutCancel(ctx)).Raw("SELECT RELEASE_LOCK(" + name + ")").Scan(&released).Error
	}, nil
}

// lineage is a department and its ancestors: at[id] is how many levels above the
// department id is (the department itself at 0).
type lineage struct {
	dept int64
	at   map[int64]int
}

// unknownDistance is the distance of the root above a department whose stored chain of
// parents breaks off (it or an ancestor is not stored yet): it is below the root, but
// how far is unknown, so only syncs of the root's whole subtree count as covering it.
const unknownDistance = math.MaxInt - 1

// departmentLineage follows parent_id up from deptID to the root.
func (s *Store) departmentLineage(ctx context.Context, deptID int64) (lineage, error) {
	l := lineage{dept: deptID, at: map[int64]int{deptID: 0}}
	for id, depth := deptID, 0; ; depth++ {
		var parents []int64
		err := s.db.WithContext(ctx).Model(&Department{}).Where("dept_id = ?", id).Pluck("parent_id", &parents).Error
		if err != nil {
			return lineage{}, dbError("find parent department", err)
		}
		switch {
		case len(parents) == 0:
			if _, ok := l.at[rootDepartmentID]; !ok {
				l.at[rootDepartmentID] = unknownDistance
			}
			return l, nil
		case parents[0] == 0:
			return l, nil // id is the root
		}
		id = parents[0]
		if _, seen := l.at[id]; seen {
			return l, nil // a cycle in an inconsistent tree must not loop forever
		}
		l.at[id] = depth + 1
	}
}

// rootDepartmentID is DingTalk's id of the whole organisation.
const rootDepartmentID = 1

// overlap reports whether syncs of kinds a and b, of the departments whose lineages are
// la and lb, would write a department in common. A sync writes its department and, down
// to its kind's reach, the departments below it; so they overlap exactly when one
// department is an ancestor (or the same) of the other, within the ancestor's reach.
func overlap(a SyncKind, la lineage, b SyncKind, lb lineage) bool {
	if d, ok := la.at[lb.dept]; ok && b.reach() >= d {
		return true
	}
	if d, ok := lb.at[la.dept]; ok && a.reach() >= d {
		return true
	}
	return false
}

// InterruptStaleSyncRuns marks every running run whose heartbeat is older than
// staleBefore as interrupted (its process is gone), ending it at now and freeing its
// scope, and returns how many it marked. A server calls it as it starts, so the runs it
// was running when it crashed stop showing as running.
func (s *Store) InterruptStaleSyncRuns(ctx context.Context, staleBefore, now time.Time) (int, error) {
	return s.interruptStaleSyncRuns(ctx, staleBefore, now)
}

func (s *Store) interruptStaleSyncRuns(ctx context.Context, staleBefore, now time.Time) (int, error) {
	res := s.db.WithContext(ctx).Model(&SyncRun{}).
		Where("active_scope IS NOT NULL AND status = ? AND heartbeat_at < ?", SyncStatusRunning, staleBefore).
		Updates(map[string]any{
			"status": SyncStatusInterrupted, "error": SyncErrorCrashed,
			"finished_at": now, "active_scope": nil,
		})
	if res.Error != nil {
		return 0, dbError("interrupt stale sync runs", res.Error)
	}
	return int(res.RowsAffected), nil
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
		"departments_unreadable": r.DepartmentsUnreadable,
		"units_total":            r.UnitsTotal, "units_done": r.UnitsDone, "heartbeat_at": r.HeartbeatAt,
	}
}

// updateRunningSyncRun sets cols on run id if it is still running; the status condition
// keeps a run that was taken over from overwriting its "interrupted" outcome.
func (s *Store) updateRunningSyncRun(ctx context.Context, step string, id uint, cols map[string]any) error {
	return s.updateWhileStatus(ctx, step, &SyncRun{}, id, SyncStatusRunning, cols)
}

// updateWhileStatus sets cols on row id of model's table only while its status is
// still status, answering ErrNotFound otherwise: a run that another process took over
// (or that ended) is never overwritten by its old owner. Org sync and directory runs
// share it.
func (s *Store) updateWhileStatus(ctx context.Context, step string, model any, id uint, status any, cols map[string]any) error {
	res := s.db.WithContext(ctx).Model(model).Where("id = ? AND status = ?", id, status).Updates(cols)
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
	named, err := s.withDepartmentNames(ctx, []SyncRun{r})
	if err != nil {
		return SyncRun{}, err
	}
	return named[0], nil
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
	return s.withDepartmentNames(ctx, runs)
}

// LastSyncRun returns the newest run of kind started by trigger, or ErrNotFound.
func (s *Store) LastSyncRun(ctx context.Context, kind SyncKind, trigger SyncTrigger) (SyncRun, error) {
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
	return s.withDepartmentNames(ctx, runs)
}
