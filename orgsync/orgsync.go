// Package orgsync copies the DingTalk organisation (departments, users, memberships) into
// the database. It is the only writer of the org tables. Each action of the Departments
// screen and the scheduled full sync is one Service method call, recorded as a sync_runs
// row whose counters are flushed while it runs so the screen can show live progress.
package orgsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/dingfluence/dingfluence/dingtalk"
	"github.com/dingfluence/dingfluence/models"
)

// Defaults for zero Options fields.
const (
	DefaultConcurrency  = 4
	DefaultFlushEvery   = 250 * time.Millisecond
	DefaultStaleAfter   = 2 * time.Minute
	DefaultRetryRounds  = 3
	DefaultRetryBackoff = 5 * time.Second
)

// finishTimeout bounds recording a run's end, which must happen even when its context
// has been cancelled (shutdown).
const finishTimeout = 10 * time.Second

// ErrBusy is matched by the *BusyError that Start and Run return when a running sync
// already covers some of the departments asked for.
var ErrBusy = errors.New("orgsync: a sync of these departments is already running")

// BusyError refuses a sync whose departments a running sync covers, or that would cover
// a running sync's departments: both would read and write the same rows, doubling the
// calls against DingTalk's limits. Run is the running sync (a full sync covers all).
type BusyError struct {
	Run models.SyncRun
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("orgsync: run %d (%s of department %d) is already syncing these departments", e.Run.ID, e.Run.Kind, e.Run.DeptID)
}

// Is makes errors.Is(err, ErrBusy) match.
func (e *BusyError) Is(target error) bool { return target == ErrBusy }

// ErrClosed is returned by Start after Close.
var ErrClosed = errors.New("orgsync: service closed")

// errTakenOver means another process declared this run dead and took its scope.
var errTakenOver = errors.New("orgsync: run was taken over by another process after a missed heartbeat")

// errShutdown is the cause with which Close ends the runs begun by Start.
var errShutdown = errors.New("orgsync: the server shut down")

// ClientSource hands out the DingTalk client for the current settings (settings.Service
// implements it; it answers settings.ErrNotConfigured while none are saved).
type ClientSource interface {
	Client(ctx context.Context) (*dingtalk.Client, error)
}

// Options tunes a Service; zero fields take the defaults.
type Options struct {
	// Concurrency is how many departments a subtree walk works on at once (0 → 4). The
	// client's per-API rate limiter, not this, sets the pace against DingTalk.
	Concurrency int
	Logger      *slog.Logger    // nil → slog.Default()
	Clock       clockwork.Clock // nil → the real clock
	// FlushEvery is how often a running run's counters are written to its row (0 → 250ms).
	FlushEvery time.Duration
	// StaleAfter is how old a running run's heartbeat may get before the run counts as
	// dead: shown as interrupted, and taken over by the next start (0 → 2m). Heartbeats
	// come every StaleAfter/4.
	StaleAfter time.Duration
	// RetryRounds is how many more times a walk comes back to the departments DingTalk
	// failed to answer for transiently, after the client's own retries (0 → 3, < 0 → none).
	RetryRounds int
	// RetryBackoff is the pause before the first of those rounds; it doubles each round
	// (0 → 5s).
	RetryBackoff time.Duration
	// AfterSync, when set, is called with each run once its end is recorded, unless the
	// run was interrupted: the app re-matches everyone against the DingTalk users just
	// written (a func, so orgsync needs no matching import). It runs on the run's
	// context, before Run returns; its error is logged, the run stands.
	AfterSync func(ctx context.Context, run models.SyncRun) error
}

// Service runs org syncs. It is safe for concurrent use.
type Service struct {
	store   *models.Store
	clients ClientSource
	opts    Options
	clock   clockwork.Clock
	log     *slog.Logger

	// background is the context of runs begun by Start: it outlives the request that
	// started them and ends at Close, with errShutdown as its cause.
	background context.Context
	cancel     context.CancelCauseFunc
	mu         sync.Mutex // guards closed and the Add side of running
	closed     bool
	running    sync.WaitGroup
}

