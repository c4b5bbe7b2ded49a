// Package directory keeps the users table in step with Confluence: it pages through the
// members of the configured user group (default "confluence-users") with the service
// token and records, for each, the user key, username, display name, e-mail and whether
// the account is active; then it re-matches everyone (matching.Engine.MatchAll).
//
// The user key is the identity: a user renamed in Confluence keeps their row and gets
// the new username. A user gone from the group, or deactivated (Confluence keeps
// deactivated users listed), is marked inactive, never deleted. Local accounts (no user
// key, such as the admin) are never touched; a member whose username a local account
// holds is skipped and counted.
//
// Calls: the member listing already carries key, username, display name, status and —
// where Confluence shows it — the e-mail, so an unchanged directory costs one call per
// page and writes nothing. A user is looked up (UserByKey, which falls back to the mobile
// profile for a hidden e-mail) only when the listing has no e-mail for them and they are
// new or changed; an e-mail hidden from the listing is therefore refreshed when anything
// else about the user changes.
//
// Nothing is written until the listing is complete, and then in one transaction: a
// failed or interrupted run changes no user. Each run is a directory_runs row; one runs
// at a time across replicas.
package directory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/dingfluence/dingfluence/confluence"
	"github.com/dingfluence/dingfluence/matching"
	"github.com/dingfluence/dingfluence/models"
)

// DefaultGroup is the Confluence group whose members are the app's users.
const DefaultGroup = "confluence-users"

// Defaults for zero Options fields.
const (
	DefaultFlushEvery = time.Second
	DefaultStaleAfter = 2 * time.Minute
)

// finishTimeout bounds recording a run's end, which must happen even after its context
// was cancelled (shutdown).
const finishTimeout = 10 * time.Second

// ErrClosed is returned by Start after Close.
var ErrClosed = errors.New("directory: service closed")

// errShutdown is the cause with which Close ends the runs begun by Start.
var errShutdown = errors.New("directory: the server shut down")

// ConfluenceSource hands out the Confluence client of the service account and the user
// group to sync; the Confluence settings implement it.
type ConfluenceSource interface {
	DirectoryClient(ctx context.Context) (client *confluence.Client, group string, err error)
}

// Matcher re-matches every user after a sync; *matching.Engine implements it.
type Matcher interface {
	MatchAll(ctx context.Context) (matching.Summary, error)
}

// Options tunes a Service; zero fields take the defaults.
type Options struct {
	Clock  clockwork.Clock // nil → the real clock
	Logger *slog.Logger    // nil → slog.Default()
	// FlushEvery is how often a running run's counters and heartbeat are written (0 → 1s).
	FlushEvery time.Duration
	// StaleAfter is how old a running run's heartbeat may get before it counts as dead
	// and the next start takes over (0 → 2m).
	StaleAfter time.Duration
}

// Service runs directory syncs. It is safe for concurrent use.
type Service struct {
	store   *models.Store
	source  ConfluenceSource
	matcher Matcher
	opts    Options
	clock   clockwork.Clock
	log     *slog.Logger

	background context.Context
	cancel     context.CancelCauseFunc
	mu         sync.Mutex // guards closed and the Add side of running
	closed     bool
	running    sync.WaitGroup
}

// New returns a Service writing to store, reading Confluence through source and
// re-matching with matcher.
func New(store *models.Store, source ConfluenceSource, matcher Matcher, opts Options) *Service {
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.FlushEvery <= 0 {
		opts.FlushEvery = DefaultFlushEvery
	}
	if opts.StaleAfter <= 0 {
		opts.StaleAfter = DefaultStaleAfter
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	return &Service{
		store: store, source: source, matcher: matcher, opts: opts, clock: opts.Clock,
		log:        opts.Logger.With(slog.String("component", "directory")),
		background: ctx, cancel: cancel,
	}
}

// Start begins a sync in the background (on a context that ends at Close) and returns
// its row at once with started = true. While another directory sync runs it returns
// that one with started = false. When the source hands out no client (Confluence is
// not configured) it returns the source's error and records no run: nothing was tried.
func (s *Service) Start(ctx context.Context, trigger models.DirectoryTrigger, actor string) (models.DirectoryRun, bool, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return models.DirectoryRun{}, false, ErrClosed
	}
	s.running.Add(1)
	s.mu.Unlock()
	run, src, started, err := s.begin(ctx, trigger, actor)
	if err != nil || !started {
		s.running.Done()
		return run, started, err
	}
	go func() {
		defer s.running.Done()
		// The outcome is in the run's row; a failure to record it is logged by execute.
		_, _ = s.execute(s.background, run, src)
	}()
	return run, true, nil
}

