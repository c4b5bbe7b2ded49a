package matching_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"gorm.io/gorm"

	"github.com/dingfluence/dingfluence/dingtalk"
	"github.com/dingfluence/dingfluence/dingtalk/dingtalktest"
	"github.com/dingfluence/dingfluence/locale"
	"github.com/dingfluence/dingfluence/matching"
	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/models/modelstest"
	"github.com/dingfluence/dingfluence/secretbox"
	"github.com/dingfluence/dingfluence/settings"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

type clientSource struct{ client *dingtalk.Client }

func (s clientSource) Client(context.Context) (*dingtalk.Client, error) { return s.client, nil }

type fixture struct {
	t     testing.TB
	ctx   context.Context
	store *models.Store
	dt    *dingtalktest.Server
	clock *clockwork.FakeClock
	eng   *matching.Engine
}

func newFixture(t testing.TB, db *gorm.DB) *fixture {
	t.Helper()
	box, err := secretbox.New(bytes.Repeat([]byte{7}, secretbox.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	store := models.NewStore(db, box)
	srv := dingtalktest.Start(t, dingtalktest.Options{})
	client := dingtalk.New(dingtalk.Config{
		AppKey: srv.AppKey(), AppSecret: srv.AppSecret(), AgentID: srv.AgentID(), Endpoints: srv.Endpoints(),
		QPS: 10_000, BaseBackoff: time.Millisecond, MaxRetries: -1,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	clk := clockwork.NewFakeClockAt(t0)
	return &fixture{t: t, ctx: context.Background(), store: store, dt: srv, clock: clk,
		eng: matching.New(store, clientSource{client}, clk)}
}

func (f *fixture) setGlobal(m models.MatchingMethod) {
	f.t.Helper()
	set := models.DefaultSettings()
	set.MatchingMethod = m
	if err := f.store.SaveSettings(f.ctx, set, "admin"); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) dingtalkUsers(users ...models.DingTalkUser) {
	f.t.Helper()
	for i := range users {
		if users[i].Name == "" {
			users[i].Name = users[i].UserID
		}
	}
	if _, err := f.store.UpsertDingTalkUsers(f.ctx, users, f.clock.Now()); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) user(u models.User) models.User {
	f.t.Helper()
	u.Enabled = true
	if err := f.store.CreateUser(f.ctx, &u); err != nil {
		f.t.Fatal(err)
	}
	return u
}

func (f *fixture) stored(id uint) models.User {
	f.t.Helper()
	u, err := f.store.UserByID(f.ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return u
}

func (f *fixture) matchAll() matching.Summary {
	f.t.Helper()
	sum, err := f.eng.MatchAll(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	return sum
}

// want is the expected outcome of a match.
type want struct {
	method models.MatchingMethod
	status models.MatchStatus
	userID string
	reason models.MatchReason
}

func check(t *testing.T, what string, got models.User, w want) {
	t.Helper()
	if got.MatchMethod != w.method || got.MatchStatus != w.status || got.DingTalkUserID != w.userID || got.MatchReason != w.reason {
		t.Errorf("%s: method %q status %q userid %q reason %+v (%s);\nwant method %q status %q userid %q reason %+v (%s)",
			what, got.MatchMethod, got.MatchStatus, got.DingTalkUserID, got.MatchReason, got.MatchReason.English(),
			w.method, w.status, w.userID, w.reason, w.reason.English())
	}
	if got.MatchedAt == nil {
		t.Errorf("%s: matched_at not set", what)
	}
}

// The stored-data methods, each found / not found / ambiguous, give the same result
// through MatchUser (one user, database lookups) and MatchAll (everyone, in memory).
func TestMatchStoredMethods(t *testing.T) {
	dingtalkUsers := []models.DingTalkUser{
		{UserID: "dt-alice", Email: "Alice@Example.com", JobNumber: "E1001", Active: true},
		{UserID: "dt-bob", OrgEmail: "bob@corp.example.com", Email: "bob@home.example", JobNumber: "E1002", Active: true},
		{UserID: "dt-twin1", Email: "twin@example.com", JobNumber: "1234", Active: true},
		{UserID: "dt-twin2", OrgEmail: "TWIN@example.com", JobNumber: "1234", Active: true},
		{UserID: "dt-left", Email: "left@example.com", JobNumber: "E9999", Active: false},
		// A user with both addresses the same counts once.
		{UserID: "dt-same", Email: "same@example.com", OrgEmail: "same@example.com", Active: true},
	}
	cases := []struct {
		name   string
		global models.MatchingMethod
		user   models.User
		want   want
	}{
		{"e-mail, case-insensitive", models.MatchEmail,
			models.User{Username: "alice", Email: " alice@EXAMPLE.com"},
			want{models.MatchEmail, models.MatchMatched, "dt-alice", models.MatchReason{}}},
		{"e-mail via org e-mail", models.MatchEmail,
			models.User{Username: "bob", Email: "bob@corp.example.com"},
			want{models.MatchEmail, models.MatchMatched, "dt-bob", models.MatchReason{}}},
		{"e-mail and org e-mail of one user", models.MatchEmail,
			models.User{Username: "same", Email: "same@example.com"},
			want{models.MatchEmail, models.MatchMatched, "dt-same", models.MatchReason{}}},
		{"e-mail not found", models.MatchEmail,
			models.User{Username: "carol", Email: "carol@example.com"},
			want{models.MatchEmail, models.MatchUnmatched, "", models.MatchReason{Code: models.ReasonEmailNotFound, Value: "carol@example.com"}}},
		{"no e-mail", models.MatchEmail,
			models.User{Username: "dave"},
			want{models.MatchEmail, models.MatchUnmatched, "", models.MatchReason{Code: models.ReasonNoEmail}}},
		{"e-mail ambiguous", models.MatchEmail,
			models.User{Username: "twin", Email: "twin@example.com"},
			want{models.MatchEmail, models.MatchAmbiguous, "", models.MatchReason{Code: models.ReasonEmailAmbiguous, Value: "twin@example.com", Count: 2}}},
		{"e-mail of a user who left DingTalk", models.MatchEmail,
			models.User{Username: "lefty", Email: "left@example.com"},
			want{models.MatchEmail, models.MatchUnmatched, "", models.MatchReason{Code: models.ReasonEmailNotFound, Value: "left@example.com"}}},
		{"job number, case-insensitive", models.MatchJobNumber,
			models.User{Username: "e1001"},
			want{models.MatchJobNumber, models.MatchMatched, "dt-alice", models.MatchReason{}}},
		{"job number not found", models.MatchJobNumber,
			models.User{Username: "E4242"},
			want{models.MatchJobNumber, models.MatchUnmatched, "", models.MatchReason{Code: models.ReasonJobNumberNotFound, Value: "E4242"}}},
		{"job number ambiguous", models.MatchJobNumber,
			models.User{Username: "1234"},
			want{models.MatchJobNumber, models.MatchAmbiguous, "", models.MatchReason{Code: models.ReasonJobNumberAmbiguous, Value: "1234", Count: 2}}},
		{"job number of a user who left DingTalk", models.MatchJobNumber,
			models.User{Username: "E9999"},
			want{models.MatchJobNumber, models.MatchUnmatched, "", models.MatchReason{Code: models.ReasonJobNumberNotFound, Value: "E9999"}}},
		{"own method over the global one", models.MatchEmail,
			models.User{Username: "E1002", Email: "nobody@example.com", MatchingMethod: models.MatchJobNumber},
			want{models.MatchJobNumber, models.MatchMatched, "dt-bob", models.MatchReason{}}},
		{"own e-mail over global job number", models.MatchJobNumber,
			models.User{Username: "nobody", Email: "alice@example.com", MatchingMethod: models.MatchEmail},
			want{models.MatchEmail, models.MatchMatched, "dt-alice", models.MatchReason{}}},
	}
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		for _, path := range []string{"MatchUser", "MatchAll"} {
			t.Run(path, func(t *testing.T) {
				for _, c := range cases {
					t.Run(c.name, func(t *testing.T) {
						// Fresh tables per case: a new fixture on the same database would
						// see earlier users, so each case gets its own usernames and
						// wipes the users table.
						f := newFixture(t, db)
						if err := db.Exec("DELETE FROM users").Error; err != nil {
							t.Fatal(err)
						}
						f.dingtalkUsers(dingtalkUsers...)
						f.setGlobal(c.global)
						u := f.user(c.user)
						if path == "MatchUser" {
							r, err := f.eng.MatchUser(f.ctx, u.ID)
							if err != nil {
								t.Fatal(err)
							}
							if r.Status != c.want.status || r.DingTalkUserID != c.want.userID || r.Reason != c.want.reason {
								t.Errorf("MatchUser returned %+v, want %+v", r, c.want)
							}
						} else if sum := f.matchAll(); sum.Written != 1 || sum.Users != 1 {
							t.Errorf("MatchAll = %+v, want 1 user written", sum)
						}
						check(t, path, f.stored(u.ID), c.want)
					})
				}
			})
		}
	})
}

// A changed DingTalk e-mail moves the match; a user who left DingTalk unmatches; a
// second MatchAll over unchanged data writes nothing and keeps matched_at.
func TestMatchAllFollowsDingTalkChanges(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		f := newFixture(t, db)
		f.setGlobal(models.MatchEmail)
		f.dingtalkUsers(
			models.DingTalkUser{UserID: "dt-1", Email: "ann@example.com", Active: true},
			models.DingTalkUser{UserID: "dt-2", Email: "ben@example.com", Active: true},
		)
		ann := f.user(models.User{Username: "ann", Email: "ann@example.com"})
		ben := f.user(models.User{Username: "ben", Email: "ben@example.com"})
		cat := f.user(models.User{Username: "cat", Email: "cat@example.com"})

		if sum := f.matchAll(); sum.Written != 3 || sum.Matched != 2 || sum.Unmatched != 1 {
			t.Fatalf("first MatchAll = %+v, want 3 written, 2 matched, 1 unmatched", sum)
		}
		firstAt := *f.stored(ann.ID).MatchedAt
		f.clock.Advance(time.Hour)
		if sum := f.matchAll(); sum.Written != 0 || sum.Matched != 2 {
			t.Fatalf("second MatchAll = %+v, want 0 written", sum)
		}
		if at := *f.stored(ann.ID).MatchedAt; !at.Equal(firstAt) {
			t.Errorf("unchanged result re-stamped: matched_at %v, want %v", at, firstAt)
		}

		// dt-1's address now belongs to cat; dt-2 left.
		f.dingtalkUsers(
			models.DingTalkUser{UserID: "dt-1", Email: "cat@example.com", Active: true},
			models.DingTalkUser{UserID: "dt-2", Email: "ben@example.com", Active: false},
		)
		if sum := f.matchAll(); sum.Written != 3 || sum.Matched != 1 {
			t.Fatalf("MatchAll after changes = %+v, want 3 written, 1 matched", sum)
		}
		check(t, "ann", f.stored(ann.ID), want{models.MatchEmail, models.MatchUnmatched, "",
			models.MatchReason{Code: models.ReasonEmailNotFound, Value: "ann@example.com"}})
		check(t, "ben (left DingTalk)", f.stored(ben.ID), want{models.MatchEmail, models.MatchUnmatched, "",
			models.MatchReason{Code: models.ReasonEmailNotFound, Value: "ben@example.com"}})
		check(t, "cat", f.stored(cat.ID), want{models.MatchEmail, models.MatchMatched, "dt-1", models.MatchReason{}})
		if at := *f.stored(cat.ID).MatchedAt; !at.Equal(t0.Add(time.Hour)) {
			t.Errorf("changed result matched_at = %v, want %v", at, t0.Add(time.Hour))
		}
		if sum := f.matchAll(); sum.Written != 0 {
			t.Errorf("MatchAll after MatchAll = %+v, want 0 written", sum)
		}
		// Switching the global method re-matches everyone by it.
		f.setGlobal(models.MatchJobNumber)
		if sum := f.matchAll(); sum.Written != 3 || sum.Unmatched != 3 {
			t.Errorf("MatchAll after switching to job numbers = %+v, want 3 written, 3 unmatched", sum)
		}
	})
}

// Mobile: MatchUser asks DingTalk (found, 60121, no number); MatchAll keeps the lookup's
// result without calling DingTalk, unless the DingTalk user left.
func TestMatchMobile(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		f := newFixture(t, db)
		f.setGlobal(models.MatchEmail)
		f.dt.AddUser(dingtalktest.User{UserID: "dt-mo", Name: "Mo", Mobile: "13800000001", Active: true})
		f.dingtalkUsers(models.DingTalkUser{UserID: "dt-mo", Mobile: "13800000001", Active: true})
		mo := f.user(models.User{Username: "mo", Email: "mo@example.com", Mobile: "13800000001", MatchingMethod: models.MatchMobile})
		nobody := f.user(models.User{Username: "nobody", Mobile: "13900000000", MatchingMethod: models.MatchMobile})
		blank := f.user(models.User{Username: "blank", MatchingMethod: models.MatchMobile})

		for _, c := range []struct {
			user models.User
			want want
		}{
			{mo, want{models.MatchMobile, models.MatchMatched, "dt-mo", models.MatchReason{}}},
			{nobody, want{models.MatchMobile, models.MatchUnmatched, "", models.MatchReason{
				Code: models.ReasonMobileNotFound, Value: "13900000000", Errcode: 60121, Errmsg: "找不到该用户"}}},
			{blank, want{models.MatchMobile, models.MatchUnmatched, "", models.MatchReason{Code: models.ReasonNoMobile}}},
		} {
			if _, err := f.eng.MatchUser(f.ctx, c.user.ID); err != nil {
				t.Fatal(err)
			}
			check(t, "MatchUser "+c.user.Username, f.stored(c.user.ID), c.want)
		}
		if got := f.stored(nobody.ID).MatchReason.English(); got != "DingTalk says: 60121 找不到该用户" {
			t.Errorf("60121 reason in English = %q", got)
		}
		lookups := f.dt.Calls("/topapi/v2/user/getbymobile")
		if lookups != 2 {
			t.Fatalf("DingTalk got %d user-by-mobile calls, want 2 (none for the blank number)", lookups)
		}

		if sum := f.matchAll(); sum.Written != 0 || sum.Matched != 1 {
			t.Errorf("MatchAll after the lookups = %+v, want 0 written, 1 matched", sum)
		}
		// A user who switches to mobile without a lookup yet is told to look up.
		switcher := f.user(models.User{Username: "switcher", Email: "mo@example.com", Mobile: "13800000001"})
		if sum := f.matchAll(); sum.Written != 1 {
			t.Errorf("MatchAll with a new user = %+v, want 1 written", sum)
		}
		if err := db.Model(&models.User{}).Where("id = ?", switcher.ID).Update("matching_method", models.MatchMobile).Error; err != nil {
			t.Fatal(err)
		}
		f.matchAll()
		check(t, "switched to mobile", f.stored(switcher.ID), want{models.MatchMobile, models.MatchUnmatched, "",
			models.MatchReason{Code: models.ReasonMobileNotLookedUp, Value: "13800000001"}})

		// dt-mo leaves DingTalk: bulk matching unmatches mo without asking DingTalk.
		f.dingtalkUsers(models.DingTalkUser{UserID: "dt-mo", Mobile: "13800000001", Active: false})
		f.matchAll()
		check(t, "mo after dt-mo left", f.stored(mo.ID), want{models.MatchMobile, models.MatchUnmatched, "",
			models.MatchReason{Code: models.ReasonDingTalkUserLeft, Value: "dt-mo"}})
		check(t, "nobody keeps its lookup", f.stored(nobody.ID), want{models.MatchMobile, models.MatchUnmatched, "", models.MatchReason{
			Code: models.ReasonMobileNotFound, Value: "13900000000", Errcode: 60121, Errmsg: "找不到该用户"}})
		if n := f.dt.Calls("/topapi/v2/user/getbymobile"); n != lookups {
			t.Errorf("MatchAll made %d user-by-mobile calls, want none", n-lookups)
		}

		// A failing DingTalk is an error result with its code, not a guess.
		f.dt.InjectError("/topapi/v2/user/getbymobile", 40078, 1)
		r, err := f.eng.MatchUser(f.ctx, mo.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != models.MatchError || r.Reason.Code != models.ReasonDingTalkError || r.Reason.Errcode != 40078 || r.DingTalkUserID != "" {
			t.Errorf("MatchUser with DingTalk failing = %+v, want status error with errcode 40078", r)
		}
	})
}

type notConfigured struct{}

func (notConfigured) Client(context.Context) (*dingtalk.Client, error) {
	return nil, settings.ErrNotConfigured
}

// A mobile lookup while no DingTalk app is configured says so, rather than passing the
// configuration error off as DingTalk's answer.
func TestMobileLookupWithoutDingTalk(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		f := newFixture(t, db)
		eng := matching.New(f.store, notConfigured{}, f.clock)
		u := f.user(models.User{Username: "mo", MatchingMethod: models.MatchMobile, Mobile: "13800000001"})
		r, err := eng.MatchUser(f.ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		reason := models.MatchReason{Code: models.ReasonDingTalkNotConfigured, Value: "13800000001"}
		if r.Status != models.MatchError || r.Reason != reason || r.DingTalkUserID != "" {
			t.Errorf("MatchUser = %+v, want status error, reason %+v", r, reason)
		}
		check(t, "stored", f.stored(u.ID), want{models.MatchMobile, models.MatchError, "", reason})
	})
}

