package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/alexedwards/scs/gormstore"
	"github.com/alexedwards/scs/v2"
	"github.com/jonboulle/clockwork"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"gorm.io/gorm"

	"github.com/dingfluence/dingfluence/auth"
	"github.com/dingfluence/dingfluence/confluence"
	"github.com/dingfluence/dingfluence/dingtalk"
	"github.com/dingfluence/dingfluence/directory"
	"github.com/dingfluence/dingfluence/handlers"
	"github.com/dingfluence/dingfluence/jobs"
	"github.com/dingfluence/dingfluence/locale"
	"github.com/dingfluence/dingfluence/matching"
	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/notify"
	"github.com/dingfluence/dingfluence/orgsync"
	"github.com/dingfluence/dingfluence/profile"
	"github.com/dingfluence/dingfluence/secretbox"
	"github.com/dingfluence/dingfluence/settings"
)

// App is the assembled application: every service wired once, here.
type App struct {
	Handler   http.Handler
	Store     *models.Store
	db        *gorm.DB
	events    *models.EventWriter
	orgSync   *orgsync.Service
	directory *directory.Service
	matcher   *matching.Engine
	scheduler *jobs.Scheduler
	workers   *jobs.Workers
	// dispatcher sends the deliveries; a worker runs it, tests may drive it by hand.
	dispatcher *notify.Dispatcher
	logger     *slog.Logger
}

// Background job periods. The org-sync job only checks whether a sync is due, so it
// ticks often; the interval itself is a setting.
const (
	orgSyncTick     = time.Minute
	retentionPeriod = 30 * time.Minute
)

