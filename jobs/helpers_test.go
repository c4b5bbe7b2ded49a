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

// Events the test jobs emit when a run starts, and when one held at the gate is stopped
// by its context.
const (
	evEntered   = "run entered"
	evCancelled = "run cancelled"
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

// gate counts the runs going at once, emits evEntered when one starts and, while
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

// open lets one held run finish.
func (g *gate) open(t testing.TB) {
	t.Helper()
	select {
	case g.release <- struct{}{}:
	case <-time.After(waitTimeout):
		t.Fatalf("no run waiting at the gate")
	}
}

// recordedJob is a job that remembers when it started and passes through its gate.
type recordedJob struct {
	clock clockwork.Clock
	gate  *gate

	mu     sync.Mutex
	starts []time.Time
}

func (j *recordedJob) run(ctx context.Context) error {
	j.mu.Lock()
	j.starts = append(j.starts, j.clock.Now())
	j.mu.Unlock()
	return j.gate.pass(ctx)
}

func (j *recordedJob) runStarts() []time.Time {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]time.Time(nil), j.starts...)
}

// testJob is the name of the job the tests register.
const testJob = "test-job"

// scheduledRun is a test table of the job's runs, so that replicas on separate
// connections see each other's runs through the database.
type scheduledRun struct {
	ID        uint      `gorm:"column:id;primaryKey"`
	Instance  string    `gorm:"column:instance;size:50;not null"`
	StartedAt time.Time `gorm:"column:started_at;not null"`
}

func (scheduledRun) TableName() string { return "test_scheduled_runs" }

// dbJob is a job that records its run in test_scheduled_runs, then passes its gate.
func dbJob(db *gorm.DB, clock clockwork.Clock, instance string, g *gate) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := db.WithContext(ctx).Create(&scheduledRun{Instance: instance, StartedAt: clock.Now().UTC()}).Error; err != nil {
			return err
		}
		return g.pass(ctx)
	}
}

// startScheduler builds and starts a Scheduler with fn registered as testJob every
// minute on clock, shut down when the test ends (before its database is closed).
func startScheduler(t *testing.T, db *gorm.DB, fn func(context.Context) error, clock clockwork.Clock, rec *recorder, name string) *Scheduler {
	t.Helper()
	s, err := New(locks(db), Options{Logger: rec.logger(), Clock: clock, InstanceName: name})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Register(testJob, time.Minute, fn); err != nil {
		t.Fatalf("Register: %v", err)
	}
	s.Start()
	t.Cleanup(func() {
		if err := s.Shutdown(); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s
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
