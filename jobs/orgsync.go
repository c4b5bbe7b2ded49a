package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/dingfluence/dingfluence/models"
)

// orgSyncJob starts the scheduled full org sync when it is due. It wakes every tick and
// reads the interval and the last scheduled sync from the database each time, so a new
// interval on the Settings screen applies at the next tick, and a replica that took the
// lock just after another one finished sees that run and does not repeat it.
type orgSyncJob struct {
	settings SettingsSource
	org      OrgSync
	clock    clockwork.Clock
	// slack lets a sync count as due up to half a tick early: the last sync started a
	// moment after its tick, and without slack every sync would slip by one tick.
	slack time.Duration
	log   *slog.Logger
}

func (j orgSyncJob) run(ctx context.Context) error {
	set, err := j.settings.Load(ctx)
	// Settings whose secret cannot be decrypted are otherwise complete: go on, so the sync
	// fails once per interval in sync_runs, where admins look, instead of every tick here.
	if err != nil && !errors.Is(err, models.ErrSecretUnreadable) {
		return fmt.Errorf("org sync: load settings: %w", err)
	}
	if !set.Enabled || set.SyncIntervalMinutes <= 0 {
		return nil
	}
	interval := time.Duration(set.SyncIntervalMinutes) * time.Minute
	last, err := j.org.LastScheduledFullSync(ctx)
	if err != nil {
		return fmt.Errorf("org sync: last scheduled sync: %w", err)
	}
	if !last.IsZero() && j.clock.Since(last) < interval-j.slack {
		return nil
	}
	j.log.LogAttrs(ctx, slog.LevelInfo, "scheduled org sync starting",
		slog.Time("last", last), slog.Duration("interval", interval))
	if err := j.org.RunScheduledFullSync(ctx); err != nil {
		return fmt.Errorf("org sync: %w", err)
	}
	return nil
}
