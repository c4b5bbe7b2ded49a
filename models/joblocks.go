package models

import (
	"context"
	"time"

	"gorm.io/gorm/clause"
)

// JobLock is one scheduler job's lease: the replica named by Owner runs the job until
// LockedUntil, renewing it while the run lasts (see package jobs).
type JobLock struct {
	Name        string    `gorm:"column:name;primaryKey"`
	Owner       string    `gorm:"column:owner"`
	LockedAt    time.Time `gorm:"column:locked_at"`
	LockedUntil time.Time `gorm:"column:locked_until"`
}

// TableName implements gorm's tabler.
func (JobLock) TableName() string { return "job_locks" }

// AcquireJobLock gives name's lease to owner until until, if it has run out by now,
// creating the row on the job's first run. Both statements are atomic on both databases,
// so of several replicas racing for a free lease exactly one gets true.
func (s *Store) AcquireJobLock(ctx context.Context, name, owner string, now, until time.Time) (bool, error) {
	db := s.db.WithContext(ctx)
	res := db.Model(&JobLock{}).
		Where("name = ? AND locked_until <= ?", name, now).
		Updates(map[string]any{"owner": owner, "locked_at": now, "locked_until": until})
	if res.Error != nil {
		return false, dbError("take job lock", res.Error)
	}
	if res.RowsAffected > 0 {
		return true, nil
	}
	// The row is held, or this job never ran on this database. Ignoring the duplicate
	// rather than failing on it keeps a lost race out of the SQL error log.
	ignore := clause.Insert{Modifier: "OR IGNORE"}
	if Dialect(db) == DialectMySQL {
		ignore = clause.Insert{Modifier: "IGNORE"}
	}
	res = db.Clauses(ignore).Create(&JobLock{Name: name, Owner: owner, LockedAt: now, LockedUntil: until})
	if res.Error != nil {
		return false, dbError("create job lock", res.Error)
	}
	return res.RowsAffected > 0, nil
}

// RenewJobLock extends owner's lease on name to until; false means owner no longer holds it.
func (s *Store) RenewJobLock(ctx context.Context, name, owner string, until time.Time) (bool, error) {
	res := s.db.WithContext(ctx).Model(&JobLock{}).
		Where("name = ? AND owner = ?", name, owner).
		Update("locked_until", until)
	if res.Error != nil {
		return false, dbError("renew job lock", res.Error)
	}
	return res.RowsAffected > 0, nil
}

// ReleaseJobLock frees owner's lease on name; false means owner no longer held it. A free
// lease ends in 1970, so no replica's clock, however skewed, sees it as held.
func (s *Store) ReleaseJobLock(ctx context.Context, name, owner string) (bool, error) {
	res := s.db.WithContext(ctx).Model(&JobLock{}).
		Where("name = ? AND owner = ?", name, owner).
		Update("locked_until", time.Unix(0, 0).UTC())
	if res.Error != nil {
		return false, dbError("release job lock", res.Error)
	}
	return res.RowsAffected > 0, nil
}