// Run syncs to completion and returns the finished row with started = true, or the
// running sync with started = false. err reports only a run that could not be recorded;
// how the sync itself went is in the row (Status, HTTPStatus, Error).
func (s *Service) Run(ctx context.Context, trigger models.DirectoryTrigger, actor string) (models.DirectoryRun, bool, error) {
	run, src, started, err := s.begin(ctx, trigger, actor)
	if err != nil || !started {
		return run, started, err
	}
	run, err = s.execute(ctx, run, src)
	return run, true, err
}

// Close cancels the runs begun by Start and waits until each has recorded its end.
func (s *Service) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel(errShutdown)
	s.running.Wait()
}

// Recover marks runs whose heartbeat went stale as interrupted; call it at start-up.
func (s *Service) Recover(ctx context.Context) error {
	now := s.now()
	if _, err := s.store.InterruptStaleDirectoryRuns(ctx, now.Add(-s.opts.StaleAfter), now); err != nil {
		return fmt.Errorf("directory: recover: %w", err)
	}
	return nil
}

func (s *Service) now() time.Time { return s.clock.Now().UTC().Truncate(time.Millisecond) }

// source is what a run reads Confluence with.
type source struct {
	client *confluence.Client
	group  string
}

// begin gets the Confluence client, then records a new running run (and, for a run an
// admin asked for, its audit entry in the same transaction), unless one is running.
func (s *Service) begin(ctx context.Context, trigger models.DirectoryTrigger, actor string) (models.DirectoryRun, source, bool, error) {
	if trigger != models.DirectoryTriggerUser && trigger != models.DirectoryTriggerSchedule {
		return models.DirectoryRun{}, source{}, false, fmt.Errorf("directory: unknown trigger %q", trigger)
	}
	client, group, err := s.source.DirectoryClient(ctx)
	if err != nil {
		return models.DirectoryRun{}, source{}, false, fmt.Errorf("directory: get Confluence client: %w", err)
	}
	if strings.TrimSpace(group) == "" {
		group = DefaultGroup
	}
	expected, err := s.store.CountActiveDirectoryAccounts(ctx)
	if err != nil {
		return models.DirectoryRun{}, source{}, false, fmt.Errorf("directory: begin: %w", err)
	}
	now := s.now()
	var (
		run     models.DirectoryRun
		started bool
	)
	err = s.store.InTx(ctx, func(tx *models.Store) error {
		var err error
		run, started, err = tx.BeginDirectoryRun(ctx, models.DirectoryRun{
			Trigger: trigger, Actor: actor, GroupName: group, StartedAt: now, HeartbeatAt: now, ExpectedUsers: expected,
		}, now.Add(-s.opts.StaleAfter))
		if err != nil || !started || trigger != models.DirectoryTriggerUser {
			return err
		}
		// Who pressed the button stays on record after directory_runs is pruned.
		return tx.Audit(ctx, models.AuditEntry{Actor: actor, Action: models.ActionDirectorySyncStart,
			Details: fmt.Sprintf("group %s (run %d)", group, run.ID)})
	})
	if err != nil {
		return models.DirectoryRun{}, source{}, false, fmt.Errorf("directory: begin: %w", err)
	}
	if !started {
		return run.Judged(s.now().Add(-s.opts.StaleAfter)), source{}, false, nil
	}
	return run, source{client: client, group: group}, true, nil
}

// DirectoryRun returns run id as it stands now: a running run whose heartbeat went stale
// is reported interrupted, so a crashed run's progress bar stops.
func (s *Service) DirectoryRun(ctx context.Context, id uint) (models.DirectoryRun, error) {
	run, err := s.store.DirectoryRunByID(ctx, id)
	if err != nil {
		return models.DirectoryRun{}, err
	}
	return run.Judged(s.now().Add(-s.opts.StaleAfter)), nil
}

// RecentDirectoryRuns returns the newest limit runs, newest first, judged as DirectoryRun
// judges them.
func (s *Service) RecentDirectoryRuns(ctx context.Context, limit int) ([]models.DirectoryRun, error) {
	runs, err := s.store.RecentDirectoryRuns(ctx, limit)
	staleBefore := s.now().Add(-s.opts.StaleAfter)
	for i := range runs {
		runs[i] = runs[i].Judged(staleBefore)
	}
	return runs, err
}

