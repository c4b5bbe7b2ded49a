package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
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

// Leases are judged by the database's clock, never a replica's: every replica then agrees
// on when a lease runs out, however far its own clock has drifted. The SQL below reads
// that clock as UTC (UTC_TIMESTAMP is independent of the session's time zone; SQLite's
// 'now' is UTC) and writes times in the form the drivers use for DATETIME(3) columns.

// DBNow returns the database server's current time in UTC, to the millisecond.
func (s *Store) DBNow(ctx context.Context) (time.Time, error) {
	row := s.db.WithContext(ctx).Raw(dbNowQuery(Dialect(s.db))).Row()
	if Dialect(s.db) == DialectMySQL {
		var t time.Time
		if err := row.Scan(&t); err != nil {
			return time.Time{}, dbError("read database clock", err)
		}
		return t.UTC(), nil
	}
	// SQLite answers text, as it has no time type.
	var text string
	if err := row.Scan(&text); err != nil {
		return time.Time{}, dbError("read database clock", err)
	}
	t, err := time.ParseInLocation(sqliteClockLayout, text, time.UTC)
	if err != nil {
		return time.Time{}, fmt.Errorf("read database clock: %w", err)
	}
	return t, nil
}

// sqliteClockLayout is how strftime('%Y-%m-%d %H:%M:%f') renders a time.
const sqliteClockLayout = "2006-01-02 15:04:05.000"

func dbNowQuery(dialect string) string {
	if dialect == DialectMySQL {
		return "SELECT UTC_TIMESTAMP(3)"
	}
	return "SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')"
}

// leaseSQL holds the SQL fragments of a lease of length ttl on one dialect.
type leaseSQL struct {
	now      string // the database's time now, as a column value
	until    string // now + ttl, as a column value; takes untilArg
	expired  string // condition: locked_until has passed by the database's clock
	untilArg any
}

func leaseFor(dialect string, ttl time.Duration) leaseSQL {
	if dialect == DialectMySQL {
		return leaseSQL{
			now:      "UTC_TIMESTAMP(3)",
			until:    "UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND",
			expired:  "locked_until <= UTC_TIMESTAMP(3)",
			untilArg: ttl.Microseconds(),
		}
	}
	// The "+00:00" suffix matches how the driver writes a UTC time; julianday reads
	// both forms (and a varying number of fraction digits), which text comparison would not.
	const layout = "'%Y-%m-%d %H:%M:%f+00:00'"
	return leaseSQL{
		now:      "strftime(" + layout + ", 'now')",
		until:    "strftime(" + layout + ", 'now', ?)",
		expired:  "julianday(locked_until) <= julianday('now')",
		untilArg: fmt.Sprintf("%+.3f seconds", ttl.Seconds()),
	}
}

// AcquireJobLock gives name's lease to owner for ttl if it has run out, by the
// database's clock, creating the row on the job's first run. Both statements are atomic
// on both databases, so of several replicas racing for a free lease exactly one gets true.
func (s *Store) AcquireJobLock(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	db := s.db.WithContext(ctx)
	lease := leaseFor(Dialect(db), ttl)
	res := db.Model(&JobLock{}).
		Where("name = ? AND "+lease.expired, name).
		Updates(map[string]any{
			"owner":        owner,
			"locked_at":    gorm.Expr(lease.now),
			"locked_until": gorm.Expr(lease.until, lease.untilArg),
		})
	if res.Error != nil {
		return false, dbError("take job lock", res.Error)
	}
	if res.RowsAffected > 0 {
		return true, nil
	}
	// The row is held, or this job never ran on this database. Ignoring the duplicate
	// rather than failing on it keeps a lost race out of the SQL error log.
	insert := "INSERT OR IGNORE"
	if Dialect(db) == DialectMySQL {
		insert = "INSERT IGNORE"
	}
	res = db.Exec(insert+" INTO job_locks (name, owner, locked_at, locked_until) VALUES (?, ?, "+
		lease.now+", "+lease.until+")", name, owner, lease.untilArg)
	if res.Error != nil {
		return false, dbError("create job lock", res.Error)
	}
	return res.RowsAffected > 0, nil
}

// RenewJobLock extends owner's lease on name to ttl from now, by the database's clock;
// false means owner no longer holds it.
func (s *Store) RenewJobLock(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	db := s.db.WithContext(ctx)
	lease := leaseFor(Dialect(db), ttl)
	res := db.Model(&JobLock{}).
		Where("name = ? AND owner = ?", name, owner).
		Update("locked_until", gorm.Expr(lease.until, lease.untilArg))
	if res.Error != nil {
		return false, dbError("renew job lock", res.Error)
	}
	return res.RowsAffected > 0, nil
}

// ReleaseJobLock frees owner's lease on name; false means owner no longer held it. A free
// lease ends in 1970, so it has run out by any clock.
func (s *Store) ReleaseJobLock(ctx context.Context, name, owner string) (bool, error) {
	res := s.db.WithContext(ctx).Model(&JobLock{}).
		Where("name = ? AND owner = ?", name, owner).
		Update("locked_until", time.Unix(0, 0).UTC())
	if res.Error != nil {
		return false, dbError("release job lock", res.Error)
	}
	return res.RowsAffected > 0, nil
}
