package jobs

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jonboulle/clockwork"
)

// retentionJob deletes what has outlived its use: for now, expired sign-in sessions.
type retentionJob struct {
	sessions SessionSweeper
	clock    clockwork.Clock
	log      *slog.Logger
}

func (j retentionJob) run(ctx context.Context) error {
	n, err := j.sessions.DeleteExpiredSessions(ctx, j.clock.Now())
	if err != nil {
		return fmt.Errorf("retention: %w", err)
	}
	if n > 0 {
		j.log.LogAttrs(ctx, slog.LevelInfo, "expired sessions removed", slog.Int64("count", n))
	}
	return nil
}
