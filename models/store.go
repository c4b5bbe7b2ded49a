package models

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"

	"github.com/dingfluence/dingfluence/secretbox"
)

// ErrNotFound is returned when the requested row does not exist.
var ErrNotFound = errors.New("not found")

// ErrDuplicate is returned when a row would break a unique constraint, such as a taken username.
var ErrDuplicate = errors.New("already exists")

// ErrSecretUnreadable is returned when a stored secret cannot be decrypted, usually because
// the secret key changed; see LoadSettings.
var ErrSecretUnreadable = errors.New("stored secret cannot be decrypted with the current key")

// Store runs the application's queries against one database.
type Store struct {
	db  *gorm.DB
	box *secretbox.Box
}

// NewStore returns a Store on db that seals secrets with box (which must not be nil).
func NewStore(db *gorm.DB, box *secretbox.Box) *Store {
	return &Store{db: db, box: box}
}

// DB returns the underlying database handle, for wiring libraries that need one.
func (s *Store) DB() *gorm.DB { return s.db }

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
