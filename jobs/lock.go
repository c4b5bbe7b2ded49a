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
)

// A job's lock is a lease: one row per job in job_locks naming the replica that holds it
// and until when, by the database's clock. The holder renews it every lockTTL/3 (by its
// own clock) for as long as the run lasts, so a run of any length keeps it, while a
// replica that dies mid-run blocks the job for at most lockTTL. (gocron-gorm-lock was not used: it inserts one row per job and time
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

// LockStore keeps the job leases, timing them by the database's clock; models.Store
// implements it.
type LockStore interface {
	AcquireJobLock(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	RenewJobLock(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	ReleaseJobLock(ctx context.Context, name, owner string) (bool, error)
}

// locker takes and renews the leases in job_locks. Jobs take their lock inside their
// gocron task rather than through gocron's Locker hook, so that a tick's whole life (lock,
// run, release) is one function of ours: the run stops when its lease is lost, and the
// release is not handed gocron's job context, already cancelled at shutdown.
type locker struct {
	store LockStore
	clock clockwork.Clock
	// owner is unique per process, so a restarted replica does not mistake its
	// predecessor's lease for its own.
	owner string
	ttl   time.Duration
	log   *slog.Logger
}

func newLocker(store LockStore, clock clockwork.Clock, instance string, log *slog.Logger) *locker {
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix) // never fails (crypto/rand)
	return &locker{
		store: store,
		clock: clock,
		owner: instance + "#" + hex.EncodeToString(suffix),
		ttl:   lockTTL,
		log:   log,
	}
}

// Lock takes the lease on key, or returns errLockHeld if another replica holds it. The
// run goes on the lease's Context, derived from ctx.
func (l *locker) Lock(ctx context.Context, key string) (*lease, error) {
	ok, err := l.store.AcquireJobLock(ctx, key, l.owner, l.ttl)
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
	held, err := l.store.RenewJobLock(ctx, ls.key, l.owner, l.ttl)
	switch {
	case err != nil:
		// Keep trying: the lease has 2/3 of lockTTL left before another replica may take it.
		ls.log.LogAttrs(ctx, slog.LevelWarn, "cannot renew job lock", slog.Any("error", err))
		return true
	case !held:
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
	held, err := ls.locker.store.ReleaseJobLock(ctx, ls.key, ls.locker.owner)
	switch {
	case err != nil:
		ls.log.LogAttrs(ctx, slog.LevelWarn, "cannot release job lock; it frees itself when its lease runs out", slog.Any("error", err))
		return fmt.Errorf("unlock job %s: %w", ls.key, err)
	case !held:
		ls.log.LogAttrs(ctx, slog.LevelWarn, "job lock was taken over by another instance before the run ended")
	default:
		ls.log.Debug(msgLockReleased)
	}
	return nil
}
