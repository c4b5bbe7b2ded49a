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

func TestSaveSignedInConfluenceUser(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
		admin := models.User{Username: "admin", PasswordHash: "$2a$hash", IsAdmin: true, Enabled: true}
		if err := store.CreateUser(ctx, &admin); err != nil {
			t.Fatal(err)
		}
		save := func(a models.ConfluenceAccount) models.User {
			t.Helper()
			u, err := store.SaveSignedInConfluenceUser(ctx, a, now)
			if err != nil {
				t.Fatalf("SaveSignedInConfluenceUser(%+v): %v", a, err)
			}
			return u
		}

		first := save(models.ConfluenceAccount{UserKey: "k-alice", Username: "alice", DisplayName: "Alice", Email: "alice@example.com", Active: true, IsAdmin: true})
		if first.ID == 0 || first.UserKey == nil || *first.UserKey != "k-alice" || !first.IsAdmin || !first.Active || !first.Enabled || first.PasswordHash != "" {
			t.Fatalf("created %+v", first)
		}

		// A rename in Confluence, no e-mail shown this time, admin group left: same row,
		// new name, e-mail kept, admin gone.
		renamed := save(models.ConfluenceAccount{UserKey: "k-alice", Username: "alice.zhang", DisplayName: "Alice Zhang", Active: true})
		if renamed.ID != first.ID || renamed.Username != "alice.zhang" || renamed.DisplayName != "Alice Zhang" ||
			renamed.Email != "alice@example.com" || renamed.IsAdmin {
			t.Fatalf("after rename %+v, want row %d renamed, e-mail kept, not admin", renamed, first.ID)
		}
		if _, err := store.UserByUsername(ctx, "alice"); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("old username still found: %v", err)
		}

		// A new account taking a name a keyed row still holds: that row is parked.
		bob := save(models.ConfluenceAccount{UserKey: "k-bob", Username: "bob", Active: true})
		newBob := save(models.ConfluenceAccount{UserKey: "k-bob2", Username: "BOB", Active: true})
		if newBob.ID == bob.ID {
			t.Fatalf("a different user key got the same row")
		}
		if old, _ := store.UserByID(ctx, bob.ID); old.Username != "~k-bob" {
			t.Errorf("previous holder of the name = %q, want the placeholder ~k-bob", old.Username)
		}

		// A local account keeps its name.
		if _, err := store.SaveSignedInConfluenceUser(ctx, models.ConfluenceAccount{UserKey: "k-adm", Username: "Admin", Active: true}, now); !errors.Is(err, models.ErrUsernameIsLocal) {
			t.Errorf("Confluence account named like the local admin: %v, want ErrUsernameIsLocal", err)
		}
		if got, _ := store.UserByID(ctx, admin.ID); got.UserKey != nil || got.Username != "admin" || !got.IsAdmin || got.PasswordHash == "" {
			t.Errorf("local admin changed: %+v", got)
		}

		// An inactive row (say, marked by the directory sync) becomes active again.
		if err := db.Model(&models.User{}).Where("id = ?", first.ID).Update("active", false).Error; err != nil {
			t.Fatal(err)
		}
		if again := save(models.ConfluenceAccount{UserKey: "k-alice", Username: "alice.zhang", DisplayName: "Alice Zhang", Active: true}); !again.Active {
			t.Errorf("row not re-activated: %+v", again)
		}
		if _, err := store.SaveSignedInConfluenceUser(ctx, models.ConfluenceAccount{Username: "nokey"}, now); err == nil {
			t.Errorf("saved an account without a user key")
		}
	})
}