// Every reason code renders through a message in both catalogues, with its parameters.
func TestReasonsHaveMessages(t *testing.T) {
	bundle, err := locale.NewBundle()
	if err != nil {
		t.Fatal(err)
	}
	r := models.MatchReason{Code: models.ReasonJobNumberAmbiguous, Value: "1234", Count: 2}
	if got := r.English(); got != "ambiguous: 2 DingTalk users have job number 1234" {
		t.Errorf("English = %q", got)
	}
	codes := []models.MatchReasonCode{
		models.ReasonNoEmail, models.ReasonEmailNotFound, models.ReasonEmailAmbiguous,
		models.ReasonJobNumberNotFound, models.ReasonJobNumberAmbiguous, models.ReasonNoMobile,
		models.ReasonMobileNotFound, models.ReasonMobileNotLookedUp, models.ReasonDingTalkUserLeft,
		models.ReasonDingTalkError, models.ReasonDingTalkNotConfigured,
	}
	for _, tag := range []string{"en", "zh-Hans"} {
		l := bundle.Localizer(tag)
		for _, c := range codes {
			r := models.MatchReason{Code: c, Value: "V-1234", Count: 2, Errcode: 60121, Errmsg: "找不到该用户"}
			got := l.T(r.MessageID(), r.TemplateData())
			if got == r.MessageID() || strings.Contains(got, "{{") || strings.Contains(got, "<no value>") {
				t.Errorf("%s: %s renders as %q", tag, r.MessageID(), got)
			}
		}
		if got := l.T("match.reason.job_number_ambiguous", r.TemplateData()); !strings.Contains(got, "1234") || !strings.Contains(got, "2") {
			t.Errorf("%s: ambiguous job number renders as %q, want the number and the count", tag, got)
		}
	}
}
