// Package modelstest gives tests fresh, migrated databases of both supported dialects.
package modelstest

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/dingfluence/dingfluence/models"
)

// EnvMySQLDSN names the variable holding the go-sql-driver DSN of a throwaway MariaDB/MySQL
// server (a "mysql://" prefix is optional); `make test` starts one and sets it.
const EnvMySQLDSN = "TEST_MYSQL_DSN"

// EachDB runs fn once on a fresh, migrated SQLite database and once on a fresh, migrated
// MariaDB/MySQL database, as subtests "sqlite" and "mysql".
func EachDB(t *testing.T, fn func(t *testing.T, db *gorm.DB)) {
	t.Helper()
	t.Run(models.DialectSQLite, func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run(models.DialectMySQL, func(t *testing.T) { fn(t, MySQL(t)) })
}

// EachDSN runs fn with the DSN of a fresh, empty (unmigrated) database of each dialect,
// as subtests "sqlite" and "mysql"; for tests of Open and of migrations.
func EachDSN(t *testing.T, fn func(t *testing.T, dsn string)) {
	t.Helper()
	t.Run(models.DialectSQLite, func(t *testing.T) { fn(t, SQLiteDSN(t)) })
	t.Run(models.DialectMySQL, func(t *testing.T) { fn(t, MySQLDSN(t)) })
}

// Dialect is one supported database kind, for benchmarks that measure each.
type Dialect struct {
	Name string
	// DSN returns the DSN of a fresh, empty database of this kind.
	DSN func(testing.TB) string
	// Open returns a fresh, migrated database of this kind.
	Open func(testing.TB) *gorm.DB
}

// BenchDialects lists SQLite, and MariaDB/MySQL when TEST_MYSQL_DSN is set (as `make bench`
// sets it). Benchmarks are run by hand too, where a missing server should narrow the
// measurement rather than fail it, so this says so instead of failing.
func BenchDialects(b *testing.B) []Dialect {
	b.Helper()
	dialects := []Dialect{{models.DialectSQLite, SQLiteDSN, SQLite}}
	if os.Getenv(EnvMySQLDSN) == "" {
		b.Logf("%s is not set: measuring SQLite only", EnvMySQLDSN)
		return dialects
	}
	return append(dialects, Dialect{models.DialectMySQL, MySQLDSN, MySQL})
}

// SQLite returns a fresh, migrated SQLite database in t.TempDir(), closed at cleanup.
func SQLite(t testing.TB) *gorm.DB {
	t.Helper()
	return open(t, SQLiteDSN(t))
}

// SQLiteDSN returns the "sqlite://..." DSN of a database file that does not exist yet.
func SQLiteDSN(t testing.TB) string {
	t.Helper()
	return "sqlite://" + filepath.Join(t.TempDir(), "test.db")
}

// MySQL returns a fresh, migrated database on the server in TEST_MYSQL_DSN, dropped at cleanup.
func MySQL(t testing.TB) *gorm.DB {
	t.Helper()
	return open(t, MySQLDSN(t))
}

// MySQLDSN creates a new, empty, uniquely named database on the server in TEST_MYSQL_DSN,
// drops it at cleanup, and returns its "mysql://..." DSN.
func MySQLDSN(t testing.TB) string {
	t.Helper()
	raw := os.Getenv(EnvMySQLDSN)
	if raw == "" {
		t.Fatal("TEST_MYSQL_DSN is not set: run the suite with `make test`, which starts a throwaway MariaDB")
	}
	cfg, err := mysql.ParseDSN(strings.TrimPrefix(raw, "mysql://"))
	if err != nil {
		t.Fatalf("parse %s: %v", EnvMySQLDSN, err)
	}
	cfg.DBName = ""
	server, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatalf("open MySQL server from %s: %v", EnvMySQLDSN, err)
	}
	defer server.Close()

	name := "dftest_" + randomHex(t, 8)
	if _, err := server.Exec("CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		t.Fatalf("create test database on the server in %s: %v", EnvMySQLDSN, err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("mysql", cfg.FormatDSN())
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer admin.Close()
		if _, err := admin.Exec("DROP DATABASE IF EXISTS `" + name + "`"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	cfg.DBName = name
	return "mysql://" + cfg.FormatDSN()
}

// Logger returns a logger that writes warnings and errors to the test's output.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func open(t testing.TB, dsn string) *gorm.DB {
	t.Helper()
	db, err := models.Open(dsn, Logger(t))
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	Close(t, db)
	return db
}

// Close closes db when the test ends (before its database is dropped).
func Close(t testing.TB, db *gorm.DB) {
	t.Cleanup(func() {
		sqlDB, err := db.DB()
		if err != nil {
			t.Errorf("close test database: %v", err)
			return
		}
		if err := sqlDB.Close(); err != nil {
			t.Errorf("close test database: %v", err)
		}
	})
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random database name: %v", err)
	}
	return hex.EncodeToString(b)
}

// AddDeliveries writes deliveries (and fills their IDs) straight into db, the way the
// fan-out writes them, for tests of the dispatcher and the Deliveries screen that must
// not depend on the fan-out. Empty Status means pending; a zero NextAttempt means due
// at once (it is set to the year 2000).
func AddDeliveries(t testing.TB, db *gorm.DB, ds ...*models.Delivery) {
	t.Helper()
	for _, d := range ds {
		if d.Status == "" {
			d.Status = models.DeliveryPending
		}
		if d.NextAttempt.IsZero() {
			d.NextAttempt = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
		}
		if d.Recipients == 0 {
			d.Recipients = len(d.UserIDList())
		}
		if err := db.Create(d).Error; err != nil {
			t.Fatalf("add delivery: %v", err)
		}
	}
}

// AddEventRecipients writes watcher outcomes of an event straight into db.
func AddEventRecipients(t testing.TB, db *gorm.DB, rs ...*models.EventRecipient) {
	t.Helper()
	for _, r := range rs {
		if err := db.Create(r).Error; err != nil {
			t.Fatalf("add event recipient: %v", err)
		}
	}
}