// newApp opens the database and builds the services and routes. Anything it
// must tell the operator once (a generated admin password) goes to notice.
func newApp(ctx context.Context, cfg Config, logger *slog.Logger, notice io.Writer) (*App, error) {
	ipExtractor, err := clientIPExtractor(cfg)
	if err != nil {
		return nil, err
	}
	key, created, err := secretbox.LoadKey(cfg.SecretKey, cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("load secret key: %w", err)
	}
	if created {
		logger.Warn("generated a new secret key; back it up, secrets stored with it cannot be read without it", slog.String("dir", cfg.DataDir))
	}
	box, err := secretbox.New(key)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	db, err := models.Open(cfg.DB, logger)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	store := models.NewStore(db, box)
	if _, err := store.LoadSettings(ctx); errors.Is(err, models.ErrSecretUnreadable) {
		// The app still starts, so an admin can enter the secret again, but
		// nothing reaches DingTalk until then: say so where operators look.
		logger.Error("the stored DingTalk appSecret cannot be decrypted with the current secret key; DingTalk calls fail until an administrator enters it again on the Settings page (or DINGFLUENCE_SECRET_KEY is set back to the old key)", slog.Any("error", err))
	}

	sessions := scs.New()
	// No sweeper goroutine of the store's own (its stop races with its
	// start); the scheduler's retention job removes expired sessions.
	sessionStore, err := gormstore.NewWithCleanupInterval(db, 0)
	if err != nil {
		return nil, fmt.Errorf("session store: %w", err)
	}
	sessions.Store = sessionStore
	sessions.Lifetime = 12 * time.Hour
	sessions.IdleTimeout = 2 * time.Hour
	sessions.Cookie.Name = cfg.sessionCookieName()
	sessions.Cookie.HttpOnly = true
	sessions.Cookie.SameSite = http.SameSiteLaxMode
	sessions.Cookie.Secure = cfg.secureCookies()

	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	dtMetrics := dingtalk.NewMetrics(registry)
	clientOptions := func(c *dingtalk.Config) {
		c.Metrics = dtMetrics
		c.Logger = logger
	}

	cfMetrics := confluence.NewMetrics(registry)
	confluenceSettings := settings.NewConfluence(store, func(c *confluence.Config) {
		c.Metrics = cfMetrics
		c.Logger = logger
	}, strings.TrimRight(cfg.BaseURL, "/")+handlers.ConfluenceCallbackPath, logger)
	confluenceSignIn := auth.NewConfluence(confluenceSettings, store, auth.ConfluenceOptions{Logger: logger})

	// One throttle for local and Confluence passwords: a guess costs the same whichever
	// account it is aimed at.
	throttleClock := cfg.throttleClock
	if throttleClock == nil {
		throttleClock = clockwork.NewRealClock()
	}
	throttle := auth.NewThrottle(5, 30*time.Second, auth.DefaultThrottleKeys, throttleClock)
	authOptions := []auth.Option{auth.WithConfluence(confluenceSignIn)}
	if cfg.passwordCost != 0 {
		authOptions = append(authOptions, auth.WithPasswordCost(cfg.passwordCost))
	}
	authService, err := auth.NewService(store, throttle, logger, authOptions...)
	if err != nil {
		return nil, err
	}
	generated, err := authService.EnsureAdmin(ctx, cfg.AdminPassword)
	if errors.Is(err, auth.ErrPasswordTooShort) {
		return nil, fmt.Errorf("DINGFLUENCE_ADMIN_PASSWORD is too short: %w", err)
	}
	if err != nil {
		return nil, err
	}
	if generated != "" {
		logger.Warn("created the local admin account with a generated password; it is shown once")
		fmt.Fprintf(notice, "\n  dingfluence admin account\n    username: %s\n    password: %s\n  (set DINGFLUENCE_ADMIN_PASSWORD to choose your own)\n\n", auth.AdminUsername, generated)
	}

	settingsService := settings.New(store, clientOptions, logger)
	clock := clockwork.NewRealClock()
	// One engine re-matches everyone after every org sync and every directory sync.
	matcher := matching.New(store, settingsService, clock)
	orgSync := orgsync.New(store, settingsService, orgsync.Options{Logger: logger, Clock: clock, AfterSync: rematch(matcher)})
	directorySync := directory.New(store, confluenceSettings, matcher, directory.Options{Logger: logger, Clock: clock})
	bundle, err := locale.NewBundle()
	if err != nil {
		return nil, err
	}
	profileService := profile.New(store, matcher, settingsService, profile.Options{
		Locales: bundle, Clock: clock, BaseURL: cfg.BaseURL, Logger: logger,
		// A few test messages in a row are fine (a first look, a retry); a stream is not.
		Throttle: auth.NewThrottle(3, 20*time.Second, auth.DefaultThrottleKeys, throttleClock),
	})
	// Syncs this server was running when it was killed would otherwise show as running.
	if err := errors.Join(orgSync.Recover(ctx), directorySync.Recover(ctx)); err != nil {
		return nil, err
	}
	scheduler, err := newScheduler(store, settingsService, orgSync, directorySync, logger)
	if err != nil {
		return nil, err
	}
	// The webhook inbox: one insert per accepted event, concurrent ones sharing a
	// commit; the workers do the rest, and the nudge starts this process's enricher on
	// it at once.
	events := models.NewEventWriter(store, models.EventWriterOptions{Logger: logger})
	nudge := notify.NewNudge()
	inbox := notify.NewInbox(store, events, confluenceSettings, notify.InboxOptions{Clock: clock, Logger: logger, Metrics: registry, Accepted: nudge})

	// Continuous workers (the notification dispatcher) are added here with workers.Go.
	workers := jobs.NewWorkers(jobs.WorkerOptions{Logger: logger})
	// The page-event pipeline: every instance runs these workers; they share the events
	// and deliveries by claiming rows, under an instance id of their own.
	instance := workerInstance()
	enricher := notify.NewEnricher(store, settingsService, confluenceSettings,
		notify.Options{Instance: instance, Clock: clock, Logger: logger, Nudge: nudge})
	fanOut := notify.NewFanOut(store, settingsService, confluenceSettings, bundle,
		notify.Options{Instance: instance, Clock: clock, Logger: logger})
	dispatcher := notify.NewDispatcher(store, settingsService, notify.DispatcherOptions{Instance: instance, Clock: clock, Logger: logger})
	workers.Go("notify-enrich", enricher.Run)
	workers.Go("notify-fanout", fanOut.Run)
	workers.Go("dispatch", dispatcher.Run)

	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.IPExtractor = ipExtractor
	handlers.New(handlers.Deps{
		Users:            store,
		DB:               store,
		Directory:        store,
		OrgSync:          orgSync,
		Audit:            store,
		Auth:             authService,
		ConfluenceSignIn: confluenceSignIn,
		Settings:         settingsService,
		Confluence:       confluenceSettings,
		DirectorySync:    directorySync,
		Sessions:         sessions,
		Locales:          bundle,
		Logger:           logger,
		Metrics:          registry,
		SecureCookies:    cfg.secureCookies(),
		MetricsToken:     cfg.MetricsToken,
		Profile:          profileService,
		Identities:       store,
		Inbox:            inbox,
		WebhookURL:       strings.TrimRight(cfg.BaseURL, "/") + handlers.WebhookPath,
		Deliveries:       store,
	}).Register(e)
	return &App{Handler: e, Store: store, db: db, events: events, orgSync: orgSync, directory: directorySync, matcher: matcher, scheduler: scheduler, workers: workers, dispatcher: dispatcher, logger: logger}, nil
}

// workerInstance names this process in the rows its workers claim: host, process id and
// a random suffix, so two processes on one host (or a restart reusing a pid) differ.
func workerInstance() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "dingfluence"
	}
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	id := fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(suffix))
	if len(id) > 64 { // events.claimed_by is 64 characters
		id = id[len(id)-64:]
	}
	return id
}

