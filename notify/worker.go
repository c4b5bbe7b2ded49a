package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jonboulle/clockwork"

	"github.com/dingfluence/dingfluence/confluence"
	"github.com/dingfluence/dingfluence/models"
)

// Defaults for zero Options fields.
const (
	DefaultPoll         = time.Second
	DefaultLease        = 5 * time.Minute
	DefaultBatch        = 20
	DefaultMaxAttempts  = 8
	DefaultRetryInitial = 30 * time.Second
	DefaultRetryMax     = 30 * time.Minute
	DefaultDeferFor     = 2 * time.Second
)

// ConfluenceSource hands out the client that calls Confluence as the service account
// (settings.Confluence in the app). It is asked for every event, so a changed token or
// base URL applies at once.
type ConfluenceSource interface {
	ServiceClient(ctx context.Context) (*confluence.Client, error)
}

// SettingsSource gives the DingTalk settings (Enable?, the coalescing window), read
// afresh for every batch (settings.Service in the app).
type SettingsSource interface {
	Load(ctx context.Context) (models.Settings, error)
}

// EventStore is what the enricher and the fan-out need from the database.
type EventStore interface {
	ClaimEvents(ctx context.Context, status models.EventStatus, instance string, now time.Time, lease time.Duration, limit int) ([]models.Event, error)
	SkipEvent(ctx context.Context, id uint64, instance string, from models.EventStatus, reason models.SkipReason, details *models.EventDetails, detail string, now time.Time) error
	RetryEvent(ctx context.Context, id uint64, instance string, from models.EventStatus, due time.Time, lastError string) error
	DeferEvent(ctx context.Context, id uint64, instance string, from models.EventStatus, due time.Time) error
	FailEvent(ctx context.Context, id uint64, instance string, from models.EventStatus, reason string, now time.Time) error
	EnrichEvent(ctx context.Context, e models.Enrichment) (models.EnrichResult, error)
	NotifyEvent(ctx context.Context, n models.Notification) error
	UsersByUserKeys(ctx context.Context, keys []string) (map[string]models.User, error)
}

// Options tune the enricher and the fan-out; zero fields take the defaults above.
type Options struct {
	// Instance names this process in claimed_by; instances sharing a database must
	// differ (the app uses host name, process id and a random suffix).
	Instance string
	Clock    clockwork.Clock
	Logger   *slog.Logger
	// Poll is how long Run waits for new work when there was none.
	Poll time.Duration
	// Lease is how long a claim holds an event; a worker that dies leaves it to others
	// once the lease has run out.
	Lease time.Duration
	// Batch is how many events one claim takes.
	Batch int
	// MaxAttempts bounds how often an event is tried when Confluence fails in a way
	// that may pass; the last failure ends it as failed.
	MaxAttempts int
	// RetryInitial and RetryMax shape the jittered exponential wait between attempts.
	RetryInitial time.Duration
	RetryMax     time.Duration
	// DeferFor is how long an event waits for another event of its page to be done.
	DeferFor time.Duration
	// Nudge, when set, wakes Run before Poll has passed (the webhook sends on it after
	// storing an event, in the same process).
	Nudge <-chan struct{}
}

