// Package jobs runs the periodic background jobs (the scheduled org sync, and later the
// outbox dispatch and retention) on a gocron scheduler. Job bodies call services; what a
// job does lives in those services, when it runs lives here.
//
// Every replica runs a Scheduler on the shared database. Each job wakes up every tick,
// takes its lease in the job_locks table for the length of the run, so that one replica at
// a time runs it, and decides from the database whether there is work due.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/google/uuid"
	"github.com/jonboulle/clockwork"

	"github.com/dingfluence/dingfluence/models"
)

// SettingsSource loads the current settings; settings.Service implements it.
type SettingsSource interface {
	Load(ctx context.Context) (models.Settings, error)
}

// OrgSync is what the scheduled org sync needs from the org sync service.
type OrgSync interface {
	// LastScheduledFullSync returns when the newest scheduled full sync started, whether
	// it is still running, finished or failed (zero time if there was none).
	LastScheduledFullSync(ctx context.Context) (time.Time, error)
	// RunScheduledFullSync runs a full sync to completion as trigger "schedule".
	RunScheduledFullSync(ctx context.Context) error
}

// SessionSweeper removes expired sign-in sessions; models.Store implements it.
type SessionSweeper interface {
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error)
}

// Options tune a Scheduler; the zero value is ready for production.
type Options struct {
	// Sessions, when set, gets a retention job that removes expired sessions every
	// RetentionEvery.
	Sessions SessionSweeper
	// RetentionEvery is the period of the retention job; 0 means 30 minutes.
	RetentionEvery time.Duration
	// Logger receives job failures and, at debug level, how each tick ended; nil discards.
	Logger *slog.Logger
	// Clock drives the schedule and the lock leases; nil means the real clock.
	Clock clockwork.Clock
	// Tick is how often each job wakes up to check for work; 0 means a minute.
	Tick time.Duration
	// InstanceName identifies this replica in job_locks; empty means the host name.
	InstanceName string
}

// Job names, also their keys in job_locks.
const (
	jobOrgSync   = "org-sync"
	jobRetention = "retention"
)

// tickOffset moves every tick off the full minute: DingTalk asks callers not to run
// scheduled jobs exactly on the hour, when everyone else's cron fires.
const tickOffset = 17 * time.Second

// Debug messages that tell how a tick ended (tests wait for them).
const (
	msgTickSkipped = "job tick skipped: its previous run is still going"
	msgLockHeld    = "job tick skipped: lock held by another instance"
)

// Scheduler runs the periodic jobs. Build it with New, then Start it; Shutdown stops it.
type Scheduler struct {
	cron   gocron.Scheduler
	locker *locker
	log    *slog.Logger
}

// job is one periodic job: its name (also its lock key), how often it wakes up, and
// what it does then. Adding a job is its dependency in New's parameters and one entry in
// New's list.
type job struct {
	name  string
	every time.Duration
	run   func(ctx context.Context) error
}

