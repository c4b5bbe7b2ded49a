package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/dingfluence/dingfluence/models"
)

// A job's lock is a lease: one row per job in job_locks naming the replica that holds it
// and until when. The holder renews it every lockTTL/3 for as long as the run lasts, so
// a run of any length keeps it, while a replica that dies mid-run blocks the job for at
// most lockTTL. (gocron-gorm-lock was not used: it inserts one row per job and time
// bucket, which deduplicates replicas firing in the same second but holds nothing for
// the length of a run, so a sync longer than its interval could start again elsewhere.)
const lockTTL = 2 * time.Minute

// lockDBTimeout bounds the lock's own statements that run without the job's context.
const lockDBTimeout = 10 * time.Second

// Debug messages of the lease's life (tests wait for them).
const (
	msgLockReleased = "job lock released"
	msgLockRenewed  = "job lock renewed"
)

// errLockHeld is what Lock returns when another replica holds a live lease.
var errLockHeld = errors.New("job lock held by another instance")

// jobLock is a row of job_locks, created by models' migration 202611250006_job_locks.
type jobLock struct {
	Name        string    `gorm:"column:name;size:100;primaryKey"`
	Owner       string    `gorm:"column:owner;size:255;not null;default:''"`
	LockedAt    time.Time `gorm:"column:locked_at;not null"`
	LockedUntil time.Time `gorm:"column:locked_until;not null"`
}

func (jobLock) TableName() string { return "job_locks" }

// locker takes and renews the leases in job_locks. Jobs take their lock inside their
// gocron task rather than through gocron's Locker hook, so that a tick's whole life (lock,
// run, release) is one function of ours: the run stops when its lease is lost, and the
// release is not handed gocron's job context, already cancelled at shutdown.
type locker struct {
	db    *gorm.DB
	clock clockwork.Clock
	// owner is unique per process, so a restarted replica does not mistake its
	// predecessor's lease for its own.
	owner string
	ttl   time.Duration
	log   *slog.Logger
}

func newLocker(db *gorm.DB, clock clockwork.Clock, instance string, log *slog.Logger) *locker {
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix) // never fails (crypto/rand)
	return &locker{
		db:    db,
		clock: clock,
		owner: instance + "#" + hex.EncodeToString(suffix),
		ttl:   lockTTL,
		log:   log,
	}
}

// now is the clock's time as DATETIME(3) stores it, so what is written compares
// consistently with what is read back.
func (l *locker) now() time.Time {
	return l.clock.Now().UTC().Truncate(time.Millisecond)
}

// Lock takes the lease on key, or returns errLockHeld if another replica holds it. The
// run goes on the lease's Context, derived from ctx.
func (l *locker) Lock(ctx context.Context, key string) (*lease, error) {
	ok, err := l.acquire(ctx, key, l.now())
	if err != nil {
		return nil, fmt.Errorf("lock job %s: %w", key, err)
	}
	if !ok {
		return nil, errLockHeld
	}
	runCtx, cancel := context.WithCancel(ctx)
	ls := &lease{
		ctx:    runCtx,
		cancel: cancel,
		locker: l,
		key:    key,
		log:    l.log.With(slog.String("job", key), slog.String("owner", l.owner)),
		ticker: l.clock.NewTicker(l.ttl / 3),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	go ls.renewLoop()
	return ls, nil
}

// acquire takes key's row if its lease has run out, creating the row on first use.
// Both statements are atomic on both databases, so of several replicas racing for a
// free lease exactly one sees a row affected.
func (l *locker) acquire(ctx context.Context, key string, now time.Time) (bool, error) {
	db := l.db.WithContext(ctx)
	res := db.Model(&jobLock{}).
		Where("name = ? AND locked_until <= ?", key, now).
		Updates(map[string]any{"owner": l.owner, "locked_at": now, "locked_until": now.Add(l.ttl)})
	if res.Error != nil {
		return false, res.Error
	}
	if res.RowsAffected > 0 {
		return true, nil
	}
	// The row is held, or this job never ran on this database. Ignoring the duplicate
	// rather than failing on it keeps a lost race out of the SQL error log.
	ignore := clause.Insert{Modifier: "OR IGNORE"}
	if models.Dialect(db) == models.DialectMySQL {
		ignore = clause.Insert{Modifier: "IGNORE"}
	}
	res = db.Clauses(ignore).Create(&jobLock{Name: key, Owner: l.owner, LockedAt: now, LockedUntil: now.Add(l.ttl)})
	if res.Error != nil {
		return false, res.Error
	}
	return res.RowsAffected > 0, nil
}

// lease is a held lock.
type lease struct {
	// ctx is the run's context, cancelled if the lease is lost to another replica.
	ctx    context.Context
	cancel context.CancelFunc
	locker *locker
	key    string
	log    *slog.Logger
	ticker clockwork.Ticker
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

func (ls *lease) renewLoop() {
	defer close(ls.done)
	for {
		select {
		case <-ls.stop:
			return
		case <-ls.ticker.Chan():
			if !ls.renew() {
				return
			}
		}
	}
}

// renew extends the lease and reports whether it is still ours.
func (ls *lease) renew() bool {
	ctx, cancel := context.WithTimeout(context.Background(), lockDBTimeout)
	defer cancel()
	l := ls.locker
	res := l.db.WithContext(ctx).Model(&jobLock{}).
		Where("name = ? AND owner = ?", ls.key, l.owner).
		Update("locked_until", l.now().Add(l.ttl))
	switch {
	case res.Error != nil:
		// Keep trying: the lease has 2/3 of lockTTL left before another replica may take it.
		ls.log.LogAttrs(ctx, slog.LevelWarn, "cannot renew job lock", slog.Any("error", res.Error))
		return true
	case res.RowsAffected == 0:
		// Another replica took the lease after it ran out (this one stalled, or could not
		// reach the database): stop, rather than run beside it.
		ls.log.LogAttrs(ctx, slog.LevelError, "job lock lost to another instance; stopping the run")
		ls.cancel()
		return false
	default:
		ls.log.Debug(msgLockRenewed)
		return true
	}
}

// stopRenewing ends the renewal and waits for it, so a renewal cannot re-take the lease
// after it was released.
func (ls *lease) stopRenewing() {
	ls.once.Do(func() {
		ls.ticker.Stop()
		close(ls.stop)
	})
	<-ls.done
}

// Unlock releases the lease if this replica still holds it. It does so even when ctx is
// cancelled (the run ended because of a shutdown): otherwise the other replicas would
// wait out the lease.
func (ls *lease) Unlock(ctx context.Context) error {
	ls.stopRenewing()
	defer ls.cancel()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lockDBTimeout)
	defer cancel()
	l := ls.locker
	// A free lease ends in 1970, so no replica's clock, however skewed, sees it as held.
	res := l.db.WithContext(ctx).Model(&jobLock{}).
		Where("name = ? AND owner = ?", ls.key, l.owner).
		Update("locked_until", time.Unix(0, 0).UTC())
	switch {
	case res.Error != nil:
		ls.log.LogAttrs(ctx, slog.LevelWarn, "cannot release job lock; it frees itself when its lease runs out", slog.Any("error", res.Error))
		return fmt.Errorf("unlock job %s: %w", ls.key, res.Error)
	case res.RowsAffected == 0:
		ls.log.LogAttrs(ctx, slog.LevelWarn, "job lock was taken over by another instance before the run ended")
	default:
		ls.log.Debug(msgLockReleased)
	}
	return nil
}
