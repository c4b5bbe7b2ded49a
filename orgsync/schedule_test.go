package orgsync_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"gorm.io/gorm"

	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/models/modelstest"
	"github.com/dingfluence/dingfluence/orgsync"
)

// settingsSource is a SettingsSource whose settings a test changes between checks.
type settingsSource struct {
	mu  sync.Mutex
	set models.Settings
	err error
}

func (s *settingsSource) Load(context.Context) (models.Settings, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.set, s.err
}

func (s *settingsSource) change(fn func(*models.Settings)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(&s.set)
}

// dbClock stands in for the database's clock: the fixture's fake clock, which the
// Service also stamps its runs with.
type dbClock struct {
	clock *clockwork.FakeClock
	err   error
}

func (c dbClock) DBNow(context.Context) (time.Time, error) {
	return c.clock.Now().UTC().Truncate(time.Millisecond), c.err
}

// addScheduledRun records a finished scheduled full sync that started at startedAt.
func addScheduledRun(t *testing.T, store *models.Store, startedAt time.Time) {
	t.Helper()
	ctx := context.Background()
	run, started, err := store.BeginSyncRun(ctx, models.SyncRun{
		Kind: models.SyncKindFull, DeptID: 1, Trigger: models.SyncTriggerSchedule,
		StartedAt: startedAt, HeartbeatAt: startedAt,
	}, startedAt.Add(-time.Hour))
	if err != nil || !started {
		t.Fatalf("begin run: %v, started %v", err, started)
	}
	run.Status = models.SyncStatusSucceeded
	run.FinishedAt = &startedAt
	if err := store.FinishSyncRun(ctx, run); err != nil {
		t.Fatalf("finish run: %v", err)
	}
}

func scheduledRuns(t *testing.T, db *gorm.DB) int64 {
	t.Helper()
	var n int64
	if err := db.Model(&models.SyncRun{}).Where("run_trigger = ?", string(models.SyncTriggerSchedule)).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func TestScheduledSyncRunsOnlyWhenDue(t *testing.T) {
	errBoom := errors.New("boom")
	hourly := models.Settings{Enabled: true, SyncIntervalMinutes: 60}
	tests := []struct {
		name     string
		set      models.Settings
		loadErr  error
		clockErr error
		ago      time.Duration // since the last scheduled sync started; 0: never
		syncFail bool
		wantRun  bool
		wantErr  error // nil, errBoom, or a sentinel: any error
	}{
		{name: "never synced", set: hourly, wantRun: true},
		{name: "disabled", set: models.Settings{Enabled: false, SyncIntervalMinutes: 60}},
		{name: "interval 0 turns the schedule off", set: models.Settings{Enabled: true}},
		{name: "30 min ago, hourly", set: hourly, ago: 30 * time.Minute},
		{name: "59 min ago, hourly", set: hourly, ago: 59 * time.Minute},
		{name: "61 min ago, hourly", set: hourly, ago: 61 * time.Minute, wantRun: true},
		// The last sync started just after its own tick; an hour of ticks later it is due,
		// not one tick later.
		{name: "an hour ago less the start delay, hourly", set: hourly, ago: time.Hour - 300*time.Millisecond, wantRun: true},
		{name: "secret unreadable: the sync runs and reports it", set: hourly, loadErr: models.ErrSecretUnreadable, wantRun: true},
		{name: "settings cannot be loaded", set: hourly, loadErr: errBoom, wantErr: errBoom},
		{name: "database clock cannot be read", set: hourly, ago: 2 * time.Hour, clockErr: errBoom, wantErr: errBoom},
		{name: "sync fails", set: hourly, syncFail: true, wantRun: true, wantErr: errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
				f := newFixture(t, db, setup{})
				if tt.ago > 0 {
					addScheduledRun(t, f.store, f.clock.Now().UTC().Add(-tt.ago))
				}
				if tt.syncFail {
					f.srv.InjectError("v2/department/listsub", 60011, 1)
				}
				before := scheduledRuns(t, db)
				sched := orgsync.Schedule{
					Settings: &settingsSource{set: tt.set, err: tt.loadErr},
					Clock:    dbClock{clock: f.clock, err: tt.clockErr},
					Slack:    30 * time.Second,
				}

				ran, err := f.svc.RunScheduledSyncIfDue(context.Background(), sched)

				switch {
				case tt.wantErr == nil && err != nil:
					t.Fatalf("RunScheduledSyncIfDue: %v", err)
				case tt.wantErr == errAny && err == nil:
					t.Fatal("RunScheduledSyncIfDue succeeded, want the failed sync reported")
				case tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
					t.Fatalf("error = %v, want %v", err, tt.wantErr)
				}
				if ran != tt.wantRun {
					t.Errorf("ran = %v, want %v", ran, tt.wantRun)
				}
				if got := scheduledRuns(t, db) - before; got != map[bool]int64{true: 1}[tt.wantRun] {
					t.Errorf("%d scheduled runs recorded, want %v", got, tt.wantRun)
				}
			})
		})
	}
}

// errAny marks a case that wants some error, whatever it wraps.
var errAny = errors.New("any error")

// A new interval or Enabled value saved on the Settings screen applies at the next check.
func TestScheduleFollowsSettingsChanges(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		f := newFixture(t, db, setup{})
		settings := &settingsSource{set: models.Settings{Enabled: true, SyncIntervalMinutes: 60}}
		sched := orgsync.Schedule{Settings: settings, Clock: dbClock{clock: f.clock}, Slack: 30 * time.Second}
		check := func() bool {
			t.Helper()
			ran, err := f.svc.RunScheduledSyncIfDue(context.Background(), sched)
			if err != nil {
				t.Fatalf("RunScheduledSyncIfDue: %v", err)
			}
			return ran
		}
		if !check() {
			t.Fatal("first check: no sync, want one: never synced before")
		}
		steps := []struct {
			name   string
			change func(*models.Settings)
			want   []bool // per check, a minute apart: whether it syncs
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
				f.clock.Advance(time.Minute)
				if got := check(); got != want {
					t.Fatalf("%s, check %d: synced = %v, want %v", st.name, i+1, got, want)
				}
			}
		}
	})
}

// Without a Clock, the interval is measured on the database's own clock.
func TestScheduleUsesTheDatabaseClock(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		f := newFixture(t, db, setup{})
		ctx := context.Background()
		now, err := f.store.DBNow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sched := orgsync.Schedule{Settings: &settingsSource{set: models.Settings{Enabled: true, SyncIntervalMinutes: 60}}}
		addScheduledRun(t, f.store, now.Add(-10*time.Minute))
		if ran, err := f.svc.RunScheduledSyncIfDue(ctx, sched); err != nil || ran {
			t.Fatalf("10 min after the last sync by the database's clock: ran %v, %v; want not due", ran, err)
		}
		addScheduledRun(t, f.store, now.Add(-2*time.Hour))
		if ran, err := f.svc.RunScheduledSyncIfDue(ctx, sched); err != nil || !ran {
			t.Fatalf("2 h after the last sync by the database's clock: ran %v, %v; want a sync", ran, err)
		}
	})
}
