package models_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/models/modelstest"
)

// user_key identifies a Confluence account: unique, while any number of local accounts
// have none; a new user is active until the directory says otherwise.
func TestUserKeyIsUniqueAndOptional(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		key := "8a7f808300000000000000000000001"
		for _, u := range []models.User{
			{Username: "admin"}, {Username: "local2"},
			{Username: "alice", ConfluenceIdentity: models.ConfluenceIdentity{UserKey: &key}},
		} {
			if err := store.CreateUser(ctx, &u); err != nil {
				t.Fatalf("CreateUser(%s): %v", u.Username, err)
			}
		}
		dup := models.User{Username: "alice2", ConfluenceIdentity: models.ConfluenceIdentity{UserKey: &key}}
		if err := store.CreateUser(ctx, &dup); !errors.Is(err, models.ErrDuplicate) {
			t.Errorf("second user with key %s: err = %v, want ErrDuplicate", key, err)
		}
		got, err := store.UserByUsername(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if got.UserKey == nil || *got.UserKey != key || !got.Active || got.MatchStatus != models.MatchPending {
			t.Errorf("alice = key %v active %v status %q; want key %s, active, pending", got.UserKey, got.Active, got.MatchStatus, key)
		}
	})
}

// SaveUserMatches writes exactly the users it is given, each with its own result, over
// more users than one statement carries.
func TestSaveUserMatches(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		const n = 600
		var updates []models.UserMatchUpdate
		at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		for i := range n {
			u := models.User{Username: "u" + strconv.Itoa(i)}
			if err := store.CreateUser(ctx, &u); err != nil {
				t.Fatal(err)
			}
			if i%2 == 0 {
				updates = append(updates, models.UserMatchUpdate{ID: u.ID, Match: models.UserMatch{
					Method: models.MatchEmail, Status: models.MatchUnmatched, MatchedAt: &at,
					Reason: models.MatchReason{Code: models.ReasonEmailNotFound, Value: "u" + strconv.Itoa(i) + "@x"},
				}})
			}
		}
		written, err := store.SaveUserMatches(ctx, updates, at)
		if err != nil || written != n/2 {
			t.Fatalf("SaveUserMatches = %d, %v; want %d", written, err, n/2)
		}
		users, err := store.UsersForMatching(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i, u := range users {
			wantValue := ""
			if i%2 == 0 {
				wantValue = "u" + strconv.Itoa(i) + "@x"
			}
			if u.Current.Reason.Value != wantValue || (wantValue != "") != (u.Current.MatchedAt != nil) {
				t.Fatalf("user %d: reason %+v matched_at %v, want value %q", i, u.Current.Reason, u.Current.MatchedAt, wantValue)
			}
		}
	})
}
