package models_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/models/modelstest"
)

func TestOpenRejectsBadDSN(t *testing.T) {
	tests := []struct {
		name string
		dsn  string
	}{
		{"empty", ""},
		{"other scheme", "postgres://user:hunter2@db.example/app"},
		{"sqlite without path", "sqlite://"},
		{"sqlite in memory", "sqlite://:memory:"},
		{"mysql without database", "mysql://user:hunter2@tcp(127.0.0.1:1)/"},
		{"mysql malformed", "mysql://user:hunter2@tcp(127.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := models.Open(tt.dsn, nil)
			if err == nil {
				t.Fatalf("Open(%q) succeeded, want error (dialect %s)", tt.dsn, models.Dialect(db))
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

func TestOpenSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "dingfluence.db")
	db, err := models.Open("sqlite://"+path, modelstest.Logger(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	modelstest.Close(t, db)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file not created: %v", err)
	}
	if got := models.Dialect(db); got != models.DialectSQLite {
		t.Errorf("Dialect = %q", got)
	}
	pragmas := []struct {
		name string
		want string
	}{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"busy_timeout", "10000"},
		{"synchronous", "1"}, // NORMAL
	}
	for _, p := range pragmas {
		var got string
		if err := db.Raw("PRAGMA " + p.name).Scan(&got).Error; err != nil {
			t.Fatalf("PRAGMA %s: %v", p.name, err)
		}
		if got != p.want {
			t.Errorf("PRAGMA %s = %q, want %q", p.name, got, p.want)
		}
	}
}

func TestOpenMySQLForcesSessionSettings(t *testing.T) {
	// A DSN as an operator might write it: no parseTime, charset or loc.
	cfg, err := mysql.ParseDSN(strings.TrimPrefix(modelstest.MySQLDSN(t), "mysql://"))
	if err != nil {
		t.Fatal(err)
	}
	bare := mysql.NewConfig()
	bare.User, bare.Passwd, bare.Net, bare.Addr, bare.DBName = cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName
	dsn := "mysql://" + bare.FormatDSN()
	if strings.Contains(dsn, "parseTime") || strings.Contains(dsn, "charset") {
		t.Fatalf("test DSN is not bare: %s", dsn)
	}

	db, err := models.Open(dsn, modelstest.Logger(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	modelstest.Close(t, db)
	if got := models.Dialect(db); got != models.DialectMySQL {
		t.Errorf("Dialect = %q", got)
	}
	var vars struct {
		TimeZone string
		Charset  string
	}
	if err := db.Raw("SELECT @@session.time_zone AS time_zone, @@character_set_connection AS charset").Scan(&vars).Error; err != nil {
		t.Fatalf("read session variables: %v", err)
	}
	if vars.TimeZone != "+00:00" || vars.Charset != "utf8mb4" {
		t.Errorf("session time_zone, charset = %q, %q; want +00:00, utf8mb4", vars.TimeZone, vars.Charset)
	}
	var now time.Time // needs parseTime
	if err := db.Raw("SELECT NOW()").Scan(&now).Error; err != nil {
		t.Fatalf("scan DATETIME into time.Time: %v", err)
	}
	if d := time.Since(now); d < -time.Minute || d > time.Minute {
		t.Errorf("NOW() = %v, %v away from the clock: session zone or loc is not UTC", now, d)
	}
	var charset string
	db.Raw("SELECT CCSA.character_set_name FROM information_schema.TABLES T JOIN information_schema.COLLATION_CHARACTER_SET_APPLICABILITY CCSA ON CCSA.collation_name = T.table_collation WHERE T.table_schema = DATABASE() AND T.table_name = 'users'").Scan(&charset)
	if charset != "utf8mb4" {
		t.Errorf("users table charset = %q, want utf8mb4", charset)
	}
}

// SQLite compares times as text, so every time must be stored and compared in one zone.
func TestTimesAreUTCWhateverTheArgumentZone(t *testing.T) {
	east := time.FixedZone("CST", 8*3600)
	west := time.FixedZone("PST", -8*3600)
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		if err := db.Create(&models.AuditEntry{Actor: "a", Action: "x", CreatedAt: at.In(east)}).Error; err != nil {
			t.Fatalf("create: %v", err)
		}
		var got models.AuditEntry
		if err := db.Take(&got).Error; err != nil {
			t.Fatalf("read back: %v", err)
		}
		if !got.CreatedAt.Equal(at) || got.CreatedAt.Location() != time.UTC {
			t.Errorf("CreatedAt = %v, want %v in UTC", got.CreatedAt, at)
		}
		tests := []struct {
			cond string
			arg  time.Time
			want int64
		}{
			{"created_at > ?", at.Add(-time.Minute).In(west), 1},
			{"created_at > ?", at.Add(time.Minute).In(east), 0},
			{"created_at < ?", at.Add(time.Minute).In(west), 1},
			{"created_at < ?", at.Add(-time.Minute).In(east), 0},
			{"created_at = ?", at.In(west), 1},
		}
		for _, tt := range tests {
			var n int64
			if err := db.Model(&models.AuditEntry{}).Where(tt.cond, tt.arg).Count(&n).Error; err != nil {
				t.Fatalf("count: %v", err)
			}
			if n != tt.want {
				t.Errorf("%s with %v: %d rows, want %d", tt.cond, tt.arg, n, tt.want)
			}
		}
	})
}
