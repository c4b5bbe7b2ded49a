package models

import (
	"context"
	"errors"
	"time"
)

// DirectoryStatus is where a directory sync run stands.
type DirectoryStatus string

// Directory run statuses.
const (
	DirectoryRunning   DirectoryStatus = "running"
	DirectorySucceeded DirectoryStatus = "succeeded"
	DirectoryFailed    DirectoryStatus = "failed"
	// DirectoryInterrupted is a run whose server stopped before it ended (shut down, or
	// crashed and its heartbeat went stale). Nothing is written until the listing is
	// complete, so an interrupted run changed no user.
	DirectoryInterrupted DirectoryStatus = "interrupted"
)

// DirectoryTrigger says what started a directory sync.
type DirectoryTrigger string

// Directory triggers.
const (
	DirectoryTriggerUser     DirectoryTrigger = "user"     // an admin asked for it
	DirectoryTriggerSchedule DirectoryTrigger = "schedule" // the scheduler, e.g. after an org sync
)

// DirectoryErrorCrashed is the Error of a running run whose heartbeat went stale.
const DirectoryErrorCrashed = "interrupted: the server stopped during the directory sync"

// DirectoryErrorShutdown is the error of a run a graceful shutdown stopped.
const DirectoryErrorShutdown = "stopped: the server shut down"

// defaultDirectoryRunLimit is how many runs RecentDirectoryRuns returns when asked for none.
const defaultDirectoryRunLimit = 20

// directorySlot is the value of active_slot while a directory sync runs: one slot, so
// one run at a time across replicas.
const directorySlot = "directory"

// DirectoryRun records one Confluence directory sync.
type DirectoryRun struct {
	ID        uint             `gorm:"column:id;primaryKey"`
	Trigger   DirectoryTrigger `gorm:"column:run_trigger"`
	Actor     string           `gorm:"column:actor"`
	GroupName string           `gorm:"column:group_name"`
	Status    DirectoryStatus  `gorm:"column:status"`
	// Counters; the "users_" ones count rows written.
	UsersSeen        int `gorm:"column:users_seen"` // distinct members listed
	UsersCreated     int `gorm:"column:users_created"`
	UsersUpdated     int `gorm:"column:users_updated"` // renamed, new name or e-mail, (re)activated
	UsersDeactivated int `gorm:"column:users_deactivated"`
	// UsersSkipped counts members whose username a local account (the admin) holds.
	UsersSkipped   int `gorm:"column:users_skipped"`
	MatchesChanged int `gorm:"column:matches_changed"` // match results the re-match wrote
	// APICalls counts the Confluence calls the run made: member pages and user lookups
	// (a call the client retried counts once).
	APICalls int `gorm:"column:api_calls"`
	// Progress: member pages read, and the members the previous sync found (the total
	// of this one is unknown until the last page).
	PagesDone     int `gorm:"column:pages_done"`
	ExpectedUsers int `gorm:"column:expected_users"`
	// HTTPStatus is Confluence's status when its answer failed the run; Error its message.
	HTTPStatus  int        `gorm:"column:http_status"`
	Error       string     `gorm:"column:error"`
	StartedAt   time.Time  `gorm:"column:started_at"`
	FinishedAt  *time.Time `gorm:"column:finished_at"`
	HeartbeatAt time.Time  `gorm:"column:heartbeat_at"`
	// ActiveSlot is "directory" while the run runs, nil afterwards; unique.
	ActiveSlot *string `gorm:"column:active_slot"`
}

// TableName implements gorm's tabler.
func (DirectoryRun) TableName() string { return "directory_runs" }

// Running reports whether the run has not ended.
func (r DirectoryRun) Running() bool { return r.Status == DirectoryRunning }

// Judged is r as it stands at a time whose stale limit is staleBefore: a running run
// whose heartbeat is older is shown interrupted (its server is gone), though its row
// says running until the next start or start-up takes it over.
func (r DirectoryRun) Judged(staleBefore time.Time) DirectoryRun {
	if r.Running() && r.HeartbeatAt.Before(staleBefore) {
		r.Status, r.Error = DirectoryInterrupted, DirectoryErrorCrashed
	}
	return r
}

// Duration is how long an ended run took; 0 while it runs.
func (r DirectoryRun) Duration() time.Duration {
	if r.FinishedAt == nil {
		return 0
	}
	return r.FinishedAt.Sub(r.StartedAt)
}

// Percent estimates the progress of a running run from the members the previous sync
// found; an ended run is at 100.
func (r DirectoryRun) Percent() int {
	switch {
	case !r.Running():
		return 100
	case r.ExpectedUsers <= 0:
		return 0
	}
	return min(99, r.UsersSeen*100/r.ExpectedUsers)
}

// RowsWritten is how many user rows the run wrote.
func (r DirectoryRun) RowsWritten() int {
	return r.UsersCreated + r.UsersUpdated + r.UsersDeactivated
}

