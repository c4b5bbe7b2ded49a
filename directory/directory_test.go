package directory_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"gorm.io/gorm"

	"github.com/dingfluence/dingfluence/confluence"
	"github.com/dingfluence/dingfluence/confluence/confluencetest"
	"github.com/dingfluence/dingfluence/directory"
	"github.com/dingfluence/dingfluence/matching"
	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/models/modelstest"
	"github.com/dingfluence/dingfluence/secretbox"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

const group = "confluence-users"

// source hands out one client and group, as the Confluence settings will.
type source struct {
	client *confluence.Client
	group  string
}

func (s source) DirectoryClient(context.Context) (*confluence.Client, string, error) {
	return s.client, s.group, nil
}

type fixture struct {
	t     testing.TB
	ctx   context.Context
	cf    *confluencetest.Server
	store *models.Store
	clock *clockwork.FakeClock
	svc   *directory.Service
	token string
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func newFixture(t testing.TB, db *gorm.DB, pageSize int) *fixture {
	t.Helper()
	box, err := secretbox.New(bytes.Repeat([]byte{7}, secretbox.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	store := models.NewStore(db, box)
	cf := confluencetest.New(t)
	cf.AddUser(confluencetest.User{Username: "svc", Admin: true})
	cf.AddGroup(group)
	token := cf.IssuePAT("svc")
	clk := clockwork.NewFakeClockAt(t0)
	f := &fixture{t: t, ctx: context.Background(), cf: cf, store: store, clock: clk, token: token}
	f.svc = f.service(token, pageSize)
	return f
}

func (f *fixture) service(token string, pageSize int) *directory.Service {
	client, err := confluence.New(confluence.Config{
		BaseURL: f.cf.URL(), Credential: confluence.BearerToken(token), PageSize: pageSize,
		MaxRetries: -1, Logger: testLogger(f.t),
	})
	if err != nil {
		f.t.Fatal(err)
	}
	svc := directory.New(f.store, source{client, group}, matching.New(f.store, nil, f.clock),
		directory.Options{Clock: f.clock, Logger: testLogger(f.t)})
	f.t.Cleanup(svc.Close)
	return svc
}

func (f *fixture) sync() models.DirectoryRun {
	f.t.Helper()
	f.cf.ResetRequests()
	run, started, err := f.svc.Run(f.ctx, models.DirectoryTriggerUser, "admin")
	if err != nil || !started {
		f.t.Fatalf("Run = %+v, %v, %v", run, started, err)
	}
	return run
}

func (f *fixture) listCalls() int {
	return len(f.cf.RequestsTo("/rest/api/group/" + group + "/member"))
}

func (f *fixture) user(username string) models.User {
	f.t.Helper()
	u, err := f.store.UserByUsername(f.ctx, username)
	if err != nil {
		f.t.Fatalf("user %s: %v", username, err)
	}
	return u
}

func (f *fixture) userCount() int64 {
	var n int64
	if err := f.store.DB().Model(&models.User{}).Count(&n).Error; err != nil {
		f.t.Fatal(err)
	}
	return n
}

// The life of a directory: first sync, unchanged re-sync, rename, removal,
// deactivation, return — checked against what crossed the wire and the rows written.
func TestDirectoryLifecycle(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		const pageSize = 3
		f := newFixture(t, db, pageSize)
		admin := models.User{Username: "admin", PasswordHash: "x", IsAdmin: true, Enabled: true, Email: "admin@example.com"}
		if err := f.store.CreateUser(f.ctx, &admin); err != nil {
			t.Fatal(err)
		}
		names := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace"}
		keys := map[string]string{}
		for _, n := range names {
			u := f.cf.AddUser(confluencetest.User{Username: n, DisplayName: strings.ToUpper(n), Email: n + "@example.com"})
			keys[n] = u.Key
		}
		f.cf.SetEmail("carol", "carol@example.com", true) // only the mobile profile shows it
		f.cf.Deactivate("grace")
		f.cf.AddToGroup(group, names...)
		if _, err := f.store.UpsertDingTalkUsers(f.ctx, []models.DingTalkUser{
			{UserID: "dt-alice", Name: "Alice", Email: "alice@example.com", Active: true},
		}, t0); err != nil {
			t.Fatal(err)
		}

		// First sync: everyone created, carol looked up for her e-mail, grace inactive,
		// and everyone matched.
		run := f.sync()
		if run.Status != models.DirectorySucceeded || run.UsersSeen != 7 || run.UsersCreated != 7 || run.UsersUpdated != 0 ||
			run.UsersDeactivated != 0 || run.APICalls != 4 || run.PagesDone != 3 || run.MatchesChanged != 8 {
			t.Fatalf("first sync = %+v; want succeeded, 7 seen and created, 4 calls (3 pages, 1 lookup), 8 matches", run)
		}
		if n := f.listCalls(); n != 3 {
			t.Errorf("first sync made %d list calls, want 3", n)
		}
		if n := len(f.cf.RequestsTo("/rest/api/user")); n != 1 {
			t.Errorf("first sync made %d user lookups, want 1 (carol, whose e-mail the listing hides)", n)
		}
		for _, n := range names {
			u := f.user(n)
			if u.UserKey == nil || *u.UserKey != keys[n] || u.DisplayName != strings.ToUpper(n) || u.Email != n+"@example.com" ||
				u.Active != (n != "grace") || !u.Enabled {
				t.Errorf("%s = key %v name %q email %q active %v; want key %s, %q, %s@example.com, active %v",
					n, u.UserKey, u.DisplayName, u.Email, u.Active, keys[n], strings.ToUpper(n), n, n != "grace")
			}
		}
		if u := f.user("alice"); u.MatchStatus != models.MatchMatched || u.DingTalkUserID != "dt-alice" {
			t.Errorf("alice after the sync: %q %q, want matched to dt-alice", u.MatchStatus, u.DingTalkUserID)
		}

		// Unchanged: one call per page, nothing written.
		run = f.sync()
		if run.RowsWritten() != 0 || run.MatchesChanged != 0 || run.APICalls != 3 || f.listCalls() != 3 || len(f.cf.Requests()) != 3 {
			t.Errorf("unchanged re-sync = %+v with %d requests; want 0 rows, 3 list calls and nothing else", run, len(f.cf.Requests()))
		}

		// bob is renamed, dave leaves the group, erin is deactivated, grace comes back.
		bobID := f.user("bob").ID
		f.cf.RenameUser("bob", "robert")
		f.cf.RemoveFromGroup(group, "dave")
		f.cf.Deactivate("erin")
		f.cf.Reactivate("grace")
		run = f.sync()
		if run.Status != models.DirectorySucceeded || run.UsersSeen != 6 || run.UsersCreated != 0 || run.UsersUpdated != 3 || run.UsersDeactivated != 1 {
			t.Errorf("sync after changes = %+v; want 6 seen, 3 updated (bob, erin, grace), 1 deactivated (dave)", run)
		}
		if u := f.user("robert"); u.ID != bobID || *u.UserKey != keys["bob"] {
			t.Errorf("renamed bob is row %d key %v, want row %d (the user key is the identity)", u.ID, u.UserKey, bobID)
		}
		if _, err := f.store.UserByUsername(f.ctx, "bob"); err == nil {
			t.Errorf("the old username bob still exists")
		}
		for n, active := range map[string]bool{"dave": false, "erin": false, "grace": true, "alice": true} {
			if u := f.user(n); u.Active != active {
				t.Errorf("%s active = %v, want %v", n, u.Active, active)
			}
		}
		// (The re-match does consider the admin, by its e-mail like anyone else.)
		if got := f.user("admin"); got.ID != admin.ID || got.UserKey != nil || !got.Active || got.Email != admin.Email ||
			got.DisplayName != "" || !got.IsAdmin {
			t.Errorf("the local admin was touched: %+v", got)
		}
		if n := f.userCount(); n != 8 {
			t.Errorf("%d user rows, want 8: nobody is ever deleted", n)
		}
		if run := f.sync(); run.RowsWritten() != 0 || f.listCalls() != 2 {
			t.Errorf("re-sync after changes = %+v with %d list calls; want 0 rows, 2 calls", run, f.listCalls())
		}
	})
}

// Usernames move between rows: two users swap names, and a new account takes the name of
// a departed one; a local account's name is never taken.
func TestDirectoryUsernameConflicts(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		f := newFixture(t, db, 50)
		admin := models.User{Username: "admin", IsAdmin: true, Enabled: true}
		if err := f.store.CreateUser(f.ctx, &admin); err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"ann", "ben", "old"} {
			f.cf.AddUser(confluencetest.User{Username: n, Email: n + "@example.com"})
		}
		f.cf.AddToGroup(group, "ann", "ben", "old")
		f.sync()
		annID, benID, oldID := f.user("ann").ID, f.user("ben").ID, f.user("old").ID

		f.cf.RenameUser("ann", "tmp")
		f.cf.RenameUser("ben", "ann")
		f.cf.RenameUser("tmp", "ben")
		f.cf.RemoveFromGroup(group, "old")
		f.cf.RenameUser("old", "old-gone")
		f.cf.AddUser(confluencetest.User{Username: "OLD", Email: "new@example.com"}) // a new account, the old name
		f.cf.AddUser(confluencetest.User{Username: "Admin", Email: "cadmin@example.com"})
		f.cf.AddToGroup(group, "OLD", "Admin")
		run := f.sync()
		if run.Status != models.DirectorySucceeded || run.UsersCreated != 1 || run.UsersSkipped != 1 || !strings.Contains(run.Error, "Admin") {
			t.Fatalf("sync = %+v; want succeeded, 1 created, 1 skipped (Admin) and named", run)
		}
		if f.user("ann").ID != benID || f.user("ben").ID != annID {
			t.Errorf("swapped names: ann is row %d, ben row %d; want %d and %d", f.user("ann").ID, f.user("ben").ID, benID, annID)
		}
		if u := f.user("old"); u.ID == oldID || u.Email != "new@example.com" {
			t.Errorf("username old belongs to row %d (%s), want the new account", u.ID, u.Email)
		}
		var departed models.User
		if err := db.Where("id = ?", oldID).Take(&departed).Error; err != nil || departed.Active || !strings.HasPrefix(departed.Username, "~") {
			t.Errorf("departed row = %q active %v (%v); want inactive, name parked as ~<key>", departed.Username, departed.Active, err)
		}
		if got := f.user("admin"); got.ID != admin.ID || got.UserKey != nil || !got.IsAdmin {
			t.Errorf("local admin = %+v, want untouched", got)
		}
	})
}

