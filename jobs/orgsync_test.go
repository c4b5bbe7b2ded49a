package jobs

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/dingfluence/dingfluence/models"
)

func TestOrgSyncRunsOnlyWhenDue(t *testing.T) {
	errBoom := errors.New("boom")
	hourly := models.Settings{Enabled: true, SyncIntervalMinutes: 60}
	tests := []struct {
		name    string
		set     models.Settings
		loadErr error
		ago     time.Duration // since the last scheduled sync started; 0: never
		lastErr error
		runErr  error
		wantRun bool
		wantErr error
	}{
		{name: "never synced", set: hourly, wantRun: true},
		{name: "disabled", set: models.Settings{Enabled: false, SyncIntervalMinutes: 60}},
		{name: "interval 0 turns the schedule off", set: models.Settings{Enabled: true}},
		{name: "30 min ago, hourly", set: hourly, ago: 30 * time.Minute},
		{name: "59 min ago, hourly", set: hourly, ago: 59 * time.Minute},
		{name: "61 min ago, hourly", set: hourly, ago: 61 * time.Minute, wantRun: true},
		// The last sync started just after its own tick; an hour of ticks later it is due,
		// not one tick later.
		{name: "an hour ago less the start delay, hourly", set: hourly, ago: time.Hour - 300*time.Millisecond, wantRun: true},
		{name: "secret unreadable: the sync runs and reports it", set: hourly, loadErr: models.ErrSecretUnreadable, wantRun: true},
		{name: "settings cannot be loaded", set: hourly, loadErr: errBoom, wantErr: errBoom},
		{name: "last sync cannot be read", set: hourly, lastErr: errBoom, wantErr: errBoom},
		{name: "sync fails", set: hourly, runErr: errBoom, wantRun: true, wantErr: errBoom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := startTime()
			clock := clockwork.NewFakeClockAt(now)
			org := &memOrg{clock: clock, lastErr: tt.lastErr, runErr: tt.runErr}
			if tt.ago > 0 {
				org.last = now.Add(-tt.ago)
			}
			j := orgSyncJob{
				settings: &fakeSettings{set: tt.set, err: tt.loadErr},
				org:      org,
				clock:    clock,
				slack:    30 * time.Second,
				log:      slog.New(slog.DiscardHandler),
			}

			err := j.run(context.Background())

			if tt.wantErr == nil && err != nil {
				t.Fatalf("run: %v", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("run error = %v, want %v", err, tt.wantErr)
			}
			if ran := len(org.runStarts()) == 1; ran != tt.wantRun {
				t.Errorf("sync ran = %v, want %v", ran, tt.wantRun)
			}
		})
	}
}
