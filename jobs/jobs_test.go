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

// A sync that outlasts several ticks is not started again beside itself: singleton mode
// skips those ticks before they even reach the lock.
func TestOrgSyncNeverOverlapsItself(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		clock := clockwork.NewFakeClockAt(startTime())
		rec := newTickRecorder()
		g := newGate(rec, true)
		org := &memOrg{clock: clock, gate: g}
		startScheduler(t, db, enabledEvery(1), org, clock, rec, "solo")

		advance(t, clock, 1, tickOffset+lag)
		rec.expect(t, evEntered)
		if start, want := org.runStarts()[0], startTime().Add(tickOffset+lag); !start.Equal(want) {
			t.Errorf("first sync started at %v, want %v (off the full minute)", start, want)
		}
		// The sync holds on for three more ticks, each due; waiters are the job's timer
		// and the lease renewal's ticker.
		for range 3 {
			advance(t, clock, 2, time.Minute)
			rec.expect(t, msgTickSkipped)
		}
		g.open(t)
		rec.expect(t, msgLockReleased)

		g.hold.Store(false)
		if ev := handledTick(t, clock, rec); ev != evEntered {
			t.Fatalf("first tick after the long sync: event %q, want a new sync", ev)
		}
		rec.expect(t, msgLockReleased)
		if n := len(org.runStarts()); n != 2 {
			t.Errorf("%d syncs, want 2", n)
		}
		if n := g.maxRunning.Load(); n != 1 {
			t.Errorf("%d syncs ran at once, want 1", n)
		}
		rec.checkNoProblems(t)
	})
}

// Two replicas on separate connections to one database fire on the same ticks: each
// tick's due sync runs exactly once in total, on whichever replica got the lock, while
// the other one is refused.
func TestTwoInstancesRunEachDueSyncOnce(t *testing.T) {
	modelstest.EachDSN(t, func(t *testing.T, dsn string) {
		dbA, dbB := openDB(t, dsn), openDB(t, dsn)
		if err := dbA.AutoMigrate(&scheduledSync{}); err != nil {
			t.Fatalf("create test table: %v", err)
		}
		clock := clockwork.NewFakeClockAt(startTime())
		rec := newTickRecorder()
		g := newGate(rec, true)
		settings := enabledEvery(1) // every tick is due
		startScheduler(t, dbA, settings, &dbOrg{db: dbA, clock: clock, instance: "a", gate: g}, clock, rec, "a")
		startScheduler(t, dbB, settings, &dbOrg{db: dbB, clock: clock, instance: "b", gate: g}, clock, rec, "b")

		const want = 3
		contested, synced, skipsInARow := 0, 0, 0
		step := tickOffset + lag
		for tick := 0; contested < want; tick++ {
			if tick == 12 {
				rec.fatalf(t, "only %d of 12 ticks reached both replicas", contested)
			}
			advance(t, clock, 2, step)
			step = time.Minute
			// Each replica reports how its tick ended while the sync, if any, is held:
			// it started the sync, the lock refused it, or it was still finishing the
			// previous tick (singleton skip).
			var entered, refused, skipped int
			for range 2 {
				switch ev := rec.next(t); ev {
				case evEntered:
					entered++
				case msgLockHeld:
					refused++
				case msgTickSkipped:
					skipped++
				default:
					t.Fatalf("tick %d: event %q, want a sync start, a lock refusal or a skip", tick, ev)
				}
			}
			switch {
			case entered > 1:
				t.Fatalf("tick %d: both replicas started the sync", tick)
			case entered == 0 && skipped < 2:
				t.Fatalf("tick %d: the due sync started nowhere", tick)
			}
			if entered == 1 {
				synced++
				g.open(t)
				rec.expect(t, msgLockReleased)
			}
			if entered == 1 && refused == 1 {
				contested++
			}
			if skipped == 0 {
				skipsInARow = 0
			} else { // see handledTick
				letGocronCatchUp(skipsInARow)
				skipsInARow++
			}
		}

		var runs []scheduledSync
		if err := dbA.Order("started_at").Find(&runs).Error; err != nil {
			t.Fatalf("read syncs: %v", err)
		}
		if len(runs) != synced {
			t.Fatalf("%d syncs recorded, want %d: %+v", len(runs), synced, runs)
		}
		for i := 1; i < len(runs); i++ {
			if !runs[i].StartedAt.After(runs[i-1].StartedAt) {
				t.Errorf("two syncs for the tick at %v: %+v", runs[i].StartedAt, runs)
			}
		}
		if n := g.maxRunning.Load(); n != 1 {
			t.Errorf("%d syncs ran at once, want 1", n)
		}
		rec.checkNoProblems(t)
	})
}