// New returns a Service writing to store with clients from clients.
func New(store *models.Store, clients ClientSource, opts Options) *Service {
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.FlushEvery <= 0 {
		opts.FlushEvery = DefaultFlushEvery
	}
	if opts.StaleAfter <= 0 {
		opts.StaleAfter = DefaultStaleAfter
	}
	switch {
	case opts.RetryRounds == 0:
		opts.RetryRounds = DefaultRetryRounds
	case opts.RetryRounds < 0:
		opts.RetryRounds = 0
	}
	if opts.RetryBackoff <= 0 {
		opts.RetryBackoff = DefaultRetryBackoff
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	return &Service{
		store: store, clients: clients, opts: opts, clock: opts.Clock,
		log:        opts.Logger.With(slog.String("component", "orgsync")),
		background: ctx, cancel: cancel,
	}
}

// Recover marks the runs whose heartbeat is older than StaleAfter as interrupted: the
// server running them stopped without recording their end (it crashed or was killed).
// Call it as the server starts, before serving, so the Departments screen does not show
// them running. Runs still heartbeating (on another replica) are left alone; those of
// this server that died moments ago become stale, and are shown and treated as
// interrupted, once StaleAfter has passed.
func (s *Service) Recover(ctx context.Context) error {
	now := s.now()
	n, err := s.store.InterruptStaleSyncRuns(ctx, s.staleBefore(now), now)
	if err != nil {
		return fmt.Errorf("orgsync: recover: %w", err)
	}
	if n > 0 {
		s.log.WarnContext(ctx, "marked org syncs whose server stopped during them as interrupted", slog.Int("runs", n))
	}
	// A run that stopped with its server may have left users unindexed for search.
	if _, err := s.store.IndexPendingMembers(ctx, 0); err != nil {
		return fmt.Errorf("orgsync: recover: %w", err)
	}
	return nil
}

// Start begins a run in the background (on a context that outlives the request but ends
// at Close) and returns its row at once. When a running sync covers the same
// departments it returns that run and a *BusyError. When no DingTalk client can be had
// (settings.ErrNotConfigured, an unreadable secret) it returns the run, recorded as
// failed with that reason, and the error.
func (s *Service) Start(ctx context.Context, kind models.SyncKind, deptID int64, trigger models.SyncTrigger, actor string) (models.SyncRun, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return models.SyncRun{}, ErrClosed
	}
	s.running.Add(1)
	s.mu.Unlock()

	run, client, err := s.begin(ctx, kind, deptID, trigger, actor)
	if err != nil {
		s.running.Done()
		return run, err
	}
	go func() {
		defer s.running.Done()
		// The outcome is in the run's row; a failure to record it is logged by execute.
		_, _ = s.execute(s.background, run, client)
	}()
	return run, nil
}

// Run runs to completion and returns the finished row; err is non-nil only when the run
// could not be recorded or could not start (as for Start: a *BusyError with the running
// run, or the reason no DingTalk client could be had, with the failed run).
func (s *Service) Run(ctx context.Context, kind models.SyncKind, deptID int64, trigger models.SyncTrigger, actor string) (models.SyncRun, error) {
	run, client, err := s.begin(ctx, kind, deptID, trigger, actor)
	if err != nil {
		return run, err
	}
	return s.execute(ctx, run, client)
}

// Close cancels the runs begun by Start and waits until each has recorded its end (as
// interrupted: "stopped: the server shut down").
func (s *Service) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel(errShutdown)
	s.running.Wait()
}

// SyncRun returns run id as it stands now: a running run whose heartbeat is stale is
// reported interrupted (see models.SyncRun.Judged), so a crashed run's panel stops
// polling without waiting for someone to start a sync.
func (s *Service) SyncRun(ctx context.Context, id uint) (models.SyncRun, error) {
	run, err := s.store.SyncRun(ctx, id)
	if err != nil {
		return models.SyncRun{}, err
	}
	return run.Judged(s.staleBefore(s.now())), nil
}

// RunningSyncRuns returns the runs holding their scope, newest first, judged as SyncRun
// judges them: a crashed one shows as interrupted until a start takes its scope over.
func (s *Service) RunningSyncRuns(ctx context.Context) ([]models.SyncRun, error) {
	runs, err := s.store.RunningSyncRuns(ctx)
	return s.judged(runs), err
}