// A refused token fails the run with Confluence's status and message, writing nothing.
func TestDirectoryUnauthorized(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		f := newFixture(t, db, 10)
		f.cf.AddUser(confluencetest.User{Username: "ann"})
		f.cf.AddToGroup(group, "ann")
		f.cf.RevokePAT(f.token)
		run := f.sync()
		if run.Status != models.DirectoryFailed || run.HTTPStatus != http.StatusUnauthorized || !strings.Contains(run.Error, "401") ||
			run.FinishedAt == nil || run.ActiveSlot != nil {
			t.Errorf("run = %+v; want failed with HTTP 401 and Confluence's message", run)
		}
		stored, err := f.store.DirectoryRunByID(f.ctx, run.ID)
		if err != nil || stored.Status != models.DirectoryFailed || stored.HTTPStatus != http.StatusUnauthorized || stored.Error != run.Error {
			t.Errorf("stored run = %+v, %v; want the failure recorded", stored, err)
		}
		if n := f.userCount(); n != 0 {
			t.Errorf("%d users written by a failed run", n)
		}
	})
}

// One directory sync at a time: while one runs (its listing stalled), a second start is
// refused with the running one; after it ends the next may start.
func TestDirectoryOneRunAtATime(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		f := newFixture(t, db, 10)
		f.cf.AddUser(confluencetest.User{Username: "ann"})
		f.cf.AddToGroup(group, "ann")
		reached := make(chan struct{}, 1)
		f.cf.InjectFault(confluencetest.Fault{Path: "/rest/api/group", Stall: true, Reached: reached}, 1)
		first, started, err := f.svc.Start(f.ctx, models.DirectoryTriggerSchedule, "")
		if err != nil || !started {
			t.Fatalf("Start = %+v, %v, %v", first, started, err)
		}
		<-reached
		other := f.service(f.token, 10) // another replica
		busy, started, err := other.Run(f.ctx, models.DirectoryTriggerUser, "admin")
		if err != nil || started || busy.ID != first.ID {
			t.Errorf("second start = %+v, started %v, %v; want refused with run %d", busy, started, err, first.ID)
		}
		f.svc.Close() // ends the stalled run as interrupted
		ended, err := f.store.DirectoryRunByID(f.ctx, first.ID)
		if err != nil || ended.Status != models.DirectoryInterrupted || ended.ActiveSlot != nil {
			t.Errorf("run after Close = %+v, %v; want interrupted, slot freed", ended, err)
		}
		run, started, err := other.Run(f.ctx, models.DirectoryTriggerUser, "admin")
		if err != nil || !started || run.Status != models.DirectorySucceeded || run.UsersCreated != 1 {
			t.Errorf("next run = %+v, %v, %v; want it to start and succeed", run, started, err)
		}
	})
}