// execute does run and records how it ended.
func (s *Service) execute(ctx context.Context, run models.DirectoryRun, src source) (models.DirectoryRun, error) {
	s.log.InfoContext(ctx, "directory sync started", slog.Uint64("run", uint64(run.ID)))
	err := s.work(ctx, &run, src)
	switch {
	case err == nil:
		run.Status = models.DirectorySucceeded
	case ctx.Err() != nil:
		run.Status, run.Error = models.DirectoryInterrupted, models.DirectoryErrorShutdown
		if cause := context.Cause(ctx); !errors.Is(cause, errShutdown) && !errors.Is(cause, context.Canceled) {
			run.Error = "stopped: " + cause.Error()
		}
	default:
		run.Status, run.Error = models.DirectoryFailed, err.Error()
		run.HTTPStatus = confluence.StatusCode(err)
	}
	end := s.now()
	run.FinishedAt, run.HeartbeatAt, run.ActiveSlot = &end, end, nil
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	if ferr := s.store.FinishDirectoryRun(fctx, run); ferr != nil {
		s.log.ErrorContext(ctx, "directory sync: record its end", slog.Uint64("run", uint64(run.ID)), slog.Any("error", ferr))
		return run, fmt.Errorf("directory: finish run %d: %w", run.ID, ferr)
	}
	level := slog.LevelInfo
	if run.Status != models.DirectorySucceeded {
		level = slog.LevelWarn
	}
	s.log.Log(ctx, level, "directory sync ended", slog.Uint64("run", uint64(run.ID)),
		slog.String("status", string(run.Status)), slog.Int("seen", run.UsersSeen), slog.Int("created", run.UsersCreated),
		slog.Int("updated", run.UsersUpdated), slog.Int("deactivated", run.UsersDeactivated),
		slog.Int("api_calls", run.APICalls), slog.String("error", run.Error))
	return run, nil
}

// work lists the group, writes the changes and re-matches, counting into run.
func (s *Service) work(ctx context.Context, run *models.DirectoryRun, src source) error {
	client, group := src.client, src.group
	accounts, err := s.store.DirectoryAccounts(ctx)
	if err != nil {
		return err
	}
	p := newPlan(accounts)

	lastFlush := s.now()
	listed := false
	err = client.GroupMemberPages(ctx, group, func(page []confluence.User) error {
		listed = true
		run.APICalls++
		run.PagesDone++
		for _, u := range page {
			p.add(u)
		}
		run.UsersSeen = len(p.seen)
		return s.maybeFlush(ctx, run, &lastFlush)
	})
	if !listed || err != nil {
		run.APICalls++ // the call that failed, or the one that found the group empty
	}
	if err != nil {
		return fmt.Errorf("list members of group %q: %w", group, err)
	}
	// Details only for members the listing left without an e-mail and that are new or
	// changed.
	for _, key := range p.needDetails() {
		u, err := client.UserByKey(ctx, key)
		run.APICalls++
		if err != nil {
			return fmt.Errorf("look up user %s: %w", key, err)
		}
		p.details(u)
		if err := s.maybeFlush(ctx, run, &lastFlush); err != nil {
			return err
		}
	}
	ch, skipped := p.changes()
	run.UsersSkipped = len(skipped)
	if len(skipped) > 0 {
		s.log.WarnContext(ctx, "directory sync: members skipped, their usernames belong to local accounts",
			slog.Any("usernames", skipped))
	}
	if err := s.store.ApplyDirectoryChanges(ctx, ch, s.now()); err != nil {
		return err
	}
	run.UsersCreated, run.UsersUpdated, run.UsersDeactivated = len(ch.Create), len(ch.Update), len(ch.Deactivate)
	sum, err := s.matcher.MatchAll(ctx)
	if err != nil {
		return fmt.Errorf("re-match users: %w", err)
	}
	run.MatchesChanged = sum.Written
	if len(skipped) > 0 {
		// Recorded where admins look, though the run succeeded.
		run.Error = fmt.Sprintf("%d member(s) skipped: username taken by a local account: %s", len(skipped), strings.Join(skipped, ", "))
	}
	return nil
}

// maybeFlush writes run's counters and heartbeat when FlushEvery has passed; a run taken
// over by another replica stops.
func (s *Service) maybeFlush(ctx context.Context, run *models.DirectoryRun, last *time.Time) error {
	now := s.now()
	if now.Sub(*last) < s.opts.FlushEvery {
		return nil
	}
	run.HeartbeatAt = now
	err := s.store.SaveDirectoryRunProgress(ctx, *run)
	switch {
	case errors.Is(err, models.ErrNotFound):
		return errors.New("directory: run was taken over by another process after a missed heartbeat")
	case err != nil:
		s.log.WarnContext(ctx, "directory sync: save progress", slog.Any("error", err))
	default:
		*last = now
	}
	return nil
}