// BeginDirectoryRun records run (Trigger, Actor, GroupName, StartedAt, HeartbeatAt,
// ExpectedUsers set by the caller) as running and returns it with started = true. While
// another directory sync runs it returns that one with started = false; a running run
// whose heartbeat is older than staleBefore is first marked interrupted. The unique
// index on active_slot is what admits a single run, across replicas too.
func (s *Store) BeginDirectoryRun(ctx context.Context, run DirectoryRun, staleBefore time.Time) (DirectoryRun, bool, error) {
	if _, err := s.InterruptStaleDirectoryRuns(ctx, staleBefore, run.StartedAt); err != nil {
		return DirectoryRun{}, false, err
	}
	var holder DirectoryRun
	err := s.db.WithContext(ctx).Where("active_slot = ?", directorySlot).Limit(1).Find(&holder).Error
	if err != nil {
		return DirectoryRun{}, false, dbError("find running directory run", err)
	}
	if holder.ID != 0 {
		return holder, false, nil
	}
	slot := directorySlot
	run.ID, run.Status, run.ActiveSlot, run.FinishedAt = 0, DirectoryRunning, &slot, nil
	err = s.db.WithContext(ctx).Create(&run).Error
	if err == nil {
		return run, true, nil
	}
	// Another replica began one between the read and the insert.
	if err = dbError("begin directory run", err); !errors.Is(err, ErrDuplicate) {
		return DirectoryRun{}, false, err
	}
	if err := s.db.WithContext(ctx).Where("active_slot = ?", directorySlot).Take(&holder).Error; err != nil {
		// It ended between our insert and this read: report it busy all the same; the
		// caller may simply try again.
		return DirectoryRun{}, false, dbError("find running directory run", err)
	}
	return holder, false, nil
}

// InterruptStaleDirectoryRuns marks running runs whose heartbeat is older than
// staleBefore as interrupted, ending them at now and freeing the slot.
func (s *Store) InterruptStaleDirectoryRuns(ctx context.Context, staleBefore, now time.Time) (int, error) {
	res := s.db.WithContext(ctx).Model(&DirectoryRun{}).
		Where("active_slot IS NOT NULL AND status = ? AND heartbeat_at < ?", DirectoryRunning, staleBefore).
		Updates(map[string]any{
			"status": DirectoryInterrupted, "error": DirectoryErrorCrashed, "finished_at": now, "active_slot": nil,
		})
	if res.Error != nil {
		return 0, dbError("interrupt stale directory runs", res.Error)
	}
	return int(res.RowsAffected), nil
}

// SaveDirectoryRunProgress writes the counters and heartbeat of a running run; it
// returns ErrNotFound when the run is no longer running (taken over as stale).
func (s *Store) SaveDirectoryRunProgress(ctx context.Context, run DirectoryRun) error {
	return s.updateRunningDirectoryRun(ctx, "save directory run progress", run.ID, directoryRunCounters(run))
}

// FinishDirectoryRun records the end of a running run and frees the slot; it returns
// ErrNotFound when the run is no longer running.
func (s *Store) FinishDirectoryRun(ctx context.Context, run DirectoryRun) error {
	cols := directoryRunCounters(run)
	cols["status"], cols["http_status"], cols["error"] = run.Status, run.HTTPStatus, run.Error
	cols["finished_at"], cols["active_slot"] = run.FinishedAt, nil
	return s.updateRunningDirectoryRun(ctx, "finish directory run", run.ID, cols)
}

func directoryRunCounters(r DirectoryRun) map[string]any {
	return map[string]any{
		"users_seen": r.UsersSeen, "users_created": r.UsersCreated, "users_updated": r.UsersUpdated,
		"users_deactivated": r.UsersDeactivated, "users_skipped": r.UsersSkipped,
		"matches_changed": r.MatchesChanged, "api_calls": r.APICalls, "pages_done": r.PagesDone,
		"expected_users": r.ExpectedUsers, "heartbeat_at": r.HeartbeatAt,
	}
}

// updateRunningDirectoryRun sets cols on run id if it is still running.
func (s *Store) updateRunningDirectoryRun(ctx context.Context, step string, id uint, cols map[string]any) error {
	return s.updateWhileStatus(ctx, step, &DirectoryRun{}, id, DirectoryRunning, cols)
}

// DirectoryRunByID returns run id, or ErrNotFound.
func (s *Store) DirectoryRunByID(ctx context.Context, id uint) (DirectoryRun, error) {
	var r DirectoryRun
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&r).Error; err != nil {
		return DirectoryRun{}, dbError("find directory run", err)
	}
	return r, nil
}

// RecentDirectoryRuns returns the newest limit runs, newest first (limit <= 0 means 20).
func (s *Store) RecentDirectoryRuns(ctx context.Context, limit int) ([]DirectoryRun, error) {
	if limit <= 0 {
		limit = defaultDirectoryRunLimit
	}
	var runs []DirectoryRun
	if err := s.db.WithContext(ctx).Order("id DESC").Limit(limit).Find(&runs).Error; err != nil {
		return nil, dbError("list directory runs", err)
	}
	return runs, nil
}