// RecentSyncRuns returns the newest limit runs, newest first, judged as SyncRun judges them.
func (s *Service) RecentSyncRuns(ctx context.Context, limit int) ([]models.SyncRun, error) {
	runs, err := s.store.RecentSyncRuns(ctx, limit)
	return s.judged(runs), err
}

func (s *Service) judged(runs []models.SyncRun) []models.SyncRun {
	staleBefore := s.staleBefore(s.now())
	for i := range runs {
		runs[i] = runs[i].Judged(staleBefore)
	}
	return runs
}

// now is the clock at the precision both databases store (DATETIME(3)), so a time
// written reads back equal. Staleness is judged on this clock too, the one that wrote
// every heartbeat; replicas are expected to keep their clocks in step (NTP) to well
// under StaleAfter.
func (s *Service) now() time.Time {
	return s.clock.Now().UTC().Truncate(time.Millisecond)
}

func (s *Service) staleBefore(now time.Time) time.Time {
	return now.Add(-s.opts.StaleAfter)
}

// begin records a new running run and its audit entry in one transaction, unless a
// running run overlaps it, and gets the DingTalk client it will use.
func (s *Service) begin(ctx context.Context, kind models.SyncKind, deptID int64, trigger models.SyncTrigger, actor string) (models.SyncRun, *dingtalk.Client, error) {
	if !kind.Valid() {
		return models.SyncRun{}, nil, fmt.Errorf("orgsync: unknown sync kind %q", kind)
	}
	if kind == models.SyncKindFull {
		deptID = dingtalk.RootDepartmentID
	}
	if deptID <= 0 {
		return models.SyncRun{}, nil, fmt.Errorf("orgsync: invalid department id %d", deptID)
	}
	if trigger != models.SyncTriggerUser && trigger != models.SyncTriggerSchedule {
		return models.SyncRun{}, nil, fmt.Errorf("orgsync: unknown trigger %q", trigger)
	}
	now := s.now()
	var (
		run     models.SyncRun
		started bool
	)
	err := s.store.InTx(ctx, func(tx *models.Store) error {
		var err error
		run, started, err = tx.BeginSyncRun(ctx, models.SyncRun{
			Kind: kind, DeptID: deptID, Trigger: trigger, Actor: actor,
			StartedAt: now, HeartbeatAt: now,
		}, s.staleBefore(now))
		if err != nil || !started || trigger != models.SyncTriggerUser {
			return err
		}
		// Who pressed which button stays on record after sync_runs is pruned.
		details := fmt.Sprintf("%s of department %d (run %d)", kind, deptID, run.ID)
		return tx.Audit(ctx, models.AuditEntry{Actor: actor, Action: models.ActionSyncStart, Details: details})
	})
	if err != nil {
		return models.SyncRun{}, nil, fmt.Errorf("orgsync: begin %s of department %d: %w", kind, deptID, err)
	}
	if !started {
		return run, nil, &BusyError{Run: run}
	}
	s.log.InfoContext(ctx, "org sync started", runAttrs(run)...)
	client, err := s.clients.Client(ctx)
	if err != nil {
		// Recorded like any failure, so a scheduled sync without settings fails once per
		// interval where admins look, rather than leaving no trace.
		err = fmt.Errorf("get DingTalk client: %w", err)
		failed, ferr := s.finish(ctx, run, err)
		if ferr != nil {
			return failed, nil, ferr
		}
		return failed, nil, err
	}
	return run, client, nil
}

