package models_test

import (
	"context"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/models/modelstest"
)

// DBNow is the server's clock in UTC, whatever the session's time zone. (The test
// database runs beside the test, so its clock and the test's agree to well within the
// tolerance; a zone mix-up is off by whole hours.)
func TestDBNowIsTheDatabaseClockInUTC(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		if models.Dialect(db) == models.DialectMySQL {
			// One connection, set to another zone: DBNow must not follow it.
			sqlDB, err := db.DB()
			if err != nil {
				t.Fatal(err)
			}
			sqlDB.SetMaxOpenConns(1)
			if err := db.Exec("SET time_zone = '+08:00'").Error; err != nil {
				t.Fatal(err)
			}
		}
		store := newStore(t, db)
		first, err := store.DBNow(ctx)
		if err != nil {
			t.Fatalf("DBNow: %v", err)
		}
		second, err := store.DBNow(ctx)
		if err != nil {
			t.Fatalf("DBNow: %v", err)
		}
		if first.Location() != time.UTC || second.Before(first) {
			t.Errorf("DBNow = %v then %v, want UTC times that do not go back", first, second)
		}
		if off := time.Since(first); off < -10*time.Minute || off > 10*time.Minute {
			t.Errorf("DBNow = %v, %v away from this machine's clock: not UTC?", first, off)
		}
		if first.Nanosecond()%int(time.Millisecond) != 0 {
			t.Errorf("DBNow = %v, want millisecond precision as DATETIME(3) stores", first)
		}
	})
}

// A lease runs out by the database's clock: the times a replica holds are not asked.
func TestJobLeaseFollowsTheDatabaseClock(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		lock := func() models.JobLock {
			t.Helper()
			var l models.JobLock
			if err := db.Where("name = ?", "sync").Take(&l).Error; err != nil {
				t.Fatalf("read lock: %v", err)
			}
			return l
		}
		setUntil := func(d time.Duration) { // locked_until = the database's now + d
			t.Helper()
			now, err := store.DBNow(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Model(&models.JobLock{}).Where("name = ?", "sync").Update("locked_until", now.Add(d)).Error; err != nil {
				t.Fatal(err)
			}
		}
		acquire := func(owner string, want bool) {
			t.Helper()
			got, err := store.AcquireJobLock(ctx, "sync", owner, time.Hour)
			if err != nil || got != want {
				t.Fatalf("AcquireJobLock(%s) = %v, %v; want %v", owner, got, err, want)
			}
		}

		before, _ := store.DBNow(ctx)
		acquire("a", true) // creates the row
		after, _ := store.DBNow(ctx)
		if l := lock(); l.Owner != "a" || l.LockedUntil.Before(before.Add(time.Hour)) || l.LockedUntil.After(after.Add(time.Hour)) ||
			l.LockedAt.Before(before) || l.LockedAt.After(after) {
			t.Errorf("lease %+v, want a's from between %v and %v, for an hour", l, before, after)
		}
		acquire("b", false)

		setUntil(time.Second) // about to run out, not yet
		acquire("b", false)
		setUntil(-time.Millisecond) // just ran out
		acquire("b", true)
		if l := lock(); l.Owner != "b" {
			t.Fatalf("lease %+v, want b's", l)
		}

		setUntil(time.Second)
		if ok, err := store.RenewJobLock(ctx, "sync", "b", time.Hour); err != nil || !ok {
			t.Fatalf("RenewJobLock(b) = %v, %v", ok, err)
		}
		if now, _ := store.DBNow(ctx); lock().LockedUntil.Before(now.Add(59 * time.Minute)) {
			t.Errorf("renewed lease ends %v, want an hour after %v", lock().LockedUntil, now)
		}
		if ok, err := store.RenewJobLock(ctx, "sync", "a", time.Hour); err != nil || ok {
			t.Errorf("RenewJobLock(a) = %v, %v; want false, a lost it", ok, err)
		}

		if ok, err := store.ReleaseJobLock(ctx, "sync", "b"); err != nil || !ok {
			t.Fatalf("ReleaseJobLock(b) = %v, %v", ok, err)
		}
		acquire("a", true)
	})
}
