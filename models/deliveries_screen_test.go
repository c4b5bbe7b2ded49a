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

// The Deliveries screen's queries on both databases: newest first, the status filter,
// a title search in which LIKE's wildcards are literal, the in-flight probe, and Retry.
func TestDeliveriesScreenQueries(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		at := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
		add := func(title string, status models.EventStatus, minute int) models.Event {
			e := models.Event{Source: models.EventSourceWebhook, EventName: "page_updated", ContentID: "1", ContentType: "page",
				OccurredAt: at, ReceivedAt: at.Add(time.Duration(minute) * time.Minute), Payload: "{}", Status: status, Title: title}
			if err := store.InsertEvent(ctx, &e); err != nil {
				t.Fatal(err)
			}
			return e
		}
		percent := add("Plan 100% done", models.EventNotified, 0)
		thousand := add("Plan 1000 done", models.EventSkipped, 1)
		under := add("snake_case notes", models.EventNotified, 2)
		bang := add("Wow! notes", models.EventNotified, 3)
		dead := &models.Delivery{EventID: percent.ID, UserIDs: "a,b", Message: "{}", Status: models.DeliveryDead, Attempts: 8}
		sent := &models.Delivery{EventID: percent.ID, Seq: 1, UserIDs: "c", Message: "{}", Status: models.DeliverySent, Attempts: 1}
		modelstest.AddDeliveries(t, db, dead, sent)

		ids := func(q models.DeliveryEventQuery) []uint64 {
			t.Helper()
			page, err := store.DeliveryEvents(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			var out []uint64
			for _, r := range page.Rows {
				out = append(out, r.ID)
			}
			if q.Limit == 0 && page.Total != len(out) {
				t.Fatalf("%+v: total %d for %d rows", q, page.Total, len(out))
			}
			return out
		}
		for _, tc := range []struct {
			q    models.DeliveryEventQuery
			want []uint64
		}{
			{models.DeliveryEventQuery{}, []uint64{bang.ID, under.ID, thousand.ID, percent.ID}},
			{models.DeliveryEventQuery{Status: models.EventSkipped}, []uint64{thousand.ID}},
			{models.DeliveryEventQuery{Search: "100%"}, []uint64{percent.ID}},
			{models.DeliveryEventQuery{Search: "e_c"}, []uint64{under.ID}},
			{models.DeliveryEventQuery{Search: "_"}, []uint64{under.ID}},
			{models.DeliveryEventQuery{Search: "w!"}, []uint64{bang.ID}},
			{models.DeliveryEventQuery{Search: "PLAN"}, []uint64{thousand.ID, percent.ID}},
			{models.DeliveryEventQuery{Limit: 2, Offset: 1}, []uint64{under.ID, thousand.ID}},
		} {
			if got := ids(tc.q); !equalIDs(got, tc.want) {
				t.Errorf("%+v: events %v, want %v", tc.q, got, tc.want)
			}
		}
		page, err := store.DeliveryEvents(ctx, models.DeliveryEventQuery{Search: "100%"})
		if err != nil {
			t.Fatal(err)
		}
		if s := page.Rows[0].Deliveries; s[models.DeliveryDead] != 1 || s[models.DeliverySent] != 1 || page.InFlight {
			t.Fatalf("summary %v, in flight %v; want one dead, one sent, nothing in flight", s, page.InFlight)
		}

		if err := store.RetryDelivery(ctx, thousand.ID, dead.ID, "admin", "127.0.0.1", at); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("Retry through another event: %v, want ErrNotFound", err)
		}
		if err := store.RetryDelivery(ctx, percent.ID, sent.ID, "admin", "127.0.0.1", at); !errors.Is(err, models.ErrNotRetryable) {
			t.Errorf("Retry of a sent delivery: %v, want ErrNotRetryable", err)
		}
		later := at.Add(time.Hour)
		if err := store.RetryDelivery(ctx, percent.ID, dead.ID, "admin", "127.0.0.1", later); err != nil {
			t.Fatal(err)
		}
		got, err := store.DeliveryByID(ctx, dead.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != models.DeliveryPending || got.Attempts != 0 || !got.NextAttempt.Equal(later) {
			t.Errorf("retried delivery = %s, %d attempts, due %v; want pending, a fresh set of attempts, due now", got.Status, got.Attempts, got.NextAttempt)
		}
		audit, err := store.AuditPage(ctx, models.AuditQuery{Action: models.ActionDeliveryRetry})
		if err != nil {
			t.Fatal(err)
		}
		if len(audit.Entries) != 1 || audit.Entries[0].Actor != "admin" || audit.Entries[0].Address != "127.0.0.1" ||
			!strings.Contains(audit.Entries[0].Details, "after 8 attempts") {
			t.Errorf("audit entries %+v; want the one Retry by admin", audit.Entries)
		}
		detail, err := store.DeliveryEventDetail(ctx, percent.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !detail.InFlight || len(detail.Deliveries) != 2 {
			t.Errorf("detail in flight %v with %d deliveries; want in flight with 2", detail.InFlight, len(detail.Deliveries))
		}
		if page, _ := store.DeliveryEvents(ctx, models.DeliveryEventQuery{}); !page.InFlight {
			t.Error("a pending delivery does not count as in flight")
		}
	})
}

func equalIDs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