// execute does run, flushing its progress while it goes, and records how it ended.
func (s *Service) execute(ctx context.Context, run models.SyncRun, client *dingtalk.Client) (models.SyncRun, error) {
	p := newProgress(run)
	workCtx, stopWork := context.WithCancelCause(ctx)
	defer stopWork(nil)
	flushCtx, stopFlush := context.WithCancel(workCtx)
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		s.flushLoop(flushCtx, p, stopWork)
	}()

	err := s.work(workCtx, p, client)
	// Whatever the walk wrote is searchable either way (the search reads users not yet
	// indexed directly); indexing the rest now makes the search fast again. Before the
	// end is recorded, so that a finished run means an up-to-date index.
	if n, ierr := s.store.IndexPendingMembers(workCtx, 0); ierr != nil && workCtx.Err() == nil {
		s.log.WarnContext(ctx, "org sync: index members for search", append(runAttrs(p.snapshot()), slog.Any("error", ierr))...)
	} else if n > 0 {
		s.log.DebugContext(ctx, "org sync: indexed members for search", append(runAttrs(p.snapshot()), slog.Int("users", n))...)
	}
	stopFlush()
	<-flushed
	if cause := context.Cause(workCtx); errors.Is(cause, errTakenOver) {
		err = cause
	}
	run, err = s.finish(ctx, p.snapshot(), err)
	if err == nil && run.Status != models.SyncStatusFailed && run.UsersChanged+run.UsersDeactivated+run.MembershipsChanged > 0 {
		// Keeps the Members search's query plans good as the tables grow (see
		// AnalyzeOrgTables); after the run is recorded, so its end shows without delay.
		if aerr := s.store.AnalyzeOrgTables(ctx); aerr != nil {
			s.log.WarnContext(ctx, "org sync: refresh statistics", append(runAttrs(run), slog.Any("error", aerr))...)
		}
	}
	if err == nil {
		s.afterSync(ctx, run)
	}
	return run, err
}

// afterSync calls Options.AfterSync for an ended run. A failed or incomplete run still
// wrote what it read before its error, so it counts; an interrupted one stopped with the
// server, which is no time to start more work.
func (s *Service) afterSync(ctx context.Context, run models.SyncRun) {
	if s.opts.AfterSync == nil || run.Status == models.SyncStatusInterrupted || ctx.Err() != nil {
		return
	}
	if err := s.opts.AfterSync(ctx, run); err != nil {
		s.log.WarnContext(ctx, "org sync: after-sync step", append(runAttrs(run), slog.Any("error", err))...)
	}
}

// LastScheduledFullSync returns when the newest scheduled full sync started, whether it
// is still running, finished or failed (zero time if there was none). The scheduler
// uses it to decide whether a full sync is due.
func (s *Service) LastScheduledFullSync(ctx context.Context) (time.Time, error) {
	run, err := s.store.LastSyncRun(ctx, models.SyncKindFull, models.SyncTriggerSchedule)
	if errors.Is(err, models.ErrNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("orgsync: %w", err)
	}
	return run.StartedAt, nil
}

// RunScheduledFullSync runs a full sync to completion as trigger "schedule". Its outcome
// is recorded in its run; the error also reports a sync that did not succeed (with
// DingTalk's code and message) and, matching ErrBusy, a sync that was already running.
func (s *Service) RunScheduledFullSync(ctx context.Context) error {
	run, err := s.Run(ctx, models.SyncKindFull, dingtalk.RootDepartmentID, models.SyncTriggerSchedule, "")
	if err != nil {
		return fmt.Errorf("scheduled full sync (run %d): %w", run.ID, err)
	}
	if run.Status != models.SyncStatusSucceeded {
		return fmt.Errorf("scheduled full sync (run %d) %s: errcode %d: %s", run.ID, run.Status, run.Errcode, run.Error)
	}
	return nil
}

// work runs the sync that p's run describes.
func (s *Service) work(ctx context.Context, p *progress, client *dingtalk.Client) error {
	run := p.snapshot()
	j := &job{
		store: s.store, api: api{client: client, p: p}, p: p, now: s.now, clock: s.clock,
		concurrency: s.opts.Concurrency, kind: run.Kind, dept: run.DeptID,
		rounds: s.opts.RetryRounds, backoff: s.opts.RetryBackoff,
		log: s.log.With(runAttrs(run)...),
	}
	return j.run(ctx)
}

