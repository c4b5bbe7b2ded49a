package jobs

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"gorm.io/gorm"

	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/models/modelstest"
)

// waitTimeout bounds every wait on the code under test; it only elapses when a test fails.
const waitTimeout = 5 * time.Second

// startTime is when the fake clocks start: on the hour, as the worst case for DingTalk.
func startTime() time.Time { return time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC) }

// Events the fake org syncs emit when a sync starts, and when one held at the gate is
// stopped by its context.
const (
	evEntered   = "sync entered"
	evCancelled = "sync cancelled"
)

// recorder is a slog handler that turns the scheduler's messages about how a tick ended
// into an ordered stream of events a test can wait for, and keeps every warning or error,
// which a passing test must not produce.
type recorder struct {
	events chan string
	watch  map[string]bool // the messages that are events

	mu       sync.Mutex
	problems []string
	history  []string
}

// newRecorder returns a recorder that turns the log messages watch into events.
func newRecorder(watch ...string) *recorder {
	r := &recorder{events: make(chan string, 1000), watch: map[string]bool{}}
	for _, m := range watch {
		r.watch[m] = true
	}
	return r
}

// newTickRecorder returns a recorder of the messages that tell how a tick ended.
func newTickRecorder() *recorder { return newRecorder(msgTickSkipped, msgLockHeld, msgLockReleased) }

func (r *recorder) logger() *slog.Logger { return slog.New(recordHandler{r}) }

func (r *recorder) emit(ev string) {
	r.mu.Lock()
	r.history = append(r.history, "event: "+ev)
	r.mu.Unlock()
	r.events <- ev
}

// next returns the next event, waiting for it if need be.
func (r *recorder) next(t testing.TB) string {
	t.Helper()
	select {
	case ev := <-r.events:
		return ev
	case <-time.After(waitTimeout):
		r.fatalf(t, "no event within %v", waitTimeout)
		return ""
	}
}

// fatalf fails the test with the log so far.
func (r *recorder) fatalf(t testing.TB, format string, args ...any) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	t.Fatalf(format+"; log:\n%s", append(args, strings.Join(r.history, "\n"))...)
}

// expect fails the test unless the next event is want.
func (r *recorder) expect(t testing.TB, want string) {
	t.Helper()
	if got := r.next(t); got != want {
		r.fatalf(t, "event %q, want %q", got, want)
	}
}

func (r *recorder) checkNoProblems(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.problems {
		t.Errorf("unexpected log: %s", p)
	}
}

type recordHandler struct{ r *recorder }

func (recordHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h recordHandler) Handle(_ context.Context, rec slog.Record) error {
	line := rec.Level.String() + " " + rec.Message
	rec.Attrs(func(a slog.Attr) bool { line += " " + a.String(); return true })
	h.r.mu.Lock()
	h.r.history = append(h.r.history, line)
	if rec.Level >= slog.LevelWarn {
		h.r.problems = append(h.r.problems, line)
	}
	h.r.mu.Unlock()
	if h.r.watch[rec.Message] {
		h.r.events <- rec.Message
	}
	return nil
}

func (h recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h recordHandler) WithGroup(string) slog.Handler      { return h }

// fakeSettings is a SettingsSource whose settings a test changes while the scheduler runs.
type fakeSettings struct {
	mu  sync.Mutex
	set models.Settings
	err error
}

func enabledEvery(minutes int) *fakeSettings {
	return &fakeSettings{set: models.Settings{Enabled: true, SyncIntervalMinutes: minutes}}
}

func (f *fakeSettings) Load(context.Context) (models.Settings, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.set, f.err
}

func (f *fakeSettings) change(fn func(*models.Settings)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.set)
}

// gate counts the syncs running at once, emits evEntered when one starts and, while
// holding, keeps each one running until the test opens the gate for it.
type gate struct {
	rec        *recorder
	hold       atomic.Bool
	release    chan struct{}
	running    atomic.Int32
	maxRunning atomic.Int32
}

func newGate(rec *recorder, hold bool) *gate {
	g := &gate{rec: rec, release: make(chan struct{})}
	g.hold.Store(hold)
	return g
}

func (g *gate) pass(ctx context.Context) error {
	n := g.running.Add(1)
	defer g.running.Add(-1)
	for m := g.maxRunning.Load(); n > m && !g.maxRunning.CompareAndSwap(m, n); m = g.maxRunning.Load() {
	}
	g.rec.emit(evEntered)
	if !g.hold.Load() {
		return nil
	}
	select {
	case <-g.release:
		return nil
	case <-ctx.Done():
		g.rec.emit(evCancelled)
		return ctx.Err()
	}
}

// open lets one held sync finish.
func (g *gate) open(t testing.TB) {
	t.Helper()
	select {
	case g.release <- struct{}{}:
	case <-time.After(waitTimeout):
		t.Fatalf("no sync waiting at the gate")
	}
}

