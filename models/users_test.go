package models_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/models/modelstest"
)

func TestUsers(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		matched := time.Date(2026, 11, 1, 8, 30, 0, 0, time.UTC)
		alice := models.User{
			Username:         "alice",
			DisplayName:      "Alice Zhang",
			Email:            "alice@example.com",
			MatchingMethod:   models.MatchMobile,
			Mobile:           "+86 138 0000 0000",
			Enabled:          true,
			DingTalkUserID:   "dt-alice",
			MatchedAt:        &matched,
			NotifyOwnChanges: true,
			Locale:           "zh-Hans",
		}
		if err := store.CreateUser(ctx, &alice); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		if alice.ID == 0 || alice.CreatedAt.IsZero() {
			t.Fatalf("CreateUser did not set ID/CreatedAt: %+v", alice)
		}
		admin := models.User{Username: "admin", PasswordHash: "$2a$hash", IsAdmin: true, Enabled: true}
		if err := store.CreateUser(ctx, &admin); err != nil {
			t.Fatalf("CreateUser admin: %v", err)
		}

		byName, err := store.UserByUsername(ctx, "alice")
		if err != nil {
			t.Fatalf("UserByUsername: %v", err)
		}
		byID, err := store.UserByID(ctx, alice.ID)
		if err != nil {
			t.Fatalf("UserByID: %v", err)
		}
		for name, got := range map[string]models.User{"by username": byName, "by id": byID} {
			if got.ID != alice.ID || got.DisplayName != alice.DisplayName || got.Email != alice.Email ||
				got.MatchingMethod != models.MatchMobile || got.Mobile != alice.Mobile || !got.Enabled ||
				got.DingTalkUserID != "dt-alice" || got.MatchedAt == nil || !got.MatchedAt.Equal(matched) ||
				!got.NotifyOwnChanges || got.Locale != "zh-Hans" || got.IsAdmin || got.PasswordHash != "" {
				t.Errorf("%s = %+v, want %+v", name, got, alice)
			}
		}
		if got, err := store.UserByUsername(ctx, "ALICE"); err != nil || got.ID != alice.ID {
			t.Errorf("UserByUsername(ALICE) = %d, %v; want alice (usernames are case-insensitive)", got.ID, err)
		}

		dupes := []string{"alice", "Alice", "ADMIN"}
		for _, name := range dupes {
			u := models.User{Username: name}
			if err := store.CreateUser(ctx, &u); !errors.Is(err, models.ErrDuplicate) {
				t.Errorf("CreateUser(%q) = %v, want ErrDuplicate", name, err)
			}
		}

		missing := []struct {
			name string
			call func() error
		}{
			{"UserByUsername", func() error { _, err := store.UserByUsername(ctx, "nobody"); return err }},
			{"UserByID", func() error { _, err := store.UserByID(ctx, 999999); return err }},
			{"SetPasswordHash", func() error { return store.SetPasswordHash(ctx, 999999, "x") }},
			{"SetUserLocale", func() error { return store.SetUserLocale(ctx, 999999, "en") }},
		}
		for _, m := range missing {
			if err := m.call(); !errors.Is(err, models.ErrNotFound) {
				t.Errorf("%s on a missing user = %v, want ErrNotFound", m.name, err)
			}
		}
	})
}

func TestSetPasswordHashAndLocale(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		// A frozen clock makes a repeated update change no column at all, not even updated_at.
		frozen := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
		store := newStore(t, db.Session(&gorm.Session{NowFunc: func() time.Time { return frozen }}))
		u := models.User{Username: "admin", PasswordHash: "old", IsAdmin: true, Enabled: true}
		if err := store.CreateUser(ctx, &u); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		other := models.User{Username: "bob", PasswordHash: "bob-hash", Locale: "en"}
		if err := store.CreateUser(ctx, &other); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		// Each step runs twice: setting an unchanged value must not look like a missing user.
		steps := []struct {
			name string
			call func() error
		}{
			{"SetPasswordHash", func() error { return store.SetPasswordHash(ctx, u.ID, "new-hash") }},
			{"SetUserLocale", func() error { return store.SetUserLocale(ctx, u.ID, "zh-Hans") }},
		}
		for _, s := range steps {
			for i := range 2 {
				if err := s.call(); err != nil {
					t.Fatalf("%s (call %d): %v", s.name, i+1, err)
				}
			}
		}
		got, err := store.UserByID(ctx, u.ID)
		if err != nil {
			t.Fatalf("UserByID: %v", err)
		}
		if got.PasswordHash != "new-hash" || got.Locale != "zh-Hans" || !got.IsAdmin {
			t.Errorf("user = %+v, want new hash and zh-Hans", got)
		}
		// Each password change ends the sessions before it, even one to the same hash.
		if got.SessionEpoch != 2 {
			t.Errorf("SessionEpoch = %d after two password changes, want 2", got.SessionEpoch)
		}
		if o, _ := store.UserByID(ctx, other.ID); o.PasswordHash != "bob-hash" || o.Locale != "en" || o.SessionEpoch != 0 {
			t.Errorf("another user changed too: %+v", o)
		}
	})
}
