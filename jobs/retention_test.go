package jobs

import (
	"context"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"gorm.io/gorm"

	"github.com/dingfluence/dingfluence/models/modelstest"
)

// sweeper records each retention call on a channel: the sessions' now and the webhook
// counters' cutoff.
type sweeper struct{ calls, cutoffs chan time.Time }

func (s sweeper) DeleteExpiredSessions(_ context.Context, now time.Time) (int64, error) {
	s.calls <- now
	return 0, nil
}

func (s sweeper) DeleteWebhookCountsBefore(_ context.Context, cutoff time.Time) (int64, error) {
	s.cutoffs <- cutoff
	return 0, nil
}

func TestRetentionRemovesExpiredSessionsPeriodically(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		const every = 30 * time.Minute
		clock := clockwork.NewFakeClockAt(startTime())
		rec := newRecorder(msgLockReleased)
		sw := sweeper{calls: make(chan time.Time, 10), cutoffs: make(chan time.Time, 10)}
		s, err := New(locks(db), Options{Logger: rec.logger(), Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Register("retention", every, Retention(sw, clock, rec.logger())); err != nil {
			t.Fatal(err)
		}
		s.Start()
		t.Cleanup(func() { _ = s.Shutdown() })

		first := startTime().Add(tickOffset + lag)
		for i := range 3 {
			if i == 0 {
				advance(t, clock, 1, tickOffset+lag)
			} else {
				advance(t, clock, 1, every)
			}
			rec.expect(t, msgLockReleased)
			select {
			case got := <-sw.calls:
				if want := first.Add(time.Duration(i) * every); !got.Equal(want) {
					t.Errorf("sweep %d removed sessions expired before %v, want %v", i+1, got, want)
				}
				if cut := <-sw.cutoffs; !cut.Equal(got.Add(-WebhookCountsKept)) {
					t.Errorf("sweep %d removed webhook counters before %v, want a week before %v", i+1, cut, got)
				}
			default:
				rec.fatalf(t, "tick %d released the lock without sweeping", i+1)
			}
		}
		rec.checkNoProblems(t)
	})
}
