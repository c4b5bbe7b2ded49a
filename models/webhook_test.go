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

// The webhook secret is stored sealed, read back opened with its date, replaced at once,
// audited without its value, survives a save of the Confluence form, and is unreadable
// (not wrong) under another key.
func TestWebhookSecret(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		if got, err := store.LoadWebhookSecret(ctx); err != nil || got.Secret != "" || got.SetAt != nil {
			t.Fatalf("before any: %+v, %v", got, err)
		}
		at := time.Date(2026, 12, 2, 8, 30, 0, 0, time.UTC)
		if err := store.SetWebhookSecret(ctx, "first-secret", at, "admin"); err != nil {
			t.Fatal(err)
		}
		// Created before any Confluence save: the connection keeps its default groups.
		if set, err := store.LoadConfluenceSettings(ctx); err != nil || set.AdminGroup != models.DefaultConfluenceAdminGroup || set.UserGroup != models.DefaultConfluenceUserGroup {
			t.Fatalf("connection after the first secret: %+v, %v", set, err)
		}
		var sealed string
		if err := db.Raw("SELECT webhook_secret_sealed FROM confluence_settings WHERE id = 1").Scan(&sealed).Error; err != nil || sealed == "" || strings.Contains(sealed, "first-secret") {
			t.Fatalf("stored %q, %v: want sealed", sealed, err)
		}
		got, err := store.LoadWebhookSecret(ctx)
		if err != nil || got.Secret != "first-secret" || got.SetAt == nil || !got.SetAt.Equal(at) {
			t.Fatalf("loaded %+v, %v", got, err)
		}

		set := models.DefaultConfluenceSettings()
		set.BaseURL, set.Token = "https://wiki.example.com", "token"
		if err := store.SaveConfluenceSettings(ctx, set, "admin"); err != nil {
			t.Fatal(err)
		}
		if got, _ := store.LoadWebhookSecret(ctx); got.Secret != "first-secret" {
			t.Fatalf("saving the Confluence form changed the secret to %q", got.Secret)
		}

		later := at.Add(time.Hour)
		if err := store.SetWebhookSecret(ctx, "second-secret", later, "admin"); err != nil {
			t.Fatal(err)
		}
		if got, _ := store.LoadWebhookSecret(ctx); got.Secret != "second-secret" || !got.SetAt.Equal(later) {
			t.Fatalf("after regenerating: %+v", got)
		}
		page, err := store.AuditPage(ctx, models.AuditQuery{Action: models.ActionWebhookSecret})
		if err != nil || len(page.Entries) != 2 {
			t.Fatalf("audit: %+v, %v", page, err)
		}
		if page.Entries[0].Details != "webhook secret replaced" || page.Entries[1].Details != "webhook secret generated" {
			t.Errorf("audit details %q, %q", page.Entries[0].Details, page.Entries[1].Details)
		}
		for _, e := range page.Entries {
			if strings.Contains(e.Details, "secret-") {
				t.Errorf("audit carries the secret: %q", e.Details)
			}
		}
		for _, bad := range []string{"", strings.Repeat("s", models.WebhookSecretMax+1)} {
			if err := store.SetWebhookSecret(ctx, bad, later, "admin"); err == nil {
				t.Errorf("secret of %d bytes accepted", len(bad))
			}
		}

		other := models.NewStore(db, testBox(t, 9))
		got, err = other.LoadWebhookSecret(ctx)
		if !errors.Is(err, models.ErrSecretUnreadable) || got.Secret != "" || got.SetAt == nil {
			t.Fatalf("under another key: %+v, %v", got, err)
		}
	})
}

// Refusals and arrivals are counted per hour and kind in one row each; the health sums
// the refusals since a time and finds the last arrival, accepted event or not; retention
// removes old hours.
func TestWebhookCounters(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		now := time.Date(2026, 12, 2, 10, 20, 0, 0, time.UTC)
		if h, err := store.LoadWebhookHealth(ctx, now.Add(-24*time.Hour)); err != nil || h.LastArrival != nil || h.Total != 0 {
			t.Fatalf("empty health: %+v, %v", h, err)
		}
		for i, r := range []models.WebhookRefusal{models.RefusalBadSignature, models.RefusalBadSignature, models.RefusalTooLarge} {
			if err := store.CountWebhookRefusal(ctx, r, now.Add(time.Duration(i)*time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		// Two days ago: outside the window.
		if err := store.CountWebhookRefusal(ctx, models.RefusalNoSecret, now.Add(-48*time.Hour)); err != nil {
			t.Fatal(err)
		}
		var rows int64
		db.Table("webhook_refusals").Count(&rows)
		if rows != 3 {
			t.Errorf("%d refusal rows, want 3 (one per hour and reason)", rows)
		}
		if err := store.CountWebhookArrival(ctx, models.ArrivalTest, now.Add(5*time.Minute)); err != nil {
			t.Fatal(err)
		}
		h, err := store.LoadWebhookHealth(ctx, now.Add(-24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if h.Total != 3 || h.Refused[models.RefusalBadSignature] != 2 || h.Refused[models.RefusalTooLarge] != 1 || h.Refused[models.RefusalNoSecret] != 0 {
			t.Errorf("refusals %+v", h)
		}
		if h.LastArrival == nil || !h.LastArrival.Equal(now.Add(5*time.Minute)) {
			t.Errorf("last arrival %v, want the test's", h.LastArrival)
		}
		// An accepted event later than the test is the last arrival.
		e := models.Event{Source: models.EventSourceWebhook, EventName: "page_created", ContentID: "1", ContentType: "page",
			OccurredAt: now, ReceivedAt: now.Add(7 * time.Minute), Payload: "{}"}
		if err := store.InsertEvent(ctx, &e); err != nil {
			t.Fatal(err)
		}
		if h, _ := store.LoadWebhookHealth(ctx, now.Add(-24*time.Hour)); h.LastArrival == nil || !h.LastArrival.Equal(now.Add(7*time.Minute)) {
			t.Errorf("last arrival %v, want the event's", h.LastArrival)
		}

		n, err := store.DeleteWebhookCountsBefore(ctx, now.Add(-24*time.Hour))
		if err != nil || n != 1 {
			t.Fatalf("deleted %d, %v; want the old hour only", n, err)
		}
		db.Table("webhook_refusals").Count(&rows)
		if rows != 2 {
			t.Errorf("%d refusal rows left, want 2", rows)
		}
	})
}
