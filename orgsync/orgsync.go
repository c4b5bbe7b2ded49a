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

	"github.com/dingfluence/dingfluence/dingtalk"
	"github.com/dingfluence/dingfluence/models"
)

// Kind is what a sync run synchronises.
type Kind string

// The sync actions: four per department on the Departments screen, and the full sync.
const (
	// KindSubDepartments syncs the direct children of one department.
	KindSubDepartments Kind = "sub_departments"
	// KindAllSubDepartments syncs the whole subtree below one department.
	KindAllSubDepartments Kind = "all_sub_departments"
	// KindDepartmentUsers syncs the direct members of one department.
	KindDepartmentUsers Kind = "department_users"
	// KindAllSubDepartmentUsers syncs the subtree below one department and the members of
	// every department in it, the department itself included.
	KindAllSubDepartmentUsers Kind = "all_sub_department_users"
	// KindFull syncs every department from the root, then every user, and marks users
	// no longer in DingTalk inactive. Its department is always the root.
	KindFull Kind = "full"
)

// Trigger says who started a run.
type Trigger string

// Triggers.
const (
	TriggerUser     Trigger = "user"     // an admin pressed a button
	TriggerSchedule Trigger = "schedule" // the scheduler
)

// Defaults for zero Options fields.
const (
	DefaultConcurrency = 4
	DefaultFlushEvery  = 250 * time.Millisecond
	DefaultStaleAfter  = 2 * time.Minute
)

// finishTimeout bounds recording a run's end, which must happen even when its context
// has been cancelled (shutdown).
const finishTimeout = 10 * time.Second

// ErrBusy is returned by Run when a run of the same kind and department is already running.
var ErrBusy = errors.New("orgsync: a sync of this department and kind is already running")

// ErrClosed is returned by Start after Close.
var ErrClosed = errors.New("orgsync: service closed")

// errTakenOver means another process declared this run dead and took its scope.
var errTakenOver = errors.New("orgsync: run was taken over by another process after a missed heartbeat")

// ClientSource hands out the DingTalk client for the current settings (settings.Service implements it).
type ClientSource interface {
	Client(ctx context.Context) (*dingtalk.Client, error)
}

// Options tunes a Service; zero fields take the defaults.
type Options struct {
	// Concurrency is how many departments a subtree walk works on at once (0 → 4). The
	// client's per-API rate limiter, not this, sets the pace against DingTalk.
	Concurrency int
	Logger      *slog.Logger     // nil → slog.Default()
	Now         func() time.Time // nil → time.Now
	// FlushEvery is how often a running run's counters are written to its row (0 → 250ms).
	FlushEvery time.Duration
	// StaleAfter is how old a running run's heartbeat may get before another start of
	// the same scope takes it over as dead (0 → 2m). Heartbeats come every StaleAfter/4.
	StaleAfter time.Duration
}

// Service runs org syncs. It is safe for concurrent use.
type Service struct {
	store   *models.Store
	clients ClientSource
	opts    Options
	log     *slog.Logger

	// background is the context of runs begun by Start: it outlives the request that
	// started them and ends at Close.
	background context.Context
	cancel     context.CancelFunc
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
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.FlushEvery <= 0 {
		opts.FlushEvery = DefaultFlushEvery
	}
	if opts.StaleAfter <= 0 {
		opts.StaleAfter = DefaultStaleAfter
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{
		store: store, clients: clients, opts: opts,
		log:        opts.Logger.With(slog.String("component", "orgsync")),
		background: ctx, cancel: cancel,
	}
}

// Start begins a run in the background (on a context that outlives the request but ends
// at Close) and returns its row at once; started=false with the already-running run
// when that scope is busy.
func (s *Service) Start(ctx context.Context, kind Kind, deptID int64, trigger Trigger, actor string) (run models.SyncRun, started bool, err error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return models.SyncRun{}, false, ErrClosed
	}
	s.running.Add(1)
	s.mu.Unlock()

	run, started, err = s.begin(ctx, kind, deptID, trigger, actor)
	if err != nil || !started {
		s.running.Done()
		return run, started, err
	}
	go func() {
		defer s.running.Done()
		// The outcome is in the run's row; a failure to record it is logged by execute.
		_, _ = s.execute(s.background, run)
	}()
	return run, true, nil
}

