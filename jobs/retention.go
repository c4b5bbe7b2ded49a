package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jonboulle/clockwork"
)

// SessionSweeper removes expired sign-in sessions; models.Store implements it.
type SessionSweeper interface {
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error)
}

// Retention returns the retention job, to Register: it deletes what has outlived its use,
// for now expired sign-in sessions. Their expiry is written by the replica that served
// the sign-in, on its own clock, so this job compares by clock too (nil: the real one).
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
		return nil
	}
}