// clientIPExtractor says where a request's client address comes from. With
// no trusted proxy it is the peer address: any X-Forwarded-For is the
// client's own claim, and believing it would let anyone dodge (or aim)
// sign-in throttling and write forged addresses into the audit log. Behind
// the configured proxies it is the rightmost X-Forwarded-For hop that is not
// one of them; loopback, private and link-local peers are not trusted unless
// listed, since on an intranet or in Docker every client is one of those.
func clientIPExtractor(cfg Config) (echo.IPExtractor, error) {
	proxies, err := cfg.trustedProxies()
	if err != nil {
		return nil, err
	}
	if len(proxies) == 0 {
		return echo.ExtractIPDirect(), nil
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustPrivateNet(false), echo.TrustLinkLocal(false)}
	for _, p := range proxies {
		opts = append(opts, echo.TrustIPRange(p))
	}
	return echo.ExtractIPFromXFFHeader(opts...), nil
}

// newScheduler builds the scheduler with the periodic jobs: the scheduled org sync
// (which decides itself whether a sync is due) followed by the directory sync, and
// retention.
func newScheduler(store *models.Store, settings orgsync.SettingsSource, orgSync *orgsync.Service, directorySync *directory.Service, logger *slog.Logger) (*jobs.Scheduler, error) {
	scheduler, err := jobs.New(store, jobs.Options{Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	schedule := orgsync.Schedule{Settings: settings, Slack: orgSyncTick / 2}
	err = errors.Join(
		scheduler.Register("org-sync", orgSyncTick, scheduledSyncs(orgSync, schedule, directorySync, logger)),
		scheduler.Register("retention", retentionPeriod, jobs.Retention(store, nil, logger)),
	)
	if err != nil {
		_ = scheduler.Shutdown()
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	return scheduler, nil
}

// scheduledOrgSync is the part of orgsync.Service the schedule drives.
type scheduledOrgSync interface {
	RunScheduledSyncIfDue(ctx context.Context, sched orgsync.Schedule) (bool, error)
}

// directoryRunner is the part of directory.Service the schedule drives.
type directoryRunner interface {
	Run(ctx context.Context, trigger models.DirectoryTrigger, actor string) (models.DirectoryRun, bool, error)
}

// scheduledSyncs is the org-sync job: when a scheduled org sync is due it runs it, then
// the Confluence directory sync, which re-matches everyone against the DingTalk users
// just synced. Both run inside the job's lease, and the directory sync also holds its
// own slot, so one instance runs at a time across replicas. The directory sync follows
// even an org sync that failed: the Confluence side does not depend on DingTalk.
func scheduledSyncs(orgSync scheduledOrgSync, schedule orgsync.Schedule, dir directoryRunner, logger *slog.Logger) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		ran, err := orgSync.RunScheduledSyncIfDue(ctx, schedule)
		if !ran || ctx.Err() != nil {
			return err
		}
		return errors.Join(err, runScheduledDirectorySync(ctx, dir, logger))
	}
}

func runScheduledDirectorySync(ctx context.Context, dir directoryRunner, logger *slog.Logger) error {
	run, started, err := dir.Run(ctx, models.DirectoryTriggerSchedule, "")
	switch {
	case errors.Is(err, settings.ErrConfluenceNotConfigured):
		// Sign-in and the directory are optional until an admin sets Confluence up.
		logger.DebugContext(ctx, "scheduled directory sync skipped: Confluence is not configured")
		return nil
	case err != nil:
		return fmt.Errorf("scheduled directory sync: %w", err)
	case !started:
		logger.InfoContext(ctx, "scheduled directory sync skipped: one is already running", slog.Uint64("run", uint64(run.ID)))
		return nil
	case run.Status != models.DirectorySucceeded:
		return fmt.Errorf("scheduled directory sync (run %d) %s: %s", run.ID, run.Status, run.Error)
	}
	return nil
}

// rematch is the org sync's AfterSync: everyone is re-matched against the DingTalk users
// the sync wrote, whoever started it.
func rematch(m directory.Matcher) func(ctx context.Context, run models.SyncRun) error {
	return func(ctx context.Context, run models.SyncRun) error {
		if _, err := m.MatchAll(ctx); err != nil {
			return fmt.Errorf("re-match after org sync run %d: %w", run.ID, err)
		}
		return nil
	}
}

// StartJobs starts the background work: the periodic jobs (scheduled org sync,
// retention) and the continuous workers. Tests that drive syncs by hand leave them off.
func (a *App) StartJobs() {
	a.scheduler.Start()
	a.workers.Start()
}

// Close stops background work and releases the database.
func (a *App) Close() error {
	if err := a.scheduler.Shutdown(); err != nil {
		a.logger.Warn("stop scheduler", slog.Any("error", err))
	}
	a.workers.Shutdown()
	a.orgSync.Close()
	a.directory.Close()
	// After the HTTP server has answered its last webhook, before the database goes.
	a.events.Close()
	sqlDB, err := a.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}