// A new interval or Enabled value saved on the Settings screen applies at the next tick.
func TestSettingsChangesApplyWithoutRestart(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		clock := clockwork.NewFakeClockAt(startTime())
		rec := newTickRecorder()
		settings := enabledEvery(60)
		org := &memOrg{clock: clock, gate: newGate(rec, false)}
		startScheduler(t, db, settings, org, clock, rec, "solo")

		// synced reports whether the tick's event ev began a sync.
		synced := func(ev string) bool {
			t.Helper()
			switch ev {
			case evEntered:
				rec.expect(t, msgLockReleased)
				return true
			case msgLockReleased:
				return false
			default:
				t.Fatalf("event %q, want a sync start or the lock's release", ev)
				return false
			}
		}
		advance(t, clock, 1, tickOffset+lag)
		if !synced(rec.next(t)) {
			t.Fatal("first tick: no sync, want one: never synced before")
		}

		steps := []struct {
			name   string
			change func(*models.Settings)
			want   []bool // per handled tick: whether it syncs
		}{
			{name: "hourly", want: []bool{false, false, false}},
			{name: "interval cut to 1 min", change: func(s *models.Settings) { s.SyncIntervalMinutes = 1 }, want: []bool{true, true}},
			{name: "back to hourly", change: func(s *models.Settings) { s.SyncIntervalMinutes = 60 }, want: []bool{false, false}},
			{name: "interval 0: off", change: func(s *models.Settings) { s.SyncIntervalMinutes = 0 }, want: []bool{false, false}},
			{name: "disabled", change: func(s *models.Settings) { s.SyncIntervalMinutes, s.Enabled = 1, false }, want: []bool{false, false}},
			{name: "enabled again", change: func(s *models.Settings) { s.Enabled = true }, want: []bool{true}},
		}
		for _, st := range steps {
			if st.change != nil {
				settings.change(st.change)
			}
			for i, want := range st.want {
				if got := synced(handledTick(t, clock, rec)); got != want {
					t.Fatalf("%s, tick %d: synced = %v, want %v", st.name, i+1, got, want)
				}
			}
		}
		rec.checkNoProblems(t)
	})
}

// A replica that lost its lease to another one (it stalled, or could not reach the
// database to renew it) stops its sync rather than run beside the other's.
func TestSyncStopsWhenItsLockIsLost(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		clock := clockwork.NewFakeClockAt(startTime())
		rec := newTickRecorder()
		startScheduler(t, db, enabledEvery(60), &memOrg{clock: clock, gate: newGate(rec, true)}, clock, rec, "stalled")
		advance(t, clock, 1, tickOffset+lag)
		rec.expect(t, evEntered)

		if err := db.Model(&models.JobLock{}).Where("name = ?", jobOrgSync).
			Updates(map[string]any{"owner": "other#1", "locked_until": startTime().Add(time.Hour)}).Error; err != nil {
			t.Fatalf("take the lease over: %v", err)
		}
		advance(t, clock, 2, lockTTL/3) // the renewal finds the lease gone; no job tick yet
		rec.expect(t, evCancelled)
	})
}

// A sync cut short by Shutdown still releases its lock, so that another replica need not
// wait for the lease to run out.
func TestShutdownReleasesTheLock(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		clock := clockwork.NewFakeClockAt(startTime())
		rec := newTickRecorder()
		s, err := New(locks(db), enabledEvery(60), &memOrg{clock: clock, gate: newGate(rec, true)},
			Options{Logger: rec.logger(), Clock: clock, InstanceName: "leaving"})
		if err != nil {
			t.Fatalf("New: %v", err)
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
		held, err := other.Lock(context.Background(), jobOrgSync)
		if err != nil {
			t.Fatalf("another replica cannot take the lock after shutdown: %v", err)
		}
		if err := held.Unlock(context.Background()); err != nil {
			t.Fatalf("Unlock: %v", err)
		}
		rec.checkNoProblems(t)
	})
}
