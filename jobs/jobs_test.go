package jobs

import (
	"context"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"gorm.io/gorm"

	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/models/modelstest"
)

// A run that outlasts several ticks is not started again beside itself: those ticks are
// skipped, and the first tick after it ends runs again.
func TestJobNeverOverlapsItself(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		clock := clockwork.NewFakeClockAt(startTime())
		rec := newTickRecorder()
		g := newGate(rec, true)
		j := &recordedJob{clock: clock, gate: g}
		startScheduler(t, db, j.run, clock, rec, "solo")

		advance(t, clock, 1, tickOffset+lag)
		rec.expect(t, evEntered)
		if start, want := j.runStarts()[0], startTime().Add(tickOffset+lag); !start.Equal(want) {
			t.Errorf("first run started at %v, want %v (off the full minute)", start, want)
		}
		// The run holds on for three more ticks; waiters are the job's timer and the
		// lease renewal's ticker.
		for range 3 {
			advance(t, clock, 2, time.Minute)
			rec.expect(t, msgTickSkipped)
		}
		g.open(t)
		rec.expect(t, msgLockReleased)

		g.hold.Store(false)
		advance(t, clock, 1, time.Minute)
		rec.expect(t, evEntered)
		rec.expect(t, msgLockReleased)
		if n := len(j.runStarts()); n != 2 {
			t.Errorf("%d runs, want 2", n)
		}
		if n := g.maxRunning.Load(); n != 1 {
			t.Errorf("%d runs at once, want 1", n)
		}
		rec.checkNoProblems(t)
	})
}

// Two replicas on separate connections to one database fire on the same ticks: each
// tick's run happens exactly once in total, on whichever replica got the lock, while the
// other one is refused.
func TestTwoInstancesRunEachTickOnce(t *testing.T) {
	modelstest.EachDSN(t, func(t *testing.T, dsn string) {
		dbA, dbB := openDB(t, dsn), openDB(t, dsn)
		if err := dbA.AutoMigrate(&scheduledRun{}); err != nil {
			t.Fatalf("create test table: %v", err)
		}
		clock := clockwork.NewFakeClockAt(startTime())
		rec := newTickRecorder()
		g := newGate(rec, true)
		startScheduler(t, dbA, dbJob(dbA, clock, "a", g), clock, rec, "a")
		startScheduler(t, dbB, dbJob(dbB, clock, "b", g), clock, rec, "b")

		const ticks = 3
		step := tickOffset + lag
		for tick := range ticks {
			advance(t, clock, 2, step)
			step = time.Minute
			// While the run is held, each replica reports how its tick ended.
			var entered, refused int
			for range 2 {
				switch ev := rec.next(t); ev {
				case evEntered:
					entered++
				case msgLockHeld:
					refused++
				default:
					rec.fatalf(t, "tick %d: event %q, want a run start or a lock refusal", tick, ev)
				}
			}
			if entered != 1 || refused != 1 {
				rec.fatalf(t, "tick %d: %d runs and %d refusals, want one of each", tick, entered, refused)
			}
			g.open(t)
			rec.expect(t, msgLockReleased)
		}

		var runs []scheduledRun
		if err := dbA.Order("started_at").Find(&runs).Error; err != nil {
			t.Fatalf("read runs: %v", err)
		}
		if len(runs) != ticks {
			t.Fatalf("%d runs recorded, want %d: %+v", len(runs), ticks, runs)
		}
		for i := 1; i < len(runs); i++ {
			if !runs[i].StartedAt.After(runs[i-1].StartedAt) {
				t.Errorf("two runs for the tick at %v: %+v", runs[i].StartedAt, runs)
			}
		}
		if n := g.maxRunning.Load(); n != 1 {
			t.Errorf("%d runs at once, want 1", n)
		}
		rec.checkNoProblems(t)
	})
}

// A replica that lost its lease to another one (it stalled, or could not reach the
// database to renew it) stops its run rather than go on beside the other's.
func TestRunStopsWhenItsLockIsLost(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		clock := clockwork.NewFakeClockAt(startTime())
		rec := newTickRecorder()
		j := &recordedJob{clock: clock, gate: newGate(rec, true)}
		startScheduler(t, db, j.run, clock, rec, "stalled")
		advance(t, clock, 1, tickOffset+lag)
		rec.expect(t, evEntered)

		if err := db.Model(&models.JobLock{}).Where("name = ?", testJob).
			Update("owner", "other#1").Error; err != nil {
			t.Fatalf("take the lease over: %v", err)
		}
		advance(t, clock, 2, lockTTL/3) // the renewal finds the lease gone; no job tick yet
		rec.expect(t, evCancelled)
	})
}

// A run cut short by Shutdown still releases its lock, so that another replica need not
// wait for the lease to run out.
func TestShutdownReleasesTheLock(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		clock := clockwork.NewFakeClockAt(startTime())
		rec := newTickRecorder()
		s, err := New(locks(db), Options{Logger: rec.logger(), Clock: clock, InstanceName: "leaving"})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		j := &recordedJob{clock: clock, gate: newGate(rec, true)}
		if err := s.Register(testJob, time.Minute, j.run); err != nil {
			t.Fatal(err)
		}
		s.Start()
		advance(t, clock, 1, tickOffset+lag)
		rec.expect(t, evEntered)

		if err := s.Shutdown(); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		rec.expect(t, evCancelled)
		rec.expect(t, msgLockReleased)
		other := newLocker(locks(db), clock, "staying", rec.logger())
		held, err := other.Lock(context.Background(), testJob)
		if err != nil {
			t.Fatalf("another replica cannot take the lock after shutdown: %v", err)
		}
		if err := held.Unlock(context.Background()); err != nil {
			t.Fatalf("Unlock: %v", err)
		}
		rec.checkNoProblems(t)
	})
}

// A run that panics is recovered, frees its lease and its guard, and the job runs again
// at the next tick.
func TestPanickingRunFreesItsLease(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		clock := clockwork.NewFakeClockAt(startTime())
		rec := newTickRecorder()
		g := newGate(rec, false)
		panics := true
		startScheduler(t, db, func(ctx context.Context) error {
			if err := g.pass(ctx); err != nil {
				return err
			}
			if panics {
				panics = false // read and written by one run at a time
				panic("boom")
			}
			return nil
		}, clock, rec, "solo")

		advance(t, clock, 1, tickOffset+lag)
		rec.expect(t, evEntered)
		rec.expect(t, msgLockReleased)
		advance(t, clock, 1, time.Minute)
		rec.expect(t, evEntered) // not skipped: the panicking run let go of its guard
		rec.expect(t, msgLockReleased)
	})
}

func TestRegisterRejectsBadJobs(t *testing.T) {
	db := modelstest.SQLite(t)
	s, err := New(locks(db), Options{Clock: clockwork.NewFakeClockAt(startTime())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown() })
	run := func(context.Context) error { return nil }
	if err := s.Register("once", time.Minute, run); err != nil {
		t.Fatalf("Register: %v", err)
	}
	tests := []struct {
		name  string
		job   string
		every time.Duration
		fn    func(context.Context) error
	}{
		{"no name", "", time.Minute, run},
		{"no period", "x", 0, run},
		{"negative period", "x", -time.Second, run},
		{"no function", "x", time.Minute, nil},
		{"twice", "once", time.Hour, run},
	}
	for _, tt := range tests {
		if err := s.Register(tt.job, tt.every, tt.fn); err == nil {
			t.Errorf("%s: Register(%q, %v) succeeded", tt.name, tt.job, tt.every)
		}
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Error("New without a lock store succeeded")
	}
}
