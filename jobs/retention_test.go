package jobs

import (
	"context"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"gorm.io/gorm"

	"github.com/dingfluence/dingfluence/models/modelstest"
)

// sweeper records each retention call on a channel.
type sweeper struct{ calls chan time.Time }

func (s sweeper) DeleteExpiredSessions(_ context.Context, now time.Time) (int64, error) {
	s.calls <- now
	return 0, nil
}

func TestRetentionRemovesExpiredSessionsPeriodically(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		clock := clockwork.NewFakeClockAt(startTime())
		rec := newRecorder(msgLockReleased, msgTickSkipped)
		sw := sweeper{calls: make(chan time.Time, 10)}
		// Both jobs tick every 30 minutes, so they fire together and the test can wait
		// for both ticks to be handled before moving the clock on.
		s, err := New(locks(db), &fakeSettings{}, &memOrg{clock: clock}, Options{
			Logger: rec.logger(), Clock: clock, Tick: 30 * time.Minute,
			Sessions: sw, RetentionEvery: 30 * time.Minute,
		})
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		t.Cleanup(func() { _ = s.Shutdown() })

		// tick moves the clock by d and waits until both jobs have handled that tick:
		// run and released their lock, or skipped it (see handledTick).
		tick := func(d time.Duration) {
			t.Helper()
			advance(t, clock, 2, d)
			for range 2 {
				if ev := rec.next(t); ev != msgLockReleased && ev != msgTickSkipped {
					rec.fatalf(t, "unexpected event %q", ev)
				}
			}
		}
		first := startTime().Add(tickOffset + lag)
		tick(tickOffset + lag)
		if len(sw.calls) != 1 || !(<-sw.calls).Equal(first) {
			t.Fatalf("no sweep at the first tick, %v", first)
		}
		// The next sweep comes a whole period later (a tick may be skipped when the fake
		// clock outruns gocron's bookkeeping; then the one after).
		for i := range 8 {
			letGocronCatchUp(i)
			tick(30 * time.Minute)
			select {
			case got := <-sw.calls:
				if since := got.Sub(first); since < 30*time.Minute || since%(30*time.Minute) != 0 {
					t.Fatalf("swept at %v, not a whole period after %v", got, first)
				}
				rec.checkNoProblems(t)
				return
			default:
			}
		}
		t.Fatal("no second sweep in eight periods")
	})
}
