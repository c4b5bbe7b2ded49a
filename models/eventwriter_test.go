package models_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/models/modelstest"
)

var writerAt = time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)

// webhookEvent is a pending event whose content id and request id say which it is.
func webhookEvent(n int) *models.Event {
	return &models.Event{Source: models.EventSourceWebhook, EventName: "page_updated", PayloadKind: "id_only",
		RequestID: fmt.Sprintf("req-%d", n), ContentID: fmt.Sprint(1_000_000 + n), ContentType: "page",
		ActorKey: "ff80", OccurredAt: writerAt, ReceivedAt: writerAt, Payload: fmt.Sprintf(`{"page":{"id":%d}}`, 1_000_000+n)}
}

// checkStored fails unless each event is stored under its ID with its own fields, and
// the IDs are distinct.
func checkStored(t *testing.T, store *models.Store, events ...*models.Event) {
	t.Helper()
	seen := map[uint64]bool{}
	for _, e := range events {
		if e.ID == 0 || seen[e.ID] {
			t.Fatalf("event %s has ID %d: want a distinct, non-zero ID", e.RequestID, e.ID)
		}
		seen[e.ID] = true
		got, err := store.EventByID(context.Background(), e.ID)
		if err != nil {
			t.Fatalf("EventByID(%d): %v", e.ID, err)
		}
		if got.RequestID != e.RequestID || got.ContentID != e.ContentID || got.Payload != e.Payload || got.Status != models.EventPending {
			t.Fatalf("event %d = %s/%s/%s; want %s/%s/%s pending", e.ID, got.RequestID, got.ContentID, got.Status,
				e.RequestID, e.ContentID, e.Payload)
		}
	}
}

func countEvents(t *testing.T, db *gorm.DB) int64 {
	t.Helper()
	var n int64
	if err := db.Model(&models.Event{}).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// whenQueued is a queued hook that closes the returned channel once n callers are queued.
func whenQueued(n int) (func(int), <-chan struct{}) {
	ch := make(chan struct{})
	return func(k int) {
		if k == n {
			close(ch)
		}
	}, ch
}

// batchLog is a beforeWrite hook recording each batch's size.
type batchLog struct {
	mu    sync.Mutex
	sizes []int
}

func (b *batchLog) hook(batch []*models.Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sizes = append(b.sizes, len(batch))
}

func (b *batchLog) got() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]int(nil), b.sizes...)
}

// insertAll starts one InsertEvent per event and returns a channel of each one's error,
// in the events' order.
func insertAll(ctx context.Context, w *models.EventWriter, events ...*models.Event) []chan error {
	results := make([]chan error, len(events))
	for i, e := range events {
		results[i] = make(chan error, 1)
		go func() { results[i] <- w.InsertEvent(ctx, e) }()
	}
	return results
}

// A multi-row insert fills every row's ID, the IDs following rows already there, on
// both databases; a row the database refuses stores none of them.
func TestInsertEventsIDs(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		first := webhookEvent(0)
		if err := store.InsertEvent(ctx, first); err != nil {
			t.Fatal(err)
		}
		var batch []*models.Event
		for i := 1; i <= 7; i++ {
			batch = append(batch, webhookEvent(i))
		}
		if err := store.InsertEvents(ctx, batch); err != nil {
			t.Fatalf("InsertEvents: %v", err)
		}
		checkStored(t, store, append([]*models.Event{first}, batch...)...)

		// A row that carries more than an arriving webhook keeps all of it.
		waiting := "1000099"
		full := []*models.Event{webhookEvent(98), webhookEvent(99)}
		full[1].WaitingKey, full[1].SpaceName, full[1].EventCounts.Watchers = &waiting, "Docs", 3
		if err := store.InsertEvents(ctx, full); err != nil {
			t.Fatalf("InsertEvents: %v", err)
		}
		got, err := store.EventByID(ctx, full[1].ID)
		if err != nil || got.WaitingKey == nil || *got.WaitingKey != waiting || got.SpaceName != "Docs" || got.Watchers != 3 {
			t.Fatalf("stored %+v, %v; want its waiting key, space name and watchers", got, err)
		}
		if err := db.Delete(&models.Event{}, []uint64{full[0].ID, full[1].ID}).Error; err != nil {
			t.Fatal(err)
		}
		for _, e := range batch {
			if e.ID <= first.ID {
				t.Fatalf("batch ID %d not after the earlier row's %d", e.ID, first.ID)
			}
		}

		key := "1000000:3"
		if err := db.Model(&models.Event{}).Where("id = ?", first.ID).Update("dedupe_key", key).Error; err != nil {
			t.Fatal(err)
		}
		bad := []*models.Event{webhookEvent(8), webhookEvent(9), webhookEvent(10)}
		bad[1].DedupeKey = &key
		if err := store.InsertEvents(ctx, bad); !errors.Is(err, models.ErrDuplicate) {
			t.Fatalf("InsertEvents with a duplicate key: %v; want ErrDuplicate", err)
		}
		if n := countEvents(t, db); n != 8 {
			t.Fatalf("%d events stored; want the 8 from before, none of the failed batch", n)
		}
	})
}

