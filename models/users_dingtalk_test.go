package models_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"gorm.io/gorm"

	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/models/modelstest"
)

func key(s string) *string { return &s }

func TestSetDingTalkPreferences(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		u := models.User{Username: "alice", Email: "alice@example.com", Enabled: true}
		if err := store.CreateUser(ctx, &u); err != nil {
			t.Fatal(err)
		}
		for _, p := range []models.DingTalkPreferences{
			{MatchingMethod: models.MatchMobile, Mobile: "+8613800000001", NotifyEnabled: false, NotifyOwnChanges: true},
			{MatchingMethod: "", Mobile: "", NotifyEnabled: true, NotifyOwnChanges: false},
		} {
			if err := store.SetDingTalkPreferences(ctx, u.ID, p); err != nil {
				t.Fatal(err)
			}
			got, err := store.UserByID(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.MatchingMethod != p.MatchingMethod || got.Mobile != p.Mobile || got.NotifyEnabled != p.NotifyEnabled || !got.Enabled || got.NotifyOwnChanges != p.NotifyOwnChanges {
				t.Errorf("after SetDingTalkPreferences(%+v): method %q mobile %q notify %v notify own %v (account enabled %v)",
					p, got.MatchingMethod, got.Mobile, got.NotifyEnabled, got.NotifyOwnChanges, got.Enabled)
			}
			if got.Email != "alice@example.com" {
				t.Errorf("e-mail changed to %q", got.Email)
			}
		}
		if err := store.SetDingTalkPreferences(ctx, u.ID+100, models.DingTalkPreferences{}); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("unknown user: %v, want ErrNotFound", err)
		}
	})
}

func TestDingTalkUserByID(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		if _, err := store.UpsertDingTalkUsers(ctx, []models.DingTalkUser{{UserID: "dt-1", Name: "张三", JobNumber: "E1", Active: true}}, t0); err != nil {
			t.Fatal(err)
		}
		got, err := store.DingTalkUserByID(ctx, "dt-1")
		if err != nil || got.JobNumber != "E1" || got.Name != "张三" {
			t.Errorf("DingTalkUserByID(dt-1) = %+v, %v", got, err)
		}
		if _, err := store.DingTalkUserByID(ctx, "nobody"); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("DingTalkUserByID(nobody): %v, want ErrNotFound", err)
		}
	})
}

