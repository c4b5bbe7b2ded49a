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

// TestEventInsertAndUniqueKeys checks the inbox round trip and the two unique keys the
// pipeline relies on: many events may leave dedupe_key and waiting_key unset (NULL), but
// no two may share one, on both databases.
func TestEventInsertAndUniqueKeys(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		at := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
		newEvent := func() *models.Event {
			return &models.Event{Source: models.EventSourceWebhook, EventName: "page_updated", ContentID: "1015809",
				ContentType: "page", ActorKey: "ff80", OccurredAt: at, ReceivedAt: at, Payload: `{"page":{"id":1015809}}`}
		}
		first, second := newEvent(), newEvent()
		for _, e := range []*models.Event{first, second} {
			if err := store.InsertEvent(ctx, e); err != nil {
				t.Fatalf("insert: %v", err)
			}
		}
		got, err := store.EventByID(ctx, first.ID)
		if err != nil {
			t.Fatalf("EventByID: %v", err)
		}
		if got.Status != models.EventPending || got.EditCount != 1 || !got.DueAt.Equal(at) || got.Payload != first.Payload {
			t.Fatalf("stored event = %+v; want pending, one edit, due when received, payload kept", got)
		}
		for _, col := range []string{"dedupe_key", "waiting_key"} {
			if err := db.Model(&models.Event{}).Where("id = ?", first.ID).Update(col, "1015809:7").Error; err != nil {
				t.Fatalf("set %s on the first: %v", col, err)
			}
			err := db.Model(&models.Event{}).Where("id = ?", second.ID).Update(col, "1015809:7").Error
			if !errors.Is(err, gorm.ErrDuplicatedKey) {
				t.Fatalf("the same %s on a second event: err = %v; want a duplicate key", col, err)
			}
		}
		if _, err := store.EventByID(ctx, 999999); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("EventByID(missing) err = %v; want ErrNotFound", err)
		}
	})
}
