package models

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/go-gormigrate/gormigrate/v2"
	"gorm.io/gorm"
)

// migrationsTable records which migrations have run.
const migrationsTable = "schema_migrations"

// migrationLockWait bounds how long a replica waits for another one that is migrating.
const migrationLockWait = 5 * time.Minute

// Migrate brings db to the newest schema; migrations already applied are skipped.
func Migrate(db *gorm.DB) error {
	return migrateTo(db, "")
}

// migrateTo applies migrations up to and including id, or all of them when id is empty.
func migrateTo(db *gorm.DB, id string) error {
	if Dialect(db) == DialectMySQL {
		// Replicas started together would otherwise race to create the same tables.
		unlock, err := lockMySQL(db, "migrate", migrationLockWait)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		defer unlock()
	}
	m := gormigrate.New(db, &gormigrate.Options{
		TableName:    migrationsTable,
		IDColumnName: "id",
		IDColumnSize: 255,
		// SQLite runs DDL in transactions, so a failed upgrade leaves no trace there.
		// MySQL commits DDL implicitly; its migrations are written to be re-runnable instead.
		UseTransaction: Dialect(db) == DialectSQLite,
		// An older replica must keep running during a rolling upgrade against the newer,
		// additive schema, so unknown (newer) migration IDs are tolerated.
		ValidateUnknownMigrations: false,
	}, migrations())
	var err error
	if id == "" {
		err = m.Migrate()
	} else {
		err = m.MigrateTo(id)
	}
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// lockMySQL takes a server-side named lock scoped to the current database and returns
// the function that releases it. The lock lives on one pooled connection held until then.
func lockMySQL(db *gorm.DB, purpose string, wait time.Duration) (unlock func(), err error) {
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("lock %s: get connection: %w", purpose, err)
	}
	var dbName string
	if err := conn.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&dbName); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("lock %s: current database: %w", purpose, err)
	}
	// Lock names are server-wide and at most 64 characters, so hash the database name in.
	sum := sha256.Sum256([]byte(dbName))
	name := "dingfluence_" + purpose + "_" + hex.EncodeToString(sum[:8])
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?)", name, int(wait.Seconds())).Scan(&got); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("lock %s: %w", purpose, err)
	}
	if !got.Valid || got.Int64 != 1 {
		_ = conn.Close()
		return nil, errors.New("lock " + purpose + ": timed out waiting for another instance")
	}
	return func() {
		_, _ = conn.ExecContext(ctx, "SELECT RELEASE_LOCK(?)", name)
		_ = conn.Close()
	}, nil
}