// flushLoop writes p's counters every FlushEvery while they change, and a heartbeat at
// least every StaleAfter/4, until ctx ends. If the run turns out to have been taken over
// it stops the work.
func (s *Service) flushLoop(ctx context.Context, p *progress, stopWork context.CancelCauseFunc) {
	tick := s.clock.NewTicker(s.opts.FlushEvery)
	defer tick.Stop()
	lastWrite := s.now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.Chan():
		}
		// On SQLite the walk leaves its users' search grams to be written in batches
		// (see models.Store.UpsertDingTalkUsersIndexLater): one batch a tick, while the
		// walk waits on DingTalk's rate limit, so that little is left for its end.
		if _, err := s.store.IndexPendingMembers(ctx, 1); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "org sync: index members for search", append(runAttrs(p.snapshot()), slog.Any("error", err))...)
		}
		now := s.now()
		if !p.takeDirty() && now.Sub(lastWrite) < s.opts.StaleAfter/4 {
			continue
		}
		run := p.snapshot()
		run.HeartbeatAt = now
		err := s.store.SaveSyncRunProgress(ctx, run)
		switch {
		case errors.Is(err, models.ErrNotFound):
			s.log.WarnContext(ctx, "org sync taken over by another process; stopping", runAttrs(run)...)
			stopWork(errTakenOver)
			return
		case err != nil && ctx.Err() == nil:
			// Worth another try on the next tick; the run itself is unaffected.
			p.markDirty()
			s.log.WarnContext(ctx, "org sync: save progress", append(runAttrs(run), slog.Any("error", err))...)
		case err == nil:
			lastWrite = now
		}
	}
}

// outcome sets run's status, error and code from how its work ended: err nil is a
// success; an end of ctx (the server stopping) interrupts it; departments still
// unreadable after the retries leave it incomplete, or failed when they are most of
// it; any other error fails it with DingTalk's code and message.
func outcome(ctx context.Context, run *models.SyncRun, err error) {
	var unread *unreadableError
	switch {
	case err == nil:
		run.Status = models.SyncStatusSucceeded
	case ctx.Err() != nil:
		run.Status, run.Error = models.SyncStatusInterrupted, models.SyncErrorShutdown
		if cause := context.Cause(ctx); !errors.Is(cause, errShutdown) && !errors.Is(cause, context.Canceled) {
			run.Error = "stopped: " + cause.Error()
		}
	case errors.As(err, &unread):
		run.Status = models.SyncStatusIncomplete
		if unread.mostlyLost() {
			run.Status = models.SyncStatusFailed
		}
		run.DepartmentsUnreadable = unread.departments()
		run.Errcode, run.Error = dingtalk.Code(err), err.Error()
	default:
		run.Status, run.Errcode, run.Error = models.SyncStatusFailed, dingtalk.Code(err), err.Error()
	}
}

// finish records run's end as outcome judges err. Rows written before a failure are kept.
func (s *Service) finish(ctx context.Context, run models.SyncRun, err error) (models.SyncRun, error) {
	now := s.now()
	run.FinishedAt, run.HeartbeatAt = &now, now
	outcome(ctx, &run, err)
	// The end must be recorded even when ctx was cancelled by shutdown.
	writeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	if ferr := s.store.FinishSyncRun(writeCtx, run); ferr != nil {
		if errors.Is(ferr, models.ErrNotFound) {
			ferr = errTakenOver
		}
		s.log.ErrorContext(ctx, "org sync: record end", append(runAttrs(run), slog.Any("error", ferr))...)
		return run, fmt.Errorf("orgsync: record end of run %d: %w", run.ID, ferr)
	}
	run.ActiveScope = nil
	level, msg := slog.LevelWarn, "org sync "+string(run.Status)
	if run.Status == models.SyncStatusSucceeded {
		level = slog.LevelInfo
	}
	s.log.Log(ctx, level, msg, append(runAttrs(run),
		slog.Int("departments_seen", run.DepartmentsSeen), slog.Int("departments_changed", run.DepartmentsChanged),
		slog.Int("departments_unreadable", run.DepartmentsUnreadable),
		slog.Int("users_seen", run.UsersSeen), slog.Int("users_changed", run.UsersChanged),
		slog.Int("users_deactivated", run.UsersDeactivated), slog.Int("memberships_changed", run.MembershipsChanged),
		slog.Int("api_calls", run.APICalls), slog.Duration("took", now.Sub(run.StartedAt)),
		slog.String("error", run.Error))...)
	return run, nil
}

func runAttrs(r models.SyncRun) []any {
	return []any{
		slog.Uint64("run_id", uint64(r.ID)), slog.String("kind", string(r.Kind)), slog.Int64("dept_id", r.DeptID),
		slog.String("trigger", string(r.Trigger)), slog.String("actor", r.Actor),
	}
}
