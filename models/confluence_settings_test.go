package models_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/models/modelstest"
)

func TestConfluenceSettingsSealKeepAndAudit(t *testing.T) {
	const token, secret = "service-PAT-0123456789", "oauth-client-secret-abcdef"
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)

		got, err := store.LoadConfluenceSettings(ctx)
		if err != nil || got != models.DefaultConfluenceSettings() {
			t.Fatalf("before any save = %+v, %v; want the defaults", got, err)
		}

		in := models.ConfluenceSettings{BaseURL: "https://wiki.example.com", Token: token, AdminGroup: "wiki-admins",
			UserGroup: "wiki-users", OAuthClientID: "client-1", OAuthClientSecret: secret}
		if err := store.SaveConfluenceSettings(ctx, in, "admin"); err != nil {
			t.Fatalf("save: %v", err)
		}
		var raw struct {
			TokenSealed             string `gorm:"column:token_sealed"`
			OAuthClientSecretSealed string `gorm:"column:oauth_client_secret_sealed"`
		}
		if err := db.Raw("SELECT token_sealed, oauth_client_secret_sealed FROM confluence_settings WHERE id = 1").Scan(&raw).Error; err != nil {
			t.Fatalf("raw row: %v", err)
		}
		if raw.TokenSealed == "" || strings.Contains(raw.TokenSealed, token) || raw.OAuthClientSecretSealed == "" || strings.Contains(raw.OAuthClientSecretSealed, secret) {
			t.Fatalf("stored secrets %+v: want sealed values without the plaintext", raw)
		}

		// A save with empty secrets keeps the stored ones and changes only the groups.
		in.Token, in.OAuthClientSecret, in.UserGroup = "", "", "everyone"
		if err := store.SaveConfluenceSettings(ctx, in, "admin"); err != nil {
			t.Fatalf("second save: %v", err)
		}
		got, err = store.LoadConfluenceSettings(ctx)
		if err != nil {
			t.Fatalf("load: %v", err)
		}
		if got.Token != token || !got.HasToken || got.OAuthClientSecret != secret || !got.OAuthConfigured() || got.UserGroup != "everyone" {
			t.Errorf("after keeping the secrets: %+v", got)
		}

		page, err := store.AuditPage(ctx, models.AuditQuery{Action: models.ActionConfluenceUpdate})
		if err != nil {
			t.Fatalf("audit: %v", err)
		}
		if len(page.Entries) != 2 {
			t.Fatalf("audit entries = %d, want 2", len(page.Entries))
		}
		for _, e := range page.Entries {
			if strings.Contains(e.Details, token) || strings.Contains(e.Details, secret) {
				t.Errorf("audit details leak a secret: %q", e.Details)
			}
		}
		if d := page.Entries[0].Details; d != "changed: userGroup" {
			t.Errorf("newest audit details = %q, want only userGroup", d)
		}

		// Under another key the secrets are unreadable: the rest still loads.
		other := models.NewStore(db, testBox(t, 9))
		got, err = other.LoadConfluenceSettings(ctx)
		if !errors.Is(err, models.ErrSecretUnreadable) || got.HasToken || got.HasOAuthClientSecret || got.BaseURL != in.BaseURL {
			t.Errorf("with another key = %+v, %v; want the settings without secrets and ErrSecretUnreadable", got, err)
		}
	})
}