// Many concurrent callers are all committed, each with its own ID and fields; callers
// queued while the writer is busy share commits of at most MaxBatch rows.
func TestEventWriterConcurrent(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)

		t.Run("free running", func(t *testing.T) {
			w := models.NewEventWriter(store, models.EventWriterOptions{})
			t.Cleanup(w.Close)
			var events []*models.Event
			for i := range 200 {
				events = append(events, webhookEvent(i))
			}
			for i, ch := range insertAll(ctx, w, events...) {
				if err := <-ch; err != nil {
					t.Fatalf("insert %d: %v", i, err)
				}
			}
			checkStored(t, store, events...)
		})

		t.Run("batches", func(t *testing.T) {
			queued, all := whenQueued(150)
			var log batchLog
			w, start, _ := models.PausedEventWriter(store, models.EventWriterOptions{MaxBatch: 100}, queued, log.hook)
			t.Cleanup(w.Close)
			var events []*models.Event
			for i := range 150 {
				events = append(events, webhookEvent(1000+i))
			}
			results := insertAll(ctx, w, events...)
			<-all
			start()
			for i, ch := range results {
				if err := <-ch; err != nil {
					t.Fatalf("insert %d: %v", i, err)
				}
			}
			checkStored(t, store, events...)
			if got := log.got(); len(got) != 2 || got[0] != 100 || got[1] != 50 {
				t.Fatalf("batches %v; want [100 50]", got)
			}
		})
	})
}

// One row the database refuses fails only its own caller: the batch is stored whole or
// not at all, so its rows are tried again one by one.
func TestEventWriterBadRow(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		taken := webhookEvent(0)
		key := "1000000:3"
		taken.DedupeKey = &key
		if err := store.InsertEvent(ctx, taken); err != nil {
			t.Fatal(err)
		}
		queued, all := whenQueued(3)
		var log batchLog
		w, start, _ := models.PausedEventWriter(store, models.EventWriterOptions{}, queued, log.hook)
		t.Cleanup(w.Close)
		events := []*models.Event{webhookEvent(1), webhookEvent(2), webhookEvent(3)}
		events[1].DedupeKey = &key
		results := insertAll(ctx, w, events...)
		<-all
		start()
		for i, ch := range results {
			err := <-ch
			if i == 1 {
				if !errors.Is(err, models.ErrDuplicate) {
					t.Fatalf("the bad row: %v; want ErrDuplicate", err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("good row %d: %v", i, err)
			}
		}
		if got := log.got(); len(got) != 1 || got[0] != 3 {
			t.Fatalf("batches %v; want the three in one", got)
		}
		checkStored(t, store, taken, events[0], events[2])
		if n := countEvents(t, db); n != 3 {
			t.Fatalf("%d events stored; want 3", n)
		}
	})
}

// When the database fails, every caller of the batch gets the error and nothing of it
// is stored.
func TestEventWriterDatabaseFailure(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		queued, all := whenQueued(3)
		var log batchLog
		w, start, _ := models.PausedEventWriter(store, models.EventWriterOptions{}, queued, log.hook)
		t.Cleanup(w.Close)
		results := insertAll(ctx, w, webhookEvent(1), webhookEvent(2), webhookEvent(3))
		<-all
		if err := db.Exec("ALTER TABLE events RENAME TO events_away").Error; err != nil {
			t.Fatal(err)
		}
		start()
		for i, ch := range results {
			if err := <-ch; err == nil {
				t.Errorf("caller %d: no error with the table gone", i)
			}
		}
		if err := db.Exec("ALTER TABLE events_away RENAME TO events").Error; err != nil {
			t.Fatal(err)
		}
		if got := log.got(); len(got) != 1 || got[0] != 3 {
			t.Fatalf("batches %v; want the three in one", got)
		}
		if n := countEvents(t, db); n != 0 {
			t.Fatalf("%d events stored; want none", n)
		}
	})
}

