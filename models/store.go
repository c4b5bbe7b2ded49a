package models

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-sql-driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/dingfluence/dingfluence/secretbox"
)

// ErrNotFound is returned when the requested row does not exist.
var ErrNotFound = errors.New("not found")

// ErrDuplicate is returned when a row would break a unique constraint, such as a taken username.
var ErrDuplicate = errors.New("already exists")

// ErrSecretUnreadable is returned when a stored secret cannot be decrypted, usually because
// the secret key changed; see LoadSettings.
var ErrSecretUnreadable = errors.New("stored secret cannot be decrypted with the current key")

// Store runs the application's queries against one database, or inside one of its
// transactions (see InTx).
type Store struct {
	db  *gorm.DB
	box *secretbox.Box
	// inTx is set on the Store InTx hands to its function: db is that transaction.
	inTx bool
}

// maxTxAttempts bounds how often InTx runs a transaction that lost a deadlock.
const maxTxAttempts = 3

// NewStore returns a Store on db that seals secrets with box (which must not be nil).
func NewStore(db *gorm.DB, box *secretbox.Box) *Store {
	return &Store{db: db, box: box}
}

// DB returns the underlying database handle, for wiring libraries that need one.
func (s *Store) DB() *gorm.DB { return s.db }

// InTx runs fn with a Store bound to one transaction, committed when fn returns nil and
// rolled back when it returns an error (or panics), so the store calls fn makes take
// effect together or not at all. Called on a Store that is already in a transaction
// (nested), it runs fn in that same transaction, as gitea's WithTx does: the outermost
// InTx decides. fn must use only the Store it is given; on SQLite another connection
// would wait for this transaction's write lock.
//
// MySQL may roll a transaction back as the loser of a deadlock ("try restarting
// transaction"); the outermost InTx then runs fn again, up to three times in all, so fn
// must not have effects outside the database.
func (s *Store) InTx(ctx context.Context, fn func(tx *Store) error) error {
	if s.inTx {
		return fn(s)
	}
	for attempt := 1; ; attempt++ {
		err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			return fn(&Store{db: tx, box: s.box, inTx: true})
		})
		if attempt < maxTxAttempts && isDeadlock(err) && ctx.Err() == nil {
			continue
		}
		return err
	}
}

// isDeadlock reports whether err is MySQL's "deadlock found when trying to get lock"
// (1213): the server rolled the whole transaction back, and running it again is the cure.
func isDeadlock(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1213
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// dbError maps GORM's errors to this package's sentinels, keeping the step for context.
func dbError(step string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gorm.ErrRecordNotFound):
		return fmt.Errorf("%s: %w", step, ErrNotFound)
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return fmt.Errorf("%s: %w", step, ErrDuplicate)
	default:
		return fmt.Errorf("%s: %w", step, err)
	}
}

// skipLocked makes a claim's select skip the rows another instance's transaction has
// locked (FOR UPDATE SKIP LOCKED) on MySQL/MariaDB, so instances claiming at once get
// disjoint rows without waiting; SQLite has one writer at a time, which serialises the
// claims by itself, so the select stays plain there.
func skipLocked(q *gorm.DB) *gorm.DB {
	if Dialect(q) == DialectMySQL {
		return q.Clauses(clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"})
	}
	return q
}