// New builds a Scheduler whose jobs take their leases in locks (the job_locks table).
// Nothing runs until Start.
func New(locks LockStore, settings SettingsSource, org OrgSync, opts Options) (*Scheduler, error) {
	if locks == nil || settings == nil || org == nil {
		return nil, errors.New("jobs: New needs a lock store, a settings source and an org sync")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Tick <= 0 {
		opts.Tick = time.Minute
	}
	if opts.InstanceName == "" {
		host, err := os.Hostname()
		if err != nil {
			host = "unknown-host"
		}
		opts.InstanceName = host
	}
	log := opts.Logger.With(slog.String("component", "jobs"))

	cron, err := gocron.NewScheduler(
		gocron.WithClock(opts.Clock),
		gocron.WithLocation(time.UTC),
		gocron.WithLogger(log),
		gocron.WithMonitor(skipLogger{log}),
	)
	if err != nil {
		return nil, fmt.Errorf("jobs: new scheduler: %w", err)
	}
	orgSync := orgSyncJob{settings: settings, org: org, clock: opts.Clock, slack: opts.Tick / 2,
		log: log.With(slog.String("job", jobOrgSync))}
	s := &Scheduler{cron: cron, locker: newLocker(locks, opts.Clock, opts.InstanceName, log), log: log}
	jobs := []job{{name: jobOrgSync, every: opts.Tick, run: orgSync.run}}
	if opts.Sessions != nil {
		if opts.RetentionEvery <= 0 {
			opts.RetentionEvery = 30 * time.Minute
		}
		retention := retentionJob{sessions: opts.Sessions, clock: opts.Clock, log: log.With(slog.String("job", jobRetention))}
		jobs = append(jobs, job{name: jobRetention, every: opts.RetentionEvery, run: retention.run})
	}
	for _, j := range jobs {
		if err := s.add(j, opts.Clock.Now()); err != nil {
			_ = cron.Shutdown()
			return nil, err
		}
	}
	return s, nil
}

// add registers j to run every j.every, never overlapping itself, from the first tick
// after now.
func (s *Scheduler) add(j job, now time.Time) error {
	log := s.log.With(slog.String("job", j.name))
	_, err := s.cron.NewJob(
		gocron.DurationJob(j.every),
		gocron.NewTask(func(ctx context.Context) error { return s.runTick(ctx, j) }),
		gocron.WithName(j.name),
		// A run still going when the next tick comes makes that tick a no-op, rather than
		// queueing runs up behind it.
		gocron.WithSingletonMode(gocron.LimitModeReschedule),
		gocron.WithStartAt(gocron.WithStartDateTime(firstTick(now, j.every))),
		// Having a panic listener makes gocron recover the panic instead of crashing the app.
		gocron.WithEventListeners(gocron.AfterJobRunsWithPanic(func(_ uuid.UUID, _ string, v any) {
			log.LogAttrs(context.Background(), slog.LevelError, "job panicked", slog.Any("panic", v))
		})),
	)
	if err != nil {
		return fmt.Errorf("jobs: register %s: %w", j.name, err)
	}
	return nil
}

// runTick runs j under its lock, or does nothing if another replica holds the lock.
func (s *Scheduler) runTick(ctx context.Context, j job) error {
	log := s.log.With(slog.String("job", j.name))
	held, err := s.locker.Lock(ctx, j.name)
	if errors.Is(err, errLockHeld) {
		log.Debug(msgLockHeld)
		return nil
	}
	if err != nil {
		log.LogAttrs(ctx, slog.LevelWarn, "job tick skipped: cannot take its lock", slog.Any("error", err))
		return err
	}
	defer func() { _ = held.Unlock(ctx) }() // Unlock logs its own failure
	if err := j.run(held.ctx); err != nil {
		level := slog.LevelError
		if ctx.Err() != nil {
			level = slog.LevelInfo // stopped by Shutdown: expected, not a failure
		}
		log.LogAttrs(ctx, level, "job did not complete", slog.Any("error", err))
		return err
	}
	return nil
}

// firstTick is the first time after now that is tickOffset past a multiple of every;
// replicas started at different moments thus tick together.
func firstTick(now time.Time, every time.Duration) time.Time {
	t := now.Truncate(every).Add(tickOffset % every)
	if !t.After(now) {
		t = t.Add(every)
	}
	return t
}

// skipLogger is a gocron.Monitor that logs the ticks singleton mode skipped because the
// job's previous run was still going.
type skipLogger struct{ log *slog.Logger }

func (m skipLogger) IncrementJob(_ uuid.UUID, name string, _ []string, status gocron.JobStatus) {
	if status == gocron.SingletonRescheduled {
		m.log.Debug(msgTickSkipped, slog.String("job", name))
	}
}

func (skipLogger) RecordJobTiming(time.Time, time.Time, uuid.UUID, string, []string) {}

// Start starts running the jobs in the background.
func (s *Scheduler) Start() {
	s.cron.Start()
}

// Shutdown stops the schedule, cancels the context of running jobs and waits (up to
// gocron's stop timeout, 10 s) for them to return.
func (s *Scheduler) Shutdown() error {
	if err := s.cron.Shutdown(); err != nil {
		return fmt.Errorf("jobs: shutdown: %w", err)
	}
	return nil
}
