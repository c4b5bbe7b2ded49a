package models_test

import (
	"context"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/scs/gormstore"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/models/modelstest"
)

// sqlRecorder is a GORM logger that keeps every statement run.
type sqlRecorder struct {
	mu    sync.Mutex
	stmts []string
}

func (r *sqlRecorder) LogMode(logger.LogLevel) logger.Interface { return r }
func (r *sqlRecorder) Info(context.Context, string, ...any)     {}
func (r *sqlRecorder) Warn(context.Context, string, ...any)     {}
func (r *sqlRecorder) Error(context.Context, string, ...any)    {}
func (r *sqlRecorder) Trace(_ context.Context, _ time.Time, fc func() (string, int64), _ error) {
	sql, _ := fc()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stmts = append(r.stmts, sql)
}

var ddl = regexp.MustCompile(`(?i)^\s*(CREATE|ALTER|DROP)\b`)

func (r *sqlRecorder) ddl() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.stmts {
		if ddl.MatchString(s) {
			out = append(out, s)
		}
	}
	return out
}

func exerciseSessionStore(t *testing.T, store *gormstore.GORMStore) {
	t.Helper()
	east := time.FixedZone("CST", 8*3600)
	west := time.FixedZone("PST", -8*3600)
	now := time.Now()
	tests := []struct {
		token  string
		data   []byte
		expiry time.Time
		found  bool
	}{
		{"live-token-0000000000000000000000000000000", []byte("session data \x00\xff"), now.Add(time.Hour).UTC(), true},
		// scs hands over UTC deadlines, but the store compares them with time.Now():
		// neither zone may shift a session's life.
		{"live-west-00000000000000000000000000000000", []byte("w"), now.Add(time.Hour).In(west), true},
		{"expired-east-00000000000000000000000000000", []byte("e"), now.Add(-time.Hour).In(east), false},
		{"expired-utc-000000000000000000000000000000", []byte("u"), now.Add(-time.Second).UTC(), false},
	}
	for _, tt := range tests {
		if err := store.Commit(tt.token, tt.data, tt.expiry); err != nil {
			t.Fatalf("Commit(%s): %v", tt.token, err)
		}
	}
	for _, tt := range tests {
		data, found, err := store.Find(tt.token)
		if err != nil {
			t.Fatalf("Find(%s): %v", tt.token, err)
		}
		if found != tt.found || (found && string(data) != string(tt.data)) {
			t.Errorf("Find(%s) = %q, %v; want %q, %v", tt.token, data, found, tt.data, tt.found)
		}
	}

	// Commit on an existing token replaces data and expiry.
	tok := tests[0].token
	if err := store.Commit(tok, []byte("updated"), now.Add(2*time.Hour).UTC()); err != nil {
		t.Fatalf("re-Commit: %v", err)
	}
	if data, found, err := store.Find(tok); err != nil || !found || string(data) != "updated" {
		t.Errorf("Find after re-Commit = %q, %v, %v", data, found, err)
	}
	if err := store.Delete(tok); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, found, err := store.Find(tok); err != nil || found {
		t.Errorf("Find after Delete: found=%v err=%v", found, err)
	}
}

// The migrated sessions table is exactly what gormstore expects: it migrates nothing and works.
func TestGormstoreOnMigratedDatabase(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		rec := &sqlRecorder{}
		store, err := gormstore.NewWithCleanupInterval(db.Session(&gorm.Session{Logger: rec}), 0)
		if err != nil {
			t.Fatalf("gormstore.New: %v", err)
		}
		if stmts := rec.ddl(); len(stmts) != 0 {
			t.Errorf("gormstore altered the migrated sessions table: %q", stmts)
		}
		exerciseSessionStore(t, store)
	})
}

// gormstore can also create its table itself (as on a database migrated before 0003).
func TestGormstoreCreatesItsOwnTable(t *testing.T) {
	modelstest.EachDSN(t, func(t *testing.T, dsn string) {
		db, err := models.Connect(dsn, modelstest.Logger(t))
		if err != nil {
			t.Fatalf("Connect: %v", err)
		}
		modelstest.Close(t, db)
		if db.Migrator().HasTable("sessions") {
			t.Fatalf("sessions exists before any migration")
		}
		rec := &sqlRecorder{}
		store, err := gormstore.NewWithCleanupInterval(db.Session(&gorm.Session{Logger: rec}), 0)
		if err != nil {
			t.Fatalf("gormstore.New: %v", err)
		}
		if len(rec.ddl()) == 0 {
			t.Fatalf("gormstore.New ran no DDL on a database without its table (recorder saw %q)", rec.stmts)
		}
		exerciseSessionStore(t, store)
		// And our migration then adopts the table gormstore made.
		if err := models.Migrate(db); err != nil {
			t.Fatalf("Migrate after gormstore created sessions: %v", err)
		}
	})
}

func TestDeleteExpiredSessions(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := models.NewStore(db, testBox(t, 1))
		now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
		rows := map[string]time.Time{
			"expired-long-ago": now.Add(-48 * time.Hour),
			"expired-just-now": now.Add(-time.Second),
			"still-valid":      now.Add(time.Hour),
		}
		for token, expiry := range rows {
			if err := db.Exec("INSERT INTO sessions (token, data, expiry) VALUES (?, ?, ?)", token, []byte("x"), expiry).Error; err != nil {
				t.Fatal(err)
			}
		}
		n, err := store.DeleteExpiredSessions(ctx, now)
		if err != nil || n != 2 {
			t.Fatalf("DeleteExpiredSessions = %d, %v; want 2", n, err)
		}
		var left []string
		if err := db.Raw("SELECT token FROM sessions").Scan(&left).Error; err != nil {
			t.Fatal(err)
		}
		if len(left) != 1 || left[0] != "still-valid" {
			t.Fatalf("sessions left = %v, want [still-valid]", left)
		}
	})
}
