package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jonboulle/clockwork"
)

// SessionSweeper removes what retention removes: expired sign-in sessions and old
// webhook counters; models.Store implements it.
type SessionSweeper interface {
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error)
	DeleteWebhookCountsBefore(ctx context.Context, cutoff time.Time) (int64, error)
}

// WebhookCountsKept is how long the hourly webhook refusal and arrival counters are
// kept: the Confluence screen shows the last 24 hours, a week leaves room to look back.
const WebhookCountsKept = 7 * 24 * time.Hour

// Retention returns the retention job, to Register: it deletes what has outlived its use,
// expired sign-in sessions and webhook counters older than WebhookCountsKept. Session
// expiry is written by the replica that served the sign-in, on its own clock, so this job
// compares by clock too (nil: the real one).
func Retention(sessions SessionSweeper, clock clockwork.Clock, log *slog.Logger) func(ctx context.Context) error {
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return func(ctx context.Context) error {
		n, err := sessions.DeleteExpiredSessions(ctx, clock.Now())
		if err != nil {
			return fmt.Errorf("retention: %w", err)
		}
		if n > 0 {
			log.LogAttrs(ctx, slog.LevelInfo, "expired sessions removed", slog.Int64("count", n))
		}
		n, err = sessions.DeleteWebhookCountsBefore(ctx, clock.Now().Add(-WebhookCountsKept))
		if err != nil {
			return fmt.Errorf("retention: %w", err)
		}
		if n > 0 {
			log.LogAttrs(ctx, slog.LevelInfo, "old webhook counters removed", slog.Int64("count", n))
		}
		return nil
	}
}