// Run runs to completion and returns the finished row (status succeeded or failed; err
// is non-nil only when the run could not be recorded). When the scope is busy it returns
// the running run and ErrBusy.
func (s *Service) Run(ctx context.Context, kind Kind, deptID int64, trigger Trigger, actor string) (models.SyncRun, error) {
	run, started, err := s.begin(ctx, kind, deptID, trigger, actor)
	if err != nil {
		return models.SyncRun{}, err
	}
	if !started {
		return run, ErrBusy
	}
	return s.execute(ctx, run)
}

// Close cancels the runs begun by Start and waits until each has recorded its end.
func (s *Service) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.running.Wait()
}

// now is the clock at the precision both databases store (DATETIME(3)), so a time
// written reads back equal.
func (s *Service) now() time.Time {
	return s.opts.Now().UTC().Truncate(time.Millisecond)
}

// begin records a new running run, unless its scope is busy.
func (s *Service) begin(ctx context.Context, kind Kind, deptID int64, trigger Trigger, actor string) (models.SyncRun, bool, error) {
	switch kind {
	case KindFull:
		deptID = dingtalk.RootDepartmentID
	case KindSubDepartments, KindAllSubDepartments, KindDepartmentUsers, KindAllSubDepartmentUsers:
	default:
		return models.SyncRun{}, false, fmt.Errorf("orgsync: unknown sync kind %q", kind)
	}
	if deptID <= 0 {
		return models.SyncRun{}, false, fmt.Errorf("orgsync: invalid department id %d", deptID)
	}
	if trigger != TriggerUser && trigger != TriggerSchedule {
		return models.SyncRun{}, false, fmt.Errorf("orgsync: unknown trigger %q", trigger)
	}
	now := s.now()
	run, started, err := s.store.BeginSyncRun(ctx, models.SyncRun{
		Kind: string(kind), DeptID: deptID, Trigger: string(trigger), Actor: actor,
		StartedAt: now, HeartbeatAt: now,
	}, now.Add(-s.opts.StaleAfter))
	if err != nil {
		return models.SyncRun{}, false, fmt.Errorf("orgsync: %w", err)
	}
	if started {
		s.log.InfoContext(ctx, "org sync started", runAttrs(run)...)
		if trigger == TriggerUser {
			// Who pressed which button stays on record after sync_runs is pruned.
			details := fmt.Sprintf("%s of department %d (run %d)", kind, deptID, run.ID)
			if err := s.store.Audit(ctx, models.AuditEntry{Actor: actor, Action: models.ActionSyncStart, Details: details}); err != nil {
				s.log.WarnContext(ctx, "org sync: audit", append(runAttrs(run), slog.Any("error", err))...)
			}
		}
	}
	return run, started, nil
}

// execute does run, flushing its progress while it goes, and records how it ended.
func (s *Service) execute(ctx context.Context, run models.SyncRun) (models.SyncRun, error) {
	p := newProgress(run)
	workCtx, stopWork := context.WithCancelCause(ctx)
	defer stopWork(nil)
	flushCtx, stopFlush := context.WithCancel(workCtx)
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		s.flushLoop(flushCtx, p, stopWork)
	}()

	err := s.work(workCtx, p)
	stopFlush()
	<-flushed
	if cause := context.Cause(workCtx); errors.Is(cause, errTakenOver) {
		err = cause
	}
	run, err = s.finish(ctx, p.snapshot(), err)
	if err == nil && run.Status == models.SyncStatusSucceeded && run.UsersChanged+run.UsersDeactivated+run.MembershipsChanged > 0 {
		// Keeps the Members search's query plans good as the tables grow (see
		// AnalyzeOrgTables); after the run is recorded, so its end shows without delay.
		if aerr := s.store.AnalyzeOrgTables(ctx); aerr != nil {
			s.log.WarnContext(ctx, "org sync: refresh statistics", append(runAttrs(run), slog.Any("error", aerr))...)
		}
	}
	return run, err
}

