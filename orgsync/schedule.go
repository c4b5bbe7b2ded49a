package orgsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/dingfluence/dingfluence/models"
)

// SettingsSource loads the current settings; settings.Service implements it.
type SettingsSource interface {
	Load(ctx context.Context) (models.Settings, error)
}

// DBClock tells the database server's time; models.Store implements it.
type DBClock interface {
	DBNow(ctx context.Context) (time.Time, error)
}

// Schedule is what the scheduled full sync follows.
type Schedule struct {
	// Settings gives Enabled and SyncIntervalMinutes, read afresh at every check, so a
	// change on the Settings screen applies at the next check.
	Settings SettingsSource
	// Clock is the clock the interval is measured on: the database's, which every
	// replica shares. Nil means the Service's store.
	Clock DBClock
	// Slack lets a sync count as due up to that much early. The checks come on the
	// scheduler's ticks and the last sync started a moment after its tick; without
	// slack every sync would slip by one tick. Half a tick is right.
	Slack time.Duration
}

// RunScheduledSyncIfDue runs a scheduled full sync to completion if one is due: syncing
// is enabled with a positive interval, and the last scheduled full sync (running,
// finished or failed) started at least an interval ago by sched.Clock, or there was none.
// ran says whether it started one; err reports a failed sync as RunScheduledFullSync
// does, or what kept it from deciding.
//
// The caller (the scheduler's org-sync job) holds the job's lease, so one replica at a
// time decides; a replica that takes the lease just after another one's sync sees that
// sync's row and does not repeat it.
func (s *Service) RunScheduledSyncIfDue(ctx context.Context, sched Schedule) (ran bool, err error) {
	set, err := sched.Settings.Load(ctx)
	// Settings whose secret cannot be decrypted are otherwise complete: go on, so the sync
	// fails once per interval in sync_runs, where admins look, instead of every tick here.
	if err != nil && !errors.Is(err, models.ErrSecretUnreadable) {
		return false, fmt.Errorf("orgsync: scheduled sync: load settings: %w", err)
	}
	if !set.Enabled || set.SyncIntervalMinutes <= 0 {
		return false, nil
	}
	interval := time.Duration(set.SyncIntervalMinutes) * time.Minute
	clock := sched.Clock
	if clock == nil {
		clock = s.store
	}
	now, err := clock.DBNow(ctx)
	if err != nil {
		return false, fmt.Errorf("orgsync: scheduled sync: %w", err)
	}
	last, err := s.LastScheduledFullSync(ctx)
	if err != nil {
		return false, fmt.Errorf("orgsync: scheduled sync: %w", err)
	}
	if !last.IsZero() && now.Sub(last) < interval-sched.Slack {
		return false, nil
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "scheduled org sync starting",
		slog.Time("last", last), slog.Duration("interval", interval))
	return true, s.RunScheduledFullSync(ctx)
}
