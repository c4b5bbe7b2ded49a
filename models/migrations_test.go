package models_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/models/modelstest"
)

const firstMigration = "202611250001_initial"

func appliedMigrations(t *testing.T, db *gorm.DB) []string {
	t.Helper()
	var ids []string
	if err := db.Table("schema_migrations").Order("id").Pluck("id", &ids).Error; err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	return ids
}

func TestMigrationIDsAreOrderedAndUnique(t *testing.T) {
	ids := models.MigrationIDs()
	if len(ids) == 0 || ids[0] != firstMigration {
		t.Fatalf("migrations = %v, want %s first", ids, firstMigration)
	}
	if !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
		t.Errorf("migration IDs must be unique and sorted in the order they run: %v", ids)
	}
}

func TestMigrateTwiceIsNoOp(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		u := models.User{Username: "carol", Email: "carol@example.com", Locale: "en", Enabled: true}
		if err := store.CreateUser(ctx, &u); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		before := appliedMigrations(t, db)
		if !slices.Equal(before, models.MigrationIDs()) {
			t.Fatalf("applied = %v, want all of %v", before, models.MigrationIDs())
		}
		columns, _ := db.Migrator().ColumnTypes(&models.User{})

		if err := models.Migrate(db); err != nil {
			t.Fatalf("second Migrate: %v", err)
		}

		if after := appliedMigrations(t, db); !slices.Equal(after, before) {
			t.Errorf("applied after second Migrate = %v, want %v", after, before)
		}
		if again, _ := db.Migrator().ColumnTypes(&models.User{}); len(again) != len(columns) {
			t.Errorf("users has %d columns after second Migrate, had %d", len(again), len(columns))
		}
		got, err := store.UserByID(ctx, u.ID)
		if err != nil || got.Email != "carol@example.com" || got.Locale != "en" {
			t.Errorf("user after second Migrate = %+v, %v", got, err)
		}
	})
}

