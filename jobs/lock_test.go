package jobs

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"gorm.io/gorm"

	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/models/modelstest"
)

func slogDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestLockLease(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		newLockers := func(n int) (*clockwork.FakeClock, *recorder, []*locker) {
			clock := clockwork.NewFakeClockAt(startTime())
			rec := newRecorder(msgLockRenewed)
			ls := make([]*locker, n)
			for i := range ls {
				ls[i] = newLocker(locks(db), clock, "replica", rec.logger())
			}
			return clock, rec, ls
		}
		lock := func(t *testing.T, l *locker, key string) *lease {
			t.Helper()
			held, err := l.Lock(ctx, key)
			if err != nil {
				t.Fatalf("%s: Lock(%s): %v", l.owner, key, err)
			}
			return held
		}
		refused := func(t *testing.T, l *locker, key string) {
			t.Helper()
			if held, err := l.Lock(ctx, key); !errors.Is(err, errLockHeld) {
				if err == nil {
					_ = held.Unlock(ctx)
				}
				t.Fatalf("%s: Lock(%s) = %v, want errLockHeld", l.owner, key, err)
			}
		}
		unlock := func(t *testing.T, held *lease) {
			t.Helper()
			if err := held.Unlock(ctx); err != nil {
				t.Fatalf("Unlock: %v", err)
			}
		}

		t.Run("refuses others until released", func(t *testing.T) {
			_, _, ls := newLockers(2)
			a, b := ls[0], ls[1]
			held := lock(t, a, "release")
			refused(t, b, "release")
			refused(t, a, "release") // not reentrant either
			unlock(t, held)
			unlock(t, lock(t, b, "release"))
		})

		t.Run("one of many racing replicas wins", func(t *testing.T) {
			for range 2 { // the first race creates the row, the second takes it over
				_, _, ls := newLockers(8)
				var (
					wg    sync.WaitGroup
					mu    sync.Mutex
					won   []*lease
					start = make(chan struct{})
				)
				for _, l := range ls {
					wg.Go(func() {
						<-start
						held, err := l.Lock(ctx, "race")
						if err != nil && !errors.Is(err, errLockHeld) {
							t.Errorf("Lock: %v", err)
							return
						}
						if err == nil {
							mu.Lock()
							won = append(won, held)
							mu.Unlock()
						}
					})
				}
				close(start)
				wg.Wait()
				if len(won) != 1 {
					t.Fatalf("%d replicas got the lock, want 1", len(won))
				}
				unlock(t, won[0])
			}
		})

		// setUntil moves the lease on key to end d from the database's now.
		setUntil := func(t *testing.T, key string, d time.Duration) {
			t.Helper()
			now, err := models.NewStore(db, nil).DBNow(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Model(&models.JobLock{}).Where("name = ?", key).Update("locked_until", now.Add(d)).Error; err != nil {
				t.Fatal(err)
			}
		}
		leaseEnd := func(t *testing.T, key string) time.Time {
			t.Helper()
			var l models.JobLock
			if err := db.Where("name = ?", key).Take(&l).Error; err != nil {
				t.Fatal(err)
			}
			return l.LockedUntil
		}

		t.Run("a live holder renews its lease", func(t *testing.T) {
			clock, rec, ls := newLockers(2)
			a, b := ls[0], ls[1]
			held := lock(t, a, "renew")
			for range 3 {
				setUntil(t, "renew", time.Second) // about to run out
				advance(t, clock, 1, lockTTL/3)
				rec.expect(t, msgLockRenewed)
				now, err := models.NewStore(db, nil).DBNow(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if end := leaseEnd(t, "renew"); end.Before(now.Add(lockTTL - time.Minute)) {
					t.Fatalf("renewed lease ends %v, want about %v after %v", end, lockTTL, now)
				}
			}
			refused(t, b, "renew")
			unlock(t, held)
			unlock(t, lock(t, b, "renew"))
			rec.checkNoProblems(t)
		})

		t.Run("a dead holder's lease is taken over once it runs out", func(t *testing.T) {
			_, _, ls := newLockers(3)
			a, b, c := ls[0], ls[1], ls[2]
			held := lock(t, a, "expire")
			held.stopRenewing() // a hangs or dies mid-run
			setUntil(t, "expire", time.Second)
			refused(t, b, "expire")
			setUntil(t, "expire", -time.Millisecond)
			taken := lock(t, b, "expire")
			unlock(t, held) // a wakes up: its late unlock must not free b's lease
			refused(t, c, "expire")
			unlock(t, taken)
		})

		t.Run("a replica whose clock runs ahead or behind does not change when a lease runs out", func(t *testing.T) {
			clock, _, ls := newLockers(1)
			held := lock(t, ls[0], "skew")
			for _, skew := range []time.Duration{time.Hour, 24 * time.Hour, -time.Hour} {
				skewed := newLocker(locks(db), clockwork.NewFakeClockAt(clock.Now().Add(skew)), "skewed", slogDiscard())
				refused(t, skewed, "skew")
			}
			unlock(t, held)
		})
	})
}
