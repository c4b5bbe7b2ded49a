package models_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/models/modelstest"
)

func TestLoadSettingsDefaultsWhenNoRow(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		got, err := newStore(t, db).LoadSettings(context.Background())
		if err != nil {
			t.Fatalf("LoadSettings: %v", err)
		}
		want := models.DefaultSettings()
		if got != want {
			t.Errorf("LoadSettings = %+v, want defaults %+v", got, want)
		}
		if got.Enabled || got.MatchingMethod != models.MatchEmail || got.HasSecret ||
			got.SendMessageURL != "https://oapi.dingtalk.com/topapi/message/corpconversation/asyncsend_v2" {
			t.Errorf("defaults are wrong: %+v", got)
		}
	})
}

func TestSaveSettingsRoundTrip(t *testing.T) {
	const secret = "s3cr3t-DingTalk-app-secret"
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)

		in := models.DefaultSettings()
		in.AgentID = 123456
		in.AppKey = "ding-app-key"
		in.AppSecret = secret
		in.MatchingMethod = models.MatchJobNumber
		in.Enabled = true
		in.TokenURL = "https://dingtalk.example/gettoken"
		if err := store.SaveSettings(ctx, in, "admin"); err != nil {
			t.Fatalf("SaveSettings: %v", err)
		}

		var sealed string
		if err := db.Raw("SELECT app_secret_sealed FROM settings WHERE id = 1").Scan(&sealed).Error; err != nil {
			t.Fatalf("read raw row: %v", err)
		}
		if sealed == "" || strings.Contains(sealed, secret) {
			t.Fatalf("app_secret_sealed = %q: want a sealed value without the plaintext", sealed)
		}
		if opened, err := testBox(t, 7).OpenString(sealed); err != nil || opened != secret {
			t.Fatalf("app_secret_sealed opens to %q, %v; want the secret", opened, err)
		}

		got, err := store.LoadSettings(ctx)
		if err != nil {
			t.Fatalf("LoadSettings: %v", err)
		}
		if got.AppSecret != secret || !got.HasSecret {
			t.Errorf("AppSecret, HasSecret = %q, %v; want the secret, true", got.AppSecret, got.HasSecret)
		}
		if got.AgentID != in.AgentID || got.AppKey != in.AppKey || got.TokenURL != in.TokenURL ||
			got.MatchingMethod != models.MatchJobNumber || !got.Enabled ||
			got.UserByMobileURL != in.UserByMobileURL || got.UpdatedAt.IsZero() {
			t.Errorf("LoadSettings = %+v, want what was saved (%+v)", got, in)
		}

		// Saving the loaded form without a secret, as the settings page does, keeps it.
		got.AppSecret = ""
		got.AppKey = "new-app-key"
		if err := store.SaveSettings(ctx, got, "alice"); err != nil {
			t.Fatalf("second SaveSettings: %v", err)
		}
		again, err := store.LoadSettings(ctx)
		if err != nil {
			t.Fatalf("LoadSettings after second save: %v", err)
		}
		if again.AppSecret != secret || !again.HasSecret || again.AppKey != "new-app-key" {
			t.Errorf("after saving with an empty secret: AppSecret=%q HasSecret=%v AppKey=%q; want secret kept, key updated",
				again.AppSecret, again.HasSecret, again.AppKey)
		}
		var rows int64
		db.Table("settings").Count(&rows)
		if rows != 1 {
			t.Errorf("settings has %d rows, want 1", rows)
		}

		entries, err := store.RecentAudit(ctx, 10)
		if err != nil {
			t.Fatalf("RecentAudit: %v", err)
		}
		if len(entries) != 2 {
			t.Fatalf("audit entries = %+v, want 2", entries)
		}
		wantAudit := []struct {
			actor    string
			contains []string
			lacks    []string
		}{
			{"alice", []string{"appKey"}, []string{"appSecret", "agentId"}},
			{"admin", []string{"agentId", "appKey", "appSecret", "tokenUrl", "matchingMethod", "enabled"}, []string{"userProfileUrl"}},
		}
		for i, w := range wantAudit {
			e := entries[i]
			if e.Actor != w.actor || e.Action != models.ActionSettingsUpdate {
				t.Errorf("audit[%d] = %q %q, want %q %q", i, e.Actor, e.Action, w.actor, models.ActionSettingsUpdate)
			}
			if strings.Contains(e.Details, secret) || strings.Contains(e.Details, sealed) {
				t.Errorf("audit[%d] details leak the secret: %q", i, e.Details)
			}
			for _, s := range w.contains {
				if !strings.Contains(e.Details, s) {
					t.Errorf("audit[%d] details %q do not name %s", i, e.Details, s)
				}
			}
			for _, s := range w.lacks {
				if strings.Contains(e.Details, s) {
					t.Errorf("audit[%d] details %q name unchanged %s", i, e.Details, s)
				}
			}
		}
	})
}