// notConfigured is a source before the Confluence connection was saved.
type notConfigured struct{}

var errNotConfigured = errors.New("confluence is not configured")

func (notConfigured) DirectoryClient(context.Context) (*confluence.Client, string, error) {
	return nil, "", errNotConfigured
}

// Without a Confluence client nothing is tried: the source's error comes back and no run
// is recorded, so the screen and the schedule can tell "not configured" from a failure.
func TestDirectoryNotConfigured(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		f := newFixture(t, db, 10)
		svc := directory.New(f.store, notConfigured{}, matching.New(f.store, nil, f.clock), directory.Options{Clock: f.clock, Logger: testLogger(t)})
		t.Cleanup(svc.Close)
		for name, start := range map[string]func() (models.DirectoryRun, bool, error){
			"Start": func() (models.DirectoryRun, bool, error) {
				return svc.Start(f.ctx, models.DirectoryTriggerUser, "admin")
			},
			"Run": func() (models.DirectoryRun, bool, error) { return svc.Run(f.ctx, models.DirectoryTriggerSchedule, "") },
		} {
			if run, started, err := start(); !errors.Is(err, errNotConfigured) || started || run.ID != 0 {
				t.Errorf("%s = %+v, %v, %v; want the source's error and no run", name, run, started, err)
			}
		}
		if runs, err := f.store.RecentDirectoryRuns(f.ctx, 0); err != nil || len(runs) != 0 {
			t.Errorf("runs = %+v, %v; want none recorded", runs, err)
		}
		if n := len(f.cf.Requests()); n != 0 {
			t.Errorf("%d requests reached Confluence", n)
		}
	})
}