// memOrg is an OrgSync that remembers its scheduled syncs in memory.
type memOrg struct {
	clock clockwork.Clock
	gate  *gate // nil: syncs return at once

	mu              sync.Mutex
	last            time.Time
	starts          []time.Time
	lastErr, runErr error
}

func (o *memOrg) LastScheduledFullSync(context.Context) (time.Time, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last, o.lastErr
}

func (o *memOrg) RunScheduledFullSync(ctx context.Context) error {
	now := o.clock.Now()
	o.mu.Lock()
	o.last = now
	o.starts = append(o.starts, now)
	err := o.runErr
	o.mu.Unlock()
	if o.gate != nil {
		if err := o.gate.pass(ctx); err != nil {
			return err
		}
	}
	return err
}

func (o *memOrg) runStarts() []time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]time.Time(nil), o.starts...)
}

// scheduledSync is a test table standing in for sync_runs, so that replicas on separate
// connections see each other's syncs through the database as the real service does.
type scheduledSync struct {
	ID        uint      `gorm:"column:id;primaryKey"`
	Instance  string    `gorm:"column:instance;size:50;not null"`
	StartedAt time.Time `gorm:"column:started_at;not null"`
}

func (scheduledSync) TableName() string { return "test_scheduled_syncs" }

// dbOrg is an OrgSync on the test_scheduled_syncs table; like the real service it
// records a sync when it starts.
type dbOrg struct {
	db       *gorm.DB
	clock    clockwork.Clock
	instance string
	gate     *gate
}

func (o *dbOrg) LastScheduledFullSync(ctx context.Context) (time.Time, error) {
	var runs []scheduledSync
	if err := o.db.WithContext(ctx).Order("started_at DESC").Limit(1).Find(&runs).Error; err != nil {
		return time.Time{}, err
	}
	if len(runs) == 0 {
		return time.Time{}, nil
	}
	return runs[0].StartedAt, nil
}

func (o *dbOrg) RunScheduledFullSync(ctx context.Context) error {
	now := o.clock.Now().UTC()
	if err := o.db.WithContext(ctx).Create(&scheduledSync{Instance: o.instance, StartedAt: now}).Error; err != nil {
		return err
	}
	return o.gate.pass(ctx)
}

// startScheduler builds and starts a Scheduler ticking every minute on clock, shut down
// when the test ends (before its database is closed).
func startScheduler(t *testing.T, db *gorm.DB, settings SettingsSource, org OrgSync, clock clockwork.Clock, rec *recorder, name string) {
	t.Helper()
	s, err := New(locks(db), settings, org, Options{Logger: rec.logger(), Clock: clock, Tick: time.Minute, InstanceName: name})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s.Start()
	t.Cleanup(func() {
		if err := s.Shutdown(); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
}

// lag is how far past a tick's time the tests move the fake clock, as a real clock always
// is by the time the tick is handled. (gocron fires a tick a second time when it
// reschedules it at exactly that tick's time.)
const lag = time.Millisecond

// advance waits until waiters timers and tickers are set on clock (the schedulers have
// planned their next ticks), then moves the clock on by d.
func advance(t testing.TB, clock *clockwork.FakeClock, waiters int, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := clock.BlockUntilContext(ctx, waiters); err != nil {
		t.Fatalf("waiting for %d timers on the fake clock: %v", waiters, err)
	}
	clock.Advance(d)
}

// handledTick moves the clock on a tick at a time until a tick is handled rather than
// skipped, and returns that tick's first event.
//
// A tick is skipped when it comes while gocron is still returning from the previous run,
// after the run's last event: with a fake clock the test can be that quick, and gocron
// signals nothing once it is done. So after a skip, and only then, the test gives it some
// real time before the next tick.
func handledTick(t testing.TB, clock *clockwork.FakeClock, rec *recorder) string {
	t.Helper()
	for i := range 8 {
		advance(t, clock, 1, time.Minute)
		ev := rec.next(t)
		if ev != msgTickSkipped {
			return ev
		}
		letGocronCatchUp(i)
	}
	rec.fatalf(t, "eight ticks in a row skipped")
	return ""
}

// letGocronCatchUp waits a little real time, longer after each of retry consecutive skips.
func letGocronCatchUp(retry int) {
	time.Sleep(time.Millisecond << retry)
}

// openDB opens (and migrates) the database at dsn, closed when the test ends.
func openDB(t testing.TB, dsn string) *gorm.DB {
	t.Helper()
	db, err := models.Open(dsn, modelstest.Logger(t))
	if err != nil {
		t.Fatalf("open %s: %v", dsn, err)
	}
	modelstest.Close(t, db)
	return db
}

// locks is the lease store on db.
func locks(db *gorm.DB) LockStore { return models.NewStore(db, nil) }