func TestUsersWithoutDingTalkMatch(t *testing.T) {
	type seed struct {
		user   models.User
		status models.MatchStatus
		reason models.MatchReason
		active bool
	}
	seeds := []seed{
		{models.User{Username: "amy", DisplayName: "Amy Chen", Email: "amy@example.com"}, models.MatchUnmatched,
			models.MatchReason{Code: models.ReasonEmailNotFound, Value: "amy@example.com"}, true},
		{models.User{Username: "bob", DisplayName: "Bob 李", Email: "bob@corp.cn"}, models.MatchAmbiguous,
			models.MatchReason{Code: models.ReasonEmailAmbiguous, Value: "bob@corp.cn", Count: 2}, true},
		{models.User{Username: "cat", DisplayName: "Cat", Email: "cat@example.com"}, models.MatchError,
			models.MatchReason{Code: models.ReasonDingTalkError, Errcode: 40104, Errmsg: "不合法的手机号"}, true},
		{models.User{Username: "dan", DisplayName: "Dan 100%", Email: "dan@example.com"}, models.MatchPending, models.MatchReason{}, true},
		{models.User{Username: "eve", DisplayName: "Eve", Email: "eve@example.com", DingTalkUserID: "dt-eve"}, models.MatchMatched, models.MatchReason{}, true},
		{models.User{Username: "fay", DisplayName: "Fay", Email: "fay@example.com"}, models.MatchUnmatched,
			models.MatchReason{Code: models.ReasonNoMobile}, false}, // deactivated in Confluence
	}
	tests := []struct {
		name      string
		q         models.UnmatchedUserQuery
		want      []string
		wantTotal int
	}{
		{"everyone not matched, by username", models.UnmatchedUserQuery{}, []string{"amy", "bob", "cat", "dan"}, 4},
		{"username substring, any case", models.UnmatchedUserQuery{Search: "A"}, []string{"amy", "cat", "dan"}, 3},
		{"display name substring", models.UnmatchedUserQuery{Search: "李"}, []string{"bob"}, 1},
		{"e-mail substring", models.UnmatchedUserQuery{Search: "@CORP"}, []string{"bob"}, 1},
		{"percent is literal", models.UnmatchedUserQuery{Search: "100%"}, []string{"dan"}, 1},
		{"underscore is literal", models.UnmatchedUserQuery{Search: "_"}, nil, 0},
		{"a matched user is not listed", models.UnmatchedUserQuery{Search: "eve"}, nil, 0},
		{"a deactivated user is not listed", models.UnmatchedUserQuery{Search: "fay"}, nil, 0},
		{"a local account is not listed", models.UnmatchedUserQuery{Search: "admin"}, nil, 0},
		{"paging", models.UnmatchedUserQuery{Offset: 1, Limit: 2}, []string{"bob", "cat"}, 4},
		{"paging a search", models.UnmatchedUserQuery{Search: "a", Offset: 2, Limit: 2}, []string{"dan"}, 3},
	}
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		admin := models.User{Username: "admin", PasswordHash: "x", IsAdmin: true, Enabled: true}
		if err := store.CreateUser(ctx, &admin); err != nil {
			t.Fatal(err)
		}
		for _, s := range seeds {
			u := s.user
			u.UserKey = key("key-" + u.Username)
			u.Enabled = true
			u.MatchStatus = s.status
			u.MatchReason = s.reason
			if err := store.CreateUser(ctx, &u); err != nil {
				t.Fatal(err)
			}
			if !s.active {
				// GORM writes no zero value over a column default, so deactivate afterwards.
				if err := db.Exec("UPDATE users SET active = ? WHERE id = ?", false, u.ID).Error; err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				page, err := store.UsersWithoutDingTalkMatch(ctx, tt.q)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, r := range page.Rows {
					got = append(got, r.Username)
				}
				if !slices.Equal(got, tt.want) || page.Total != tt.wantTotal {
					t.Errorf("got %v (total %d), want %v (total %d)", got, page.Total, tt.want, tt.wantTotal)
				}
			})
		}
		// Each row carries its reason for the screen to word.
		page, err := store.UsersWithoutDingTalkMatch(ctx, models.UnmatchedUserQuery{Search: "bob"})
		if err != nil || len(page.Rows) != 1 {
			t.Fatalf("bob: %+v, %v", page, err)
		}
		r := page.Rows[0]
		if r.DisplayName != "Bob 李" || r.Email != "bob@corp.cn" || r.Match.Status != models.MatchAmbiguous ||
			r.Match.Reason != (models.MatchReason{Code: models.ReasonEmailAmbiguous, Value: "bob@corp.cn", Count: 2}) {
			t.Errorf("bob's row = %+v", r)
		}
	})
}

func TestSearchMembersWithoutConfluenceUser(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		users := []models.DingTalkUser{
			{UserID: "dt-a", Name: "Alice", Active: true},
			{UserID: "dt-b", Name: "Bob", Active: true},
			{UserID: "dt-c", Name: "Carol", Active: true},
		}
		if _, err := store.UpsertDingTalkUsers(ctx, users, t0); err != nil {
			t.Fatal(err)
		}
		alice := models.User{Username: "alice", Enabled: true, DingTalkUserID: "dt-a"}
		alice.UserKey = key("k-alice")
		alice.MatchStatus = models.MatchMatched
		if err := store.CreateUser(ctx, &alice); err != nil {
			t.Fatal(err)
		}
		if _, _, err := store.ReplaceDepartmentMembers(ctx, 1, []string{"dt-a", "dt-b"}); err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			name string
			q    models.MemberQuery
			want []string
		}{
			{"filter off", models.MemberQuery{}, []string{"dt-a", "dt-b", "dt-c"}},
			{"without a Confluence user", models.MemberQuery{WithoutConfluenceUser: true}, []string{"dt-b", "dt-c"}},
			{"with a search", models.MemberQuery{WithoutConfluenceUser: true, Search: "al"}, nil},
			{"with a search that finds one", models.MemberQuery{WithoutConfluenceUser: true, Search: "car"}, []string{"dt-c"}},
			{"in a department", models.MemberQuery{WithoutConfluenceUser: true, DeptID: 1}, []string{"dt-b"}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				page, err := store.SearchMembers(ctx, tt.q)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, r := range page.Rows {
					got = append(got, r.UserID)
				}
				if !slices.Equal(got, tt.want) || page.Total != len(tt.want) {
					t.Errorf("got %v (total %d), want %v", got, page.Total, tt.want)
				}
			})
		}
	})
}