func (o Options) withDefaults() Options {
	if o.Instance == "" {
		o.Instance = "dingfluence"
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.RetryInitial <= 0 {
		o.RetryInitial = DefaultRetryInitial
	}
	if o.RetryMax <= 0 {
		o.RetryMax = DefaultRetryMax
	}
	if o.DeferFor <= 0 {
		o.DeferFor = DefaultDeferFor
	}
	return o
}

// retryWait is the wait before the next attempt of an event that failed attempts times
// before.
func (o Options) retryWait(attempts int) time.Duration {
	return nthBackoff(o.RetryInitial, o.RetryMax, attempts+1)
}

// nthBackoff is the n-th wait (n ≥ 1) of a jittered exponential backoff from
// backoff/v5 that starts at initial, doubles and stops growing at max: ±50 % around
// initial·2^(n-1). The events' workers and the dispatcher both wait by it.
func nthBackoff(initial, max time.Duration, n int) time.Duration {
	b := &backoff.ExponentialBackOff{
		InitialInterval:     initial,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         max,
	}
	b.Reset()
	wait := initial
	for range n {
		wait = b.NextBackOff()
	}
	return wait
}

// transient reports whether a Confluence failure may pass by itself: no answer at all,
// throttling, a server error, or an answer that was not the API's (a proxy's or login
// page). A refusal of the request (401/403 of the service token, 400) will not.
func transient(err error) bool {
	if confluence.IsUnreachable(err) {
		return true
	}
	switch st := confluence.StatusCode(err); {
	case st == 0, st == 429, st >= 500:
		return true
	}
	return false
}

// loadSettings reads the settings; a stored appSecret the key cannot open does not
// matter here (Enable? and the window are still known).
func loadSettings(ctx context.Context, src SettingsSource) (models.Settings, error) {
	set, err := src.Load(ctx)
	if err != nil && !errors.Is(err, models.ErrSecretUnreadable) {
		return models.Settings{}, fmt.Errorf("load settings: %w", err)
	}
	return set, nil
}

// runLoop calls once until ctx ends: at once again while it finds a full batch, else
// after poll on the clock or a nudge. An error of once (the database) is returned, so
// jobs.Workers restarts the loop after a backoff.
func runLoop(ctx context.Context, o Options, once func(context.Context) (int, error)) error {
	for {
		n, err := once(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		if n >= o.Batch {
			continue
		}
		t := o.Clock.NewTimer(o.Poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.Chan():
		case <-o.Nudge:
			t.Stop()
		}
	}
}

// giveBack records a failed attempt on an event held in status from: a transient failure
// is retried after a backoff until MaxAttempts, anything else (or the last attempt) ends
// the event as failed with the reason. Nothing else about the event is written.
func giveBack(ctx context.Context, store EventStore, o Options, ev models.Event, from models.EventStatus, step string, cause error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	now := o.Clock.Now()
	reason := fmt.Sprintf("%s: %v", step, cause)
	if !transient(cause) {
		o.Logger.WarnContext(ctx, "notify: event failed", slog.Uint64("event", ev.ID), slog.String("reason", reason))
		return store.FailEvent(ctx, ev.ID, o.Instance, from, reason, now)
	}
	if ev.Attempts+1 >= o.MaxAttempts {
		reason = fmt.Sprintf("gave up after %d attempts: %s", ev.Attempts+1, reason)
		o.Logger.WarnContext(ctx, "notify: event failed", slog.Uint64("event", ev.ID), slog.String("reason", reason))
		return store.FailEvent(ctx, ev.ID, o.Instance, from, reason, now)
	}
	wait := o.retryWait(ev.Attempts)
	o.Logger.InfoContext(ctx, "notify: Confluence failed; retrying the event later",
		slog.Uint64("event", ev.ID), slog.Int("attempt", ev.Attempts+1), slog.Duration("wait", wait), slog.Any("error", cause))
	return store.RetryEvent(ctx, ev.ID, o.Instance, from, now.Add(wait), reason)
}

// finish turns a lost claim into nothing to do (another instance has the event) and
// passes every other error on.
func finish(ctx context.Context, o Options, ev models.Event, err error) error {
	if errors.Is(err, models.ErrClaimLost) {
		o.Logger.InfoContext(ctx, "notify: event claimed by another instance meanwhile", slog.Uint64("event", ev.ID))
		return nil
	}
	return err
}

// Nudge wakes a worker's Run before its next poll (Options.Nudge), e.g. right after the
// webhook stored an event in this process. Poke never blocks: one pending wake-up is
// enough.
type Nudge chan struct{}

// NewNudge returns a Nudge holding at most one wake-up.
func NewNudge() Nudge { return make(Nudge, 1) }

// Poke wakes the worker unless a wake-up is already pending.
func (n Nudge) Poke() {
	select {
	case n <- struct{}{}:
	default:
	}
}
