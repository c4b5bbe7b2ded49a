package main

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"gorm.io/gorm"

	"github.com/dingfluence/dingfluence/confluence/confluencetest"
	"github.com/dingfluence/dingfluence/dingtalk"
	"github.com/dingfluence/dingfluence/directory"
	"github.com/dingfluence/dingfluence/matching"
	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/models/modelstest"
	"github.com/dingfluence/dingfluence/orgsync"
	"github.com/dingfluence/dingfluence/secretbox"
	"github.com/dingfluence/dingfluence/settings"
)

// events is the order in which the re-matches happened.
type events struct {
	mu  sync.Mutex
	log []string
}

func (e *events) add(ev string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.log = append(e.log, ev)
}

func (e *events) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.log)
}

// recordingMatcher is the engine, noting each MatchAll as ev.
type recordingMatcher struct {
	*matching.Engine
	ev     string
	events *events
}

func (m recordingMatcher) MatchAll(ctx context.Context) (matching.Summary, error) {
	m.events.add(m.ev)
	return m.Engine.MatchAll(ctx)
}

// fakeDBClock stands in for the database's clock.
type fakeDBClock struct{ clock clockwork.Clock }

func (c fakeDBClock) DBNow(context.Context) (time.Time, error) {
	return c.clock.Now().UTC().Truncate(time.Millisecond), nil
}

// The scheduled job runs the org sync when it is due, re-matches everyone after it,
// then syncs the Confluence directory, which re-matches again — so a Confluence user
// new in both directories is matched by the end of one tick. Not due, nothing runs;
// an interval later, all of it again. Without a Confluence token the org sync
// still runs and no directory run is recorded.
func TestScheduledSyncsRunOrgSyncThenDirectoryThenMatch(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		for _, withConfluence := range []bool{true, false} {
			name := "with Confluence"
			if !withConfluence {
				name = "without Confluence"
			}
			t.Run(name, func(t *testing.T) {
				for _, table := range []string{"sync_runs", "directory_runs", "confluence_settings"} {
					if err := db.Exec("DELETE FROM " + table).Error; err != nil {
						t.Fatal(err)
					}
				}
				ctx := context.Background()
				logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
				box, err := secretbox.New(bytes.Repeat([]byte{3}, secretbox.KeySize))
				if err != nil {
					t.Fatal(err)
				}
				store := models.NewStore(db, box)
				clk := clockwork.NewFakeClockAt(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))

				dt := orgFixture(t)
				dtSettings := settings.New(store, nil, logger)
				e := dingtalk.EndpointsAt(dt.URL())
				if err := dtSettings.Save(ctx, settings.Input{
					AgentID: 123456, AppKey: dt.AppKey(), NewSecret: dt.AppSecret(),
					TokenURL: e.Token, SendMessageURL: e.SendMessage, SubDepartmentURL: e.ListSubDepartments, DepartmentDetailURL: e.GetDepartment,
					DepartmentUserIDsURL: e.ListUserIDs, UserProfileURL: e.GetUser, UserByMobileURL: e.GetUserByMobile, UserListURL: e.ListUsers,
					MatchingMethod: models.MatchEmail, Enabled: true, SyncIntervalMinutes: 60,
				}, "test"); err != nil {
					t.Fatal(err)
				}
				cf := confluencetest.New(t)
				cf.AddUser(confluencetest.User{Username: "svc", Admin: true})
				cf.AddUser(confluencetest.User{Username: "zhang.san", DisplayName: "张三", Email: "Zhang.San@acme.example"})
				cf.AddToGroup(models.DefaultConfluenceUserGroup, "zhang.san")
				cfSettings := settings.NewConfluence(store, nil, "http://127.0.0.1/login/confluence/callback", logger)
				in := settings.ConfluenceInput{BaseURL: cf.URL(), AdminGroup: models.DefaultConfluenceAdminGroup, UserGroup: models.DefaultConfluenceUserGroup}
				if withConfluence {
					in.NewToken = cf.IssuePAT("svc")
				}
				if err := cfSettings.Save(ctx, in, "test"); err != nil {
					t.Fatal(err)
				}

				ev := &events{}
				engine := matching.New(store, dtSettings, clk)
				orgSync := orgsync.New(store, dtSettings, orgsync.Options{Clock: clk, Logger: logger,
					AfterSync: rematch(recordingMatcher{engine, "org-sync re-match", ev})})
				t.Cleanup(orgSync.Close)
				dir := directory.New(store, cfSettings, recordingMatcher{engine, "directory re-match", ev}, directory.Options{Clock: clk, Logger: logger})
				t.Cleanup(dir.Close)
				job := scheduledSyncs(orgSync, orgsync.Schedule{Settings: dtSettings, Clock: fakeDBClock{clk}, Slack: 30 * time.Second}, dir, logger)

				counts := func() (org, directory int) {
					t.Helper()
					runs, err := store.RecentSyncRuns(ctx, 100)
					if err != nil {
						t.Fatal(err)
					}
					dirRuns, err := store.RecentDirectoryRuns(ctx, 100)
					if err != nil {
						t.Fatal(err)
					}
					for _, r := range dirRuns {
						if r.Trigger != models.DirectoryTriggerSchedule || r.Status != models.DirectorySucceeded {
							t.Errorf("directory run %+v; want a succeeded scheduled one", r)
						}
					}
					return len(runs), len(dirRuns)
				}
				want := []string{"org-sync re-match", "directory re-match"}
				if !withConfluence {
					want = want[:1]
				}

				if err := job(ctx); err != nil {
					t.Fatalf("first tick: %v", err)
				}
				if got := ev.list(); !slices.Equal(got, want) {
					t.Fatalf("re-matches = %v, want %v", got, want)
				}
				if org, dirRuns := counts(); org != 1 || dirRuns != len(want)-1 {
					t.Fatalf("after the first tick: %d org runs, %d directory runs", org, dirRuns)
				}
				if withConfluence {
					u, err := store.UserByUsername(ctx, "zhang.san")
					if err != nil || u.MatchStatus != models.MatchMatched || u.DingTalkUserID != "zhangsan" {
						t.Fatalf("zhang.san = %+v, %v; want matched to DingTalk's zhangsan", u.ConfluenceIdentity, err)
					}
				}

				clk.Advance(10 * time.Minute)
				if err := job(ctx); err != nil {
					t.Fatalf("tick before due: %v", err)
				}
				if got := ev.list(); len(got) != len(want) {
					t.Fatalf("a tick before the interval re-matched: %v", got)
				}

				clk.Advance(50 * time.Minute)
				if err := job(ctx); err != nil {
					t.Fatalf("tick an interval later: %v", err)
				}
				if got := ev.list(); !slices.Equal(got, append(slices.Clone(want), want...)) {
					t.Fatalf("re-matches = %v, want %v twice", got, want)
				}
				if org, dirRuns := counts(); org != 2 || dirRuns != 2*(len(want)-1) {
					t.Fatalf("an interval later: %d org runs, %d directory runs", org, dirRuns)
				}
			})
		}
	})
}