// LastScheduledFullSync returns when the newest scheduled full sync started, whether it
// is still running, finished or failed (zero time if there was none). The scheduler
// uses it to decide whether a full sync is due.
func (s *Service) LastScheduledFullSync(ctx context.Context) (time.Time, error) {
	run, err := s.store.LastSyncRun(ctx, string(KindFull), string(TriggerSchedule))
	if errors.Is(err, models.ErrNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("orgsync: %w", err)
	}
	return run.StartedAt, nil
}

// RunScheduledFullSync runs a full sync to completion as trigger "schedule". Its outcome
// is recorded in its run; the error also reports a failed sync (with DingTalk's code and
// message) and, wrapping ErrBusy, a full sync that was already running.
func (s *Service) RunScheduledFullSync(ctx context.Context) error {
	run, err := s.Run(ctx, KindFull, dingtalk.RootDepartmentID, TriggerSchedule, "")
	if err != nil {
		return fmt.Errorf("scheduled full sync (run %d): %w", run.ID, err)
	}
	if run.Status != models.SyncStatusSucceeded {
		return fmt.Errorf("scheduled full sync (run %d) failed: errcode %d: %s", run.ID, run.Errcode, run.Error)
	}
	return nil
}

// work runs the sync that p's run describes.
func (s *Service) work(ctx context.Context, p *progress) error {
	run := p.snapshot()
	client, err := s.clients.Client(ctx)
	if err != nil {
		return fmt.Errorf("get DingTalk client: %w", err)
	}
	j := &job{
		store: s.store, api: api{client: client, p: p}, p: p, now: s.now,
		concurrency: s.opts.Concurrency, kind: Kind(run.Kind), dept: run.DeptID,
	}
	return j.run(ctx)
}

// flushLoop writes p's counters to the run's row every FlushEvery while they change,
// and at least every StaleAfter/4 as a heartbeat. When the row says the run was taken
// over, it stops the work through stopWork.
func (s *Service) flushLoop(ctx context.Context, p *progress, stopWork context.CancelCauseFunc) {
	tick := time.NewTicker(s.opts.FlushEvery)
	defer tick.Stop()
	lastWrite := s.now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
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

// finish records run's end: succeeded when err is nil, else failed with DingTalk's
// code and message. Rows written before a failure are kept.
func (s *Service) finish(ctx context.Context, run models.SyncRun, err error) (models.SyncRun, error) {
	now := s.now()
	run.FinishedAt, run.HeartbeatAt = &now, now
	run.Status = models.SyncStatusSucceeded
	if err != nil {
		run.Status = models.SyncStatusFailed
		run.Errcode = dingtalk.Code(err)
		run.Error = err.Error()
	}
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
	level, msg := slog.LevelInfo, "org sync succeeded"
	if err != nil {
		level, msg = slog.LevelWarn, "org sync failed"
	}
	s.log.Log(ctx, level, msg, append(runAttrs(run),
		slog.Int("departments_seen", run.DepartmentsSeen), slog.Int("departments_changed", run.DepartmentsChanged),
		slog.Int("users_seen", run.UsersSeen), slog.Int("users_changed", run.UsersChanged),
		slog.Int("users_deactivated", run.UsersDeactivated), slog.Int("memberships_changed", run.MembershipsChanged),
		slog.Int("api_calls", run.APICalls), slog.Duration("took", now.Sub(run.StartedAt)),
		slog.String("error", run.Error))...)
	return run, nil
}

func runAttrs(r models.SyncRun) []any {
	return []any{
		slog.Uint64("run_id", uint64(r.ID)), slog.String("kind", r.Kind), slog.Int64("dept_id", r.DeptID),
		slog.String("trigger", r.Trigger), slog.String("actor", r.Actor),
	}
}