func TestMigrateUpgradeKeepsData(t *testing.T) {
	modelstest.EachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db, err := models.Connect(dsn, modelstest.Logger(t))
		if err != nil {
			t.Fatalf("Connect: %v", err)
		}
		modelstest.Close(t, db)
		if err := models.MigrateTo(db, firstMigration); err != nil {
			t.Fatalf("MigrateTo(%s): %v", firstMigration, err)
		}
		if got := appliedMigrations(t, db); !slices.Equal(got, []string{firstMigration}) {
			t.Fatalf("applied = %v, want only %s", got, firstMigration)
		}
		if db.Migrator().HasColumn(&models.User{}, "locale") {
			t.Fatalf("users.locale exists after the first migration only")
		}

		// Rows as the first released schema stored them.
		box := testBox(t, 9)
		sealed, _ := box.SealString("app-secret")
		created := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
		inserts := []struct {
			table string
			row   map[string]any
		}{
			{"settings", map[string]any{
				"id": 1, "agent_id": 42, "app_key": "key", "app_secret_sealed": sealed,
				"token_url": "https://dt.example/gettoken", "matching_method": "job_number",
				"enabled": true, "updated_at": created,
			}},
			{"users", map[string]any{
				"username": "dave", "display_name": "Dave", "email": "dave@example.com",
				"matching_method": "mobile", "mobile": "13800000000", "enabled": true,
				"dingtalk_user_id": "dt-dave", "matched_at": created, "created_at": created, "updated_at": created,
			}},
			{"audit_log", map[string]any{
				"actor": "admin", "action": "settings.update", "details": "changed: appKey", "created_at": created,
			}},
		}
		for _, in := range inserts {
			if err := db.Table(in.table).Create(in.row).Error; err != nil {
				t.Fatalf("insert into %s: %v", in.table, err)
			}
		}

		if err := models.Migrate(db); err != nil {
			t.Fatalf("Migrate to latest: %v", err)
		}
		if got := appliedMigrations(t, db); !slices.Equal(got, models.MigrationIDs()) {
			t.Fatalf("applied = %v, want %v", got, models.MigrationIDs())
		}

		store := models.NewStore(db, box)
		u, err := store.UserByUsername(ctx, "dave")
		if err != nil {
			t.Fatalf("UserByUsername after upgrade: %v", err)
		}
		if u.DisplayName != "Dave" || u.Email != "dave@example.com" || u.MatchingMethod != models.MatchMobile ||
			u.Mobile != "13800000000" || !u.Enabled || u.DingTalkUserID != "dt-dave" ||
			u.MatchedAt == nil || !u.MatchedAt.Equal(created) || !u.CreatedAt.Equal(created) {
			t.Errorf("user after upgrade = %+v", u)
		}
		if u.Locale != "" || u.NotifyOwnChanges || u.SessionEpoch != 0 {
			t.Errorf("new columns on an old row: Locale=%q NotifyOwnChanges=%v SessionEpoch=%d, want defaults", u.Locale, u.NotifyOwnChanges, u.SessionEpoch)
		}
		if err := store.SetPasswordHash(ctx, u.ID, "hash"); err != nil {
			t.Errorf("SetPasswordHash on an upgraded row: %v", err)
		}
		if err := store.SetUserLocale(ctx, u.ID, "zh-Hans"); err != nil {
			t.Errorf("SetUserLocale on an upgraded row: %v", err)
		}

		set, err := store.LoadSettings(ctx)
		if err != nil {
			t.Fatalf("LoadSettings after upgrade: %v", err)
		}
		if set.AgentID != 42 || set.AppKey != "key" || set.AppSecret != "app-secret" ||
			set.TokenURL != "https://dt.example/gettoken" || set.MatchingMethod != models.MatchJobNumber || !set.Enabled {
			t.Errorf("settings after upgrade = %+v", set)
		}
		// Columns added later take their defaults on the existing row.
		if set.UserListURL != models.DefaultSettings().UserListURL || set.SyncIntervalMinutes != 60 {
			t.Errorf("added settings columns = %q, %d; want DingTalk's user list URL and 60", set.UserListURL, set.SyncIntervalMinutes)
		}

		entries, err := store.RecentAudit(ctx, 10)
		if err != nil || len(entries) != 1 || entries[0].Details != "changed: appKey" || !entries[0].CreatedAt.Equal(created) {
			t.Errorf("audit after upgrade = %+v, %v", entries, err)
		}
	})
}

func TestConcurrentOpenMigratesOnce(t *testing.T) {
	modelstest.EachDSN(t, func(t *testing.T, dsn string) {
		const replicas = 4
		type opened struct {
			db  *gorm.DB
			err error
		}
		results := make(chan opened, replicas)
		log := modelstest.Logger(t)
		for range replicas {
			go func() {
				db, err := models.Open(dsn, log)
				results <- opened{db, err}
			}()
		}
		for range replicas {
			r := <-results
			if r.err != nil {
				t.Errorf("Open by a replica starting at the same time: %v", r.err)
				continue
			}
			modelstest.Close(t, r.db)
		}
		db, err := models.Connect(dsn, modelstest.Logger(t))
		if err != nil {
			t.Fatalf("Connect: %v", err)
		}
		modelstest.Close(t, db)
		if got := appliedMigrations(t, db); !slices.Equal(got, models.MigrationIDs()) {
			t.Errorf("applied = %v, want each migration once: %v", got, models.MigrationIDs())
		}
	})
}

// A field added to a model without a migration would only fail at run time; catch it here.
func TestModelsMatchMigratedSchema(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		for _, model := range []any{&models.Settings{}, &models.User{}, &models.AuditEntry{},
			&models.Department{}, &models.DingTalkUser{}, &models.DepartmentMember{}, &models.SyncRun{}, &models.JobLock{}} {
			stmt := &gorm.Statement{DB: db}
			if err := stmt.Parse(model); err != nil {
				t.Fatalf("parse %T: %v", model, err)
			}
			for _, f := range stmt.Schema.Fields {
				if f.DBName == "" {
					continue
				}
				if !db.Migrator().HasColumn(model, f.DBName) {
					t.Errorf("%T.%s: column %s.%s is not created by any migration", model, f.Name, stmt.Schema.Table, f.DBName)
				}
			}
		}
	})
}
