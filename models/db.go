// Package models holds the GORM models, the queries on them, and the database schema migrations.
package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/go-sql-driver/mysql"
	gormmysql "gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Dialect names returned by Dialect.
const (
	DialectSQLite = "sqlite"
	DialectMySQL  = "mysql"
)

// poolIdleConns is how many idle connections each pool keeps.
const poolIdleConns = 64

const (
	sqlitePrefix = "sqlite://"
	mysqlPrefix  = "mysql://"
)

// Open opens the database named by dsn and migrates it to the newest schema.
//
// dsn is "sqlite://path/to/file.db" (parent directories are created) or
// "mysql://user:pass@tcp(host:3306)/db?..." where the part after mysql:// is a
// go-sql-driver DSN; parseTime, charset utf8mb4, loc UTC and a UTC session time zone are
// applied unless given. SQL errors and slow queries go to log (nil discards them).
func Open(dsn string, log *slog.Logger) (*gorm.DB, error) {
	db, err := Connect(dsn, log)
	if err != nil {
		return nil, err
	}
	if err := Migrate(db); err != nil {
		closeDB(db)
		return nil, err
	}
	return db, nil
}

// Connect opens the database named by dsn (see Open) without migrating it.
func Connect(dsn string, log *slog.Logger) (*gorm.DB, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var (
		dialector gorm.Dialector
		err       error
	)
	switch {
	case strings.HasPrefix(dsn, sqlitePrefix):
		dialector, err = sqliteDialector(strings.TrimPrefix(dsn, sqlitePrefix))
	case strings.HasPrefix(dsn, mysqlPrefix):
		dialector, err = mysqlDialector(strings.TrimPrefix(dsn, mysqlPrefix), log)
	default:
		return nil, fmt.Errorf("open database: unsupported DSN %q: want sqlite://path or mysql://user:pass@tcp(host:port)/db", redactDSN(dsn))
	}
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	db, err := gorm.Open(dialector, &gorm.Config{
		Logger: logger.NewSlogLogger(log.With(slog.String("component", "gorm")), logger.Config{
			SlowThreshold:             time.Second,
			LogLevel:                  logger.Warn,
			IgnoreRecordNotFoundError: true,
			// Logged SQL must never carry secrets or password hashes.
			ParameterizedQueries: true,
		}),
		// UTC everywhere, truncated to what DATETIME(3) stores, so a value reads back
		// equal to what was written on both dialects.
		NowFunc:        func() time.Time { return time.Now().UTC().Truncate(time.Millisecond) },
		TranslateError: true,
	})
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	return db, nil
}

// Dialect reports which kind of database db is: DialectSQLite or DialectMySQL.
func Dialect(db *gorm.DB) string {
	return db.Dialector.Name()
}

func sqliteDialector(rest string) (gorm.Dialector, error) {
	path, userQuery, _ := strings.Cut(rest, "?")
	if path == "" || path == ":memory:" {
		return nil, fmt.Errorf("sqlite DSN needs a file path, got %q", rest)
	}
	// The database holds password hashes and the sealed appSecret: only the app's own
	// user may read it. SQLite creates its -wal and -shm files with the database file's
	// mode, so creating that one 0600 covers all three.
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create directory for %s: %w", path, err)
	}
	if err := createPrivateFile(path); err != nil {
		return nil, err
	}
	q := url.Values{}
	// WAL lets readers run beside the one writer; busy_timeout makes a second writer wait
	// instead of failing; immediate transactions take the write lock at BEGIN, because a
	// deferred transaction that later upgrades to a writer fails at once with SQLITE_BUSY
	// rather than waiting out busy_timeout.
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Set("_txlock", "immediate")
	if userQuery != "" {
		extra, err := url.ParseQuery(userQuery)
		if err != nil {
			return nil, fmt.Errorf("parse sqlite DSN options: %w", err)
		}
		for k, vs := range extra {
			q[k] = append(q[k], vs...)
		}
	}
	pool := openUTCSQLite(path + "?" + q.Encode())
	// database/sql keeps only 2 idle connections by default: under concurrent requests
	// (64 webhook senders) every other query would open the file and run the pragmas
	// again. Keep as many as the MySQL pool does.
	pool.SetMaxIdleConns(poolIdleConns)
	return &sqlite.Dialector{DSN: path, Conn: pool}, nil
}

// createPrivateFile creates path with mode 0600 unless it exists; an existing file keeps
// the mode its operator gave it.
func createPrivateFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("create database file %s: %w", path, err)
	}
	return nil
}

func mysqlDialector(rest string, log *slog.Logger) (gorm.Dialector, error) {
	cfg, err := mysql.ParseDSN(rest)
	if err != nil {
		return nil, fmt.Errorf("parse mysql DSN: %w", err)
	}
	if cfg.DBName == "" {
		return nil, fmt.Errorf("mysql DSN names no database")
	}
	// ParseDSN already defaults loc to UTC; an explicit loc is the operator's choice.
	cfg.ParseTime = true
	// With found rows, an UPDATE that changes nothing still reports its row as affected,
	// as SQLite does, so "0 rows affected" reliably means "no such row".
	cfg.ClientFoundRows = true
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	if _, ok := cfg.Params["charset"]; !ok {
		cfg.Params["charset"] = "utf8mb4"
	}
	if _, ok := cfg.Params["time_zone"]; !ok {
		// Keep server-side NOW() and CURRENT_TIMESTAMP in the same zone as the driver.
		cfg.Params["time_zone"] = "'+00:00'"
	}
	if !strings.Contains(rest, "interpolateParams=") {
		// Without it every query with arguments is a server-side prepare, execute and
		// close: three round trips where one does. Safe with utf8mb4 (the driver refuses
		// to interpolate for multibyte charsets where escaping is ambiguous).
		cfg.InterpolateParams = true
	}
	cfg.Logger = mysqlLogger{log: log.With(slog.String("component", "mysql"))}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mysql connector: %w", err)
	}
	sqlDB := sql.OpenDB(connector)
	// Servers and proxies drop idle connections; recycling them first avoids "invalid connection".
	sqlDB.SetConnMaxLifetime(3 * time.Minute)
	// Idle connections are kept for a burst of concurrent requests (Confluence sends up
	// to 5 connections per host, a load test 64): with too few, every request beyond
	// them pays a TCP and MySQL handshake, which dominated the webhook's latency.
	sqlDB.SetMaxIdleConns(poolIdleConns)
	return gormmysql.New(gormmysql.Config{Conn: sqlDB, DSNConfig: cfg}), nil
}

// redactDSN hides a password that may be in an unrecognised DSN before it is logged.
func redactDSN(dsn string) string {
	if i := strings.Index(dsn, "@"); i >= 0 {
		return "…" + dsn[i:]
	}
	return dsn
}

// mysqlLogger sends the driver's own messages (dropped connections and the like) to slog.
type mysqlLogger struct{ log *slog.Logger }

func (l mysqlLogger) Print(v ...any) {
	l.log.LogAttrs(context.Background(), slog.LevelWarn, fmt.Sprint(v...))
}

func closeDB(db *gorm.DB) {
	if sqlDB, err := db.DB(); err == nil {
		_ = sqlDB.Close()
	}
}
