package orgsync_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"gorm.io/gorm"

	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/models/modelstest"
	"github.com/dingfluence/dingfluence/orgsync"
)

// afterSyncCalls records the runs Options.AfterSync was called with.
type afterSyncCalls struct {
	mu   sync.Mutex
	runs []models.SyncRun
	err  error
}

func (a *afterSyncCalls) hook(_ context.Context, run models.SyncRun) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.runs = append(a.runs, run)
	return a.err
}

func (a *afterSyncCalls) calls() []models.SyncRun {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]models.SyncRun(nil), a.runs...)
}

// AfterSync follows every org sync that ran — scheduled or pressed, succeeded or failed
// (what it wrote before failing is kept) — with the recorded run.
func TestAfterSyncFollowsEachRun(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		tests := []struct {
			name    string
			trigger models.SyncTrigger
			fail    bool
			hookErr error
			want    models.SyncStatus
		}{
			{name: "scheduled", trigger: models.SyncTriggerSchedule, want: models.SyncStatusSucceeded},
			{name: "pressed", trigger: models.SyncTriggerUser, want: models.SyncStatusSucceeded},
			{name: "failed", trigger: models.SyncTriggerUser, fail: true, want: models.SyncStatusFailed},
			{name: "hook error leaves the run standing", trigger: models.SyncTriggerSchedule, hookErr: errors.New("match failed"), want: models.SyncStatusSucceeded},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				calls := &afterSyncCalls{err: tt.hookErr}
				f := newFixture(t, db, setup{options: orgsync.Options{AfterSync: calls.hook}})
				buildOrg(f.srv)
				if tt.fail {
					f.srv.InjectError("v2/user/list", 60011, 1)
				}
				run, err := f.svc.Run(context.Background(), models.SyncKindFull, 1, tt.trigger, "admin")
				if err != nil || run.Status != tt.want {
					t.Fatalf("Run = %s, %v; want %s", run.Status, err, tt.want)
				}
				got := calls.calls()
				if len(got) != 1 || got[0].ID != run.ID || got[0].Status != tt.want || got[0].FinishedAt == nil {
					t.Fatalf("AfterSync calls = %+v; want one with the recorded run %d", got, run.ID)
				}
			})
		}
	})
}

// A run stopped by shutdown is not followed by AfterSync.
func TestAfterSyncSkipsInterruptedRuns(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		calls := &afterSyncCalls{}
		g := newGate("/v2/user/list")
		f := newFixture(t, db, setup{transport: g, options: orgsync.Options{AfterSync: calls.hook}})
		buildOrg(f.srv)
		run, err := f.svc.Start(context.Background(), models.SyncKindFull, 1, models.SyncTriggerUser, "admin")
		if err != nil {
			t.Fatal(err)
		}
		<-g.arrived
		f.svc.Close()
		if got, _ := f.store.SyncRun(context.Background(), run.ID); got.Status != models.SyncStatusInterrupted {
			t.Fatalf("run = %s, want interrupted", got.Status)
		}
		if got := calls.calls(); len(got) != 0 {
			t.Errorf("AfterSync called for an interrupted run: %+v", got)
		}
	})
}