// A caller whose request ends while its row is queued is answered at once and its row
// is left out; one whose row was already taken waits for the commit and gets its ID.
func TestEventWriterCancelledCaller(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		store := newStore(t, db)

		t.Run("before its batch", func(t *testing.T) {
			queued, all := whenQueued(2)
			var log batchLog
			w, start, _ := models.PausedEventWriter(store, models.EventWriterOptions{}, queued, log.hook)
			t.Cleanup(w.Close)
			gone, cancel := context.WithCancel(context.Background())
			left, kept := webhookEvent(1), webhookEvent(2)
			leftErr := insertAll(gone, w, left)[0]
			keptErr := insertAll(context.Background(), w, kept)[0]
			<-all
			cancel()
			if err := <-leftErr; !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled caller: %v; want context.Canceled", err)
			}
			start()
			if err := <-keptErr; err != nil {
				t.Fatalf("other caller: %v", err)
			}
			checkStored(t, store, kept)
			if n := countEvents(t, db); n != 1 {
				t.Fatalf("%d events stored; want only the one whose caller stayed", n)
			}
			if got := log.got(); len(got) != 1 || got[0] != 1 {
				t.Fatalf("batches %v; want one of one row", got)
			}
		})

		t.Run("after its batch was taken", func(t *testing.T) {
			taken, proceed := make(chan struct{}), make(chan struct{})
			w, start, _ := models.PausedEventWriter(store, models.EventWriterOptions{}, nil, func([]*models.Event) {
				close(taken)
				<-proceed
			})
			t.Cleanup(w.Close)
			ctx, cancel := context.WithCancel(context.Background())
			e := webhookEvent(3)
			result := insertAll(ctx, w, e)[0]
			start()
			<-taken
			cancel()
			close(proceed)
			if err := <-result; err != nil {
				t.Fatalf("caller cancelled after its row was taken: %v; want its committed result", err)
			}
			checkStored(t, store, e)
		})
	})
}

// Close writes what is already queued, then every InsertEvent fails at once.
func TestEventWriterClose(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		queued, all := whenQueued(2)
		w, start, shut := models.PausedEventWriter(store, models.EventWriterOptions{}, queued, nil)
		events := []*models.Event{webhookEvent(1), webhookEvent(2)}
		results := insertAll(ctx, w, events...)
		<-all
		shut()
		if err := w.InsertEvent(ctx, webhookEvent(3)); !errors.Is(err, models.ErrEventWriterClosed) {
			t.Fatalf("insert after close: %v; want ErrEventWriterClosed", err)
		}
		start()
		for i, ch := range results {
			if err := <-ch; err != nil {
				t.Fatalf("caller %d queued before close: %v", i, err)
			}
		}
		w.Close()
		checkStored(t, store, events...)
		if n := countEvents(t, db); n != 2 {
			t.Fatalf("%d events stored; want 2", n)
		}
		if err := w.InsertEvent(ctx, webhookEvent(4)); !errors.Is(err, models.ErrEventWriterClosed) {
			t.Fatalf("insert after Close: %v; want ErrEventWriterClosed", err)
		}
	})
}

// With auto-increment values stepping by 2 (as in a Galera cluster), every row of a
// batch still gets its own ID: MariaDB 10.5+ returns them, and on MySQL the writer sees
// the step and commits each row by itself.
func TestEventWriterAutoIncrementStep(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		want, stepped := true, false
		if models.Dialect(db) == models.DialectMySQL {
			stepped = true
			sqlDB, err := db.DB()
			if err != nil {
				t.Fatal(err)
			}
			// One connection, so the session setting holds for every statement.
			sqlDB.SetMaxOpenConns(1)
			if err := db.Exec("SET SESSION auto_increment_increment = 2").Error; err != nil {
				t.Fatal(err)
			}
			var version string
			if err := db.Raw("SELECT VERSION()").Scan(&version).Error; err != nil {
				t.Fatal(err)
			}
			want = strings.Contains(version, "MariaDB")
		}
		store := newStore(t, db)
		if got, err := store.MultiRowInsertIDs(ctx); err != nil || got != want {
			t.Fatalf("MultiRowInsertIDs = %v, %v; want %v", got, err, want)
		}
		queued, all := whenQueued(3)
		var log batchLog
		w, start, _ := models.PausedEventWriter(store, models.EventWriterOptions{}, queued, log.hook)
		t.Cleanup(w.Close)
		events := []*models.Event{webhookEvent(1), webhookEvent(2), webhookEvent(3)}
		results := insertAll(ctx, w, events...)
		<-all
		start()
		for i, ch := range results {
			if err := <-ch; err != nil {
				t.Fatalf("caller %d: %v", i, err)
			}
		}
		checkStored(t, store, events...)
		ids := []uint64{events[0].ID, events[1].ID, events[2].ID}
		slices.Sort(ids)
		if stepped && (ids[1]-ids[0] != 2 || ids[2]-ids[1] != 2) {
			t.Fatalf("IDs %v: want them 2 apart, as the session steps", ids)
		}
	})
}
