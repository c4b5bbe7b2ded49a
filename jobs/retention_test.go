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
		rec := newRecorder(msgLockReleased)
		sw := sweeper{calls: make(chan time.Time, 10)}
		// Both jobs tick every 30 minutes, so they fire together and the test can wait
		// for both to have released their locks before moving the clock on.
		s, err := New(db, &fakeSettings{}, &memOrg{clock: clock}, Options{
			Logger: rec.logger(), Clock: clock, Tick: 30 * time.Minute,
			Sessions: sw, RetentionEvery: 30 * time.Minute,
		})
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		t.Cleanup(func() { _ = s.Shutdown() })

		tick := func(d time.Duration) {
			t.Helper()
			advance(t, clock, 2, d)
			rec.expect(t, msgLockReleased)
			rec.expect(t, msgLockReleased)
		}
		wantCall := func(at time.Time) {
			t.Helper()
			select {
			case got := <-sw.calls:
				if !got.Equal(at) {
					t.Fatalf("swept at %v, want %v", got, at)
				}
			default:
				t.Fatalf("no sweep at %v", at)
			}
		}
		first := startTime().Add(tickOffset + lag)
		tick(tickOffset + lag)
		wantCall(first)
		tick(30 * time.Minute)
		wantCall(first.Add(30 * time.Minute))
		if len(sw.calls) != 0 {
			t.Fatalf("%d extra sweeps", len(sw.calls))
		}
		rec.checkNoProblems(t)
	})
}
