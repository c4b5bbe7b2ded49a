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

// TestClaimEventsLease: a claim takes due, unleased rows only; another instance gets the
// rest; an expired lease makes a row claimable again, and the instance that lost it can
// no longer finish it.
func TestClaimEventsLease(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		at := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
		for i, due := range []time.Duration{0, time.Second, 2 * time.Second, time.Hour} {
			e := &models.Event{Source: models.EventSourceWebhook, EventName: "page_updated", ContentID: "1015809",
				OccurredAt: at, ReceivedAt: at, DueAt: at.Add(due), Payload: "{}"}
			if err := store.InsertEvent(ctx, e); err != nil {
				t.Fatalf("insert %d: %v", i, err)
			}
		}
		now := at.Add(5 * time.Second)
		lease := time.Minute
		a, err := store.ClaimEvents(ctx, models.EventPending, "a", now, lease, 2)
		if err != nil || len(a) != 2 {
			t.Fatalf("claim a = %d events, %v; want 2", len(a), err)
		}
		b, err := store.ClaimEvents(ctx, models.EventPending, "b", now, lease, 10)
		if err != nil || len(b) != 1 || b[0].ID == a[0].ID || b[0].ID == a[1].ID {
			t.Fatalf("claim b = %+v, %v; want the one due event a did not take", b, err)
		}
		if again, _ := store.ClaimEvents(ctx, models.EventPending, "b", now, lease, 10); len(again) != 0 {
			t.Fatalf("claimed %d leased events", len(again))
		}
		later := now.Add(lease)
		taken, err := store.ClaimEvents(ctx, models.EventPending, "b", later, lease, 10)
		if err != nil || len(taken) != 3 {
			t.Fatalf("after the leases ran out b claimed %d, %v; want all three due", len(taken), err)
		}
		err = store.SkipEvent(ctx, a[0].ID, "a", models.EventPending, models.SkipDisabled, nil, "", later)
		if !errors.Is(err, models.ErrClaimLost) {
			t.Fatalf("a finishing a lost claim: %v; want ErrClaimLost", err)
		}
		if err := store.SkipEvent(ctx, a[0].ID, "b", models.EventPending, models.SkipDisabled, nil, "", later); err != nil {
			t.Fatalf("b finishing its claim: %v", err)
		}
	})
}

// TestCoalesceMinutesSetting: ten minutes until an admin saves, then what was saved.
func TestCoalesceMinutesSetting(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		set, err := store.LoadSettings(ctx)
		if err != nil || set.CoalesceMinutes != models.DefaultCoalesceMinutes {
			t.Fatalf("before any save: %d, %v; want %d", set.CoalesceMinutes, err, models.DefaultCoalesceMinutes)
		}
		for _, n := range []int{0, 25} {
			set.CoalesceMinutes = n
			if err := store.SaveSettings(ctx, set, "admin"); err != nil {
				t.Fatal(err)
			}
			got, err := store.LoadSettings(ctx)
			if err != nil || got.CoalesceMinutes != n {
				t.Fatalf("saved %d, loaded %d (%v)", n, got.CoalesceMinutes, err)
			}
		}
	})
}