func TestSaveSettingsReplacesSecret(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		set := models.DefaultSettings()
		set.AppSecret = "first"
		if err := store.SaveSettings(ctx, set, "admin"); err != nil {
			t.Fatalf("SaveSettings: %v", err)
		}
		set.AppSecret = "second"
		if err := store.SaveSettings(ctx, set, "admin"); err != nil {
			t.Fatalf("SaveSettings: %v", err)
		}
		got, err := store.LoadSettings(ctx)
		if err != nil || got.AppSecret != "second" {
			t.Fatalf("LoadSettings = %q, %v; want the new secret", got.AppSecret, err)
		}
		entries, _ := store.RecentAudit(ctx, 1)
		if len(entries) != 1 || entries[0].Details != "changed: appSecret" {
			t.Errorf("audit = %+v, want one entry with details %q", entries, "changed: appSecret")
		}
	})
}

func TestSaveSettingsStampsUpdatedAt(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		at := func(hour int) *models.Store {
			now := time.Date(2026, 11, 25, hour, 0, 0, 0, time.UTC)
			return newStore(t, db.Session(&gorm.Session{NowFunc: func() time.Time { return now }}))
		}
		if err := at(9).SaveSettings(ctx, models.DefaultSettings(), "admin"); err != nil {
			t.Fatalf("SaveSettings: %v", err)
		}
		loaded, err := at(9).LoadSettings(ctx)
		if err != nil {
			t.Fatalf("LoadSettings: %v", err)
		}
		// The form round-trips the loaded value, old UpdatedAt included.
		if err := at(10).SaveSettings(ctx, loaded, "admin"); err != nil {
			t.Fatalf("SaveSettings: %v", err)
		}
		got, _ := at(10).LoadSettings(ctx)
		if want := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC); !got.UpdatedAt.Equal(want) {
			t.Errorf("UpdatedAt = %v, want the time of the second save %v", got.UpdatedAt, want)
		}
	})
}

func TestLoadSettingsWithAnotherKey(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		set := models.DefaultSettings()
		set.AppKey = "key"
		set.AppSecret = "old-secret"
		if err := models.NewStore(db, testBox(t, 1)).SaveSettings(ctx, set, "admin"); err != nil {
			t.Fatalf("SaveSettings: %v", err)
		}

		rekeyed := models.NewStore(db, testBox(t, 2))
		got, err := rekeyed.LoadSettings(ctx)
		if !errors.Is(err, models.ErrSecretUnreadable) {
			t.Fatalf("LoadSettings under another key: err = %v, want ErrSecretUnreadable", err)
		}
		if got.HasSecret || got.AppSecret != "" || got.AppKey != "key" {
			t.Errorf("LoadSettings = %+v; want the other fields without a secret", got)
		}

		// Entering the secret again recovers.
		got.AppSecret = "new-secret"
		if err := rekeyed.SaveSettings(ctx, got, "admin"); err != nil {
			t.Fatalf("SaveSettings under the new key: %v", err)
		}
		if again, err := rekeyed.LoadSettings(ctx); err != nil || again.AppSecret != "new-secret" {
			t.Errorf("LoadSettings = %q, %v; want the re-entered secret", again.AppSecret, err)
		}
	})
}
