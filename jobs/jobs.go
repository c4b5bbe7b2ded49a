// Package jobs runs dingfluence's background work: periodic jobs on a gocron scheduler
// (the scheduled org sync, retention), and continuous workers beside it (Workers). Job
// and worker bodies call services; what they do lives in those services, when and how
// often they run lives here.
//
// Every replica runs a Scheduler on the shared database. Each job wakes up every tick,
// takes its lease in the job_locks table for the length of the run, so that one replica at
// a time runs it, and decides from the database whether there is work due. Leases run out
// by the database's clock, so replicas whose clocks disagree still agree on them.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/google/uuid"
	"github.com/jonboulle/clockwork"
)

// Options tune a Scheduler; the zero value is ready for production.
type Options struct {
	// Logger receives job failures and, at debug level, how each tick ended; nil discards.
	Logger *slog.Logger
	// Clock drives the ticks and the lease renewals; nil means the real clock. (When a
	// lease runs out is the database's clock's business.)
	Clock clockwork.Clock
	// InstanceName identifies this replica in job_locks; empty means the host name.
	InstanceName string
}

// tickOffset moves every tick off the full minute: DingTalk asks callers not to run
// scheduled jobs exactly on the hour, when everyone else's cron fires.
const tickOffset = 17 * time.Second

// Debug messages that tell how a tick ended (tests wait for them).
const (
	msgTickSkipped = "job tick skipped: its previous run is still going"
	msgLockHeld    = "job tick skipped: lock held by another instance"
)

// Scheduler runs the periodic jobs. Build it with New, Register the jobs, then Start it;
// Shutdown stops it.
type Scheduler struct {
	cron   gocron.Scheduler
	locker *locker
	clock  clockwork.Clock
	log    *slog.Logger

	mu    sync.Mutex
	names map[string]bool
}

// job is one periodic job: its name (also its lock key), how often it wakes up, and
// what it does then.
type job struct {
	name  string
	every time.Duration
	run   func(ctx context.Context) error
	// running is set for the length of a tick's run on this replica; a tick that finds
	// it set is skipped rather than queued behind the run.
	running atomic.Bool
}

// New builds a Scheduler whose jobs take their leases in locks (the job_locks table).
// Nothing runs until Start.
func New(locks LockStore, opts Options) (*Scheduler, error) {
	if locks == nil {
		return nil, errors.New("jobs: New needs a lock store")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
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
	)
	if err != nil {
		return nil, fmt.Errorf("jobs: new scheduler: %w", err)
	}
	return &Scheduler{
		cron:   cron,
		locker: newLocker(locks, opts.Clock, opts.InstanceName, log),
		clock:  opts.Clock,
		log:    log,
		names:  map[string]bool{},
	}, nil
}

// Register adds a job named name (also its key in job_locks) that wakes up every
// `every`, on ticks common to all replicas, and runs fn under the job's lease: on one
// replica at a time, never beside itself. fn's context ends when the lease is lost or
// the scheduler shuts down. fn decides itself whether there is work due; an error is
// logged and the job runs again at the next tick.
func (s *Scheduler) Register(name string, every time.Duration, fn func(ctx context.Context) error) error {
	switch {
	case name == "":
		return errors.New("jobs: a job needs a name")
	case every <= 0:
		return fmt.Errorf("jobs: job %s: period %v is not positive", name, every)
	case fn == nil:
		return fmt.Errorf("jobs: job %s has no function", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.names[name] {
		return fmt.Errorf("jobs: job %s is registered twice", name)
	}
	j := &job{name: name, every: every, run: fn}
	log := s.log.With(slog.String("job", j.name))
	_, err := s.cron.NewJob(
		gocron.DurationJob(j.every),
		gocron.NewTask(func(ctx context.Context) error { return s.runTick(ctx, j) }),
		gocron.WithName(j.name),
		gocron.WithStartAt(gocron.WithStartDateTime(firstTick(s.clock.Now(), j.every))),
		// Having a panic listener makes gocron recover the panic instead of crashing the app.
		gocron.WithEventListeners(gocron.AfterJobRunsWithPanic(func(_ uuid.UUID, _ string, v any) {
			log.LogAttrs(context.Background(), slog.LevelError, "job panicked", slog.Any("panic", v))
		})),
	)
	if err != nil {
		return fmt.Errorf("jobs: register %s: %w", j.name, err)
	}
	s.names[name] = true
	return nil
}

// runTick runs j under its lock, or does nothing if its previous run is still going
// here, or another replica holds the lock.
//
// The guard against overlapping runs is ours rather than gocron's singleton mode: it is
// cleared before the tick's last message, so a tick that comes after that message is
// never skipped, which keeps the scheduler's tests free of waits for gocron.
func (s *Scheduler) runTick(ctx context.Context, j *job) error {
	log := s.log.With(slog.String("job", j.name))
	if !j.running.CompareAndSwap(false, true) {
		log.Debug(msgTickSkipped)
		return nil
	}
	held, err := s.locker.Lock(ctx, j.name)
	if err != nil {
		j.running.Store(false)
		if errors.Is(err, errLockHeld) {
			log.Debug(msgLockHeld)
			return nil
		}
		log.LogAttrs(ctx, slog.LevelWarn, "job tick skipped: cannot take its lock", slog.Any("error", err))
		return err
	}
	err = func() error {
		// Deferred, so that a panicking run (recovered by gocron) still frees both.
		defer func() {
			j.running.Store(false)
			_ = held.Unlock(ctx) // Unlock logs its own failure
		}()
		return j.run(held.ctx)
	}()
	if err != nil {
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