// A sync an admin starts is in the audit log with the group and run; a scheduled one is not.
// A run whose heartbeat went stale reads as interrupted.
func TestDirectoryAuditAndJudgedRuns(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		f := newFixture(t, db, 10)
		pressed := f.sync()
		if _, _, err := f.svc.Run(f.ctx, models.DirectoryTriggerSchedule, ""); err != nil {
			t.Fatal(err)
		}
		page, err := f.store.AuditPage(f.ctx, models.AuditQuery{Action: models.ActionDirectorySyncStart})
		want := fmt.Sprintf("group %s (run %d)", group, pressed.ID)
		if err != nil || len(page.Entries) != 1 || page.Entries[0].Actor != "admin" || page.Entries[0].Details != want {
			t.Errorf("audit = %+v, %v; want one entry by admin: %q", page.Entries, err, want)
		}

		stuck, started, err := f.store.BeginDirectoryRun(f.ctx, models.DirectoryRun{
			Trigger: models.DirectoryTriggerUser, StartedAt: f.clock.Now(), HeartbeatAt: f.clock.Now(),
		}, f.clock.Now().Add(-time.Hour))
		if err != nil || !started {
			t.Fatal(started, err)
		}
		if got, _ := f.svc.DirectoryRun(f.ctx, stuck.ID); got.Status != models.DirectoryRunning {
			t.Errorf("fresh run = %s, want running", got.Status)
		}
		f.clock.Advance(directory.DefaultStaleAfter + time.Second)
		got, err := f.svc.DirectoryRun(f.ctx, stuck.ID)
		recent, rerr := f.svc.RecentDirectoryRuns(f.ctx, 1)
		if err != nil || rerr != nil || got.Status != models.DirectoryInterrupted || len(recent) != 1 || recent[0].Status != models.DirectoryInterrupted {
			t.Errorf("stale run = %s (%v), recent %+v (%v); want interrupted", got.Status, err, recent, rerr)
		}
	})
}
