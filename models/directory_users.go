package models

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// directoryBatch bounds the rows of one INSERT or the ids of one IN list the directory
// sync writes (the SQLite driver binds parameters in time quadratic in their number).
const directoryBatch = 100

// DirectoryAccount is a user row as the directory sync compares it with Confluence.
type DirectoryAccount struct {
	ID          uint    `gorm:"column:id"`
	UserKey     *string `gorm:"column:user_key"` // nil for local accounts
	Username    string  `gorm:"column:username"`
	DisplayName string  `gorm:"column:display_name"`
	Email       string  `gorm:"column:email"`
	Active      bool    `gorm:"column:active"`
}

// DirectoryAccounts returns every user row, local accounts included (their usernames
// are taken), by id.
func (s *Store) DirectoryAccounts(ctx context.Context) ([]DirectoryAccount, error) {
	var out []DirectoryAccount
	err := s.db.WithContext(ctx).Model(&User{}).
		Select("id", "user_key", "username", "display_name", "email", "active").Order("id").Find(&out).Error
	if err != nil {
		return nil, dbError("read directory accounts", err)
	}
	return out, nil
}

// CountActiveDirectoryAccounts counts the active users with a user key: the members the
// last directory sync found.
func (s *Store) CountActiveDirectoryAccounts(ctx context.Context) (int, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&User{}).Where("user_key IS NOT NULL AND active = ?", true).Count(&n).Error
	if err != nil {
		return 0, dbError("count directory accounts", err)
	}
	return int(n), nil
}

// DirectoryChanges is what one directory sync writes.
type DirectoryChanges struct {
	// Create are new Confluence users (UserKey set).
	Create []DirectoryAccount
	// Update are existing keyed rows with their new username, display name, e-mail and
	// active flag, whole.
	Update []DirectoryAccount
	// Park are keyed rows whose username must be freed first, because another row takes
	// it in this sync (a rename, or a new user given a departed user's name): they get
	// "~<user key>" before any other write. A parked row that is not also in Update
	// keeps that placeholder.
	Park []uint
	// Deactivate are ids of active keyed rows no longer in the group or deactivated.
	Deactivate []uint
}

// ApplyDirectoryChanges writes ch in one transaction, all or nothing.
func (s *Store) ApplyDirectoryChanges(ctx context.Context, ch DirectoryChanges, now time.Time) error {
	err := s.InTx(ctx, func(tx *Store) error {
		db := tx.db.WithContext(ctx)
		for _, id := range ch.Park {
			// The placeholder is built by the database so it needs no read of the key;
			// user keys are unique, so placeholders are too.
			if err := db.Exec("UPDATE users SET username = "+concat(tx, "'~'", "user_key")+", updated_at = ? WHERE id = ? AND user_key IS NOT NULL", now, id).Error; err != nil {
				return fmt.Errorf("free username of user %d: %w", id, err)
			}
		}
		for _, u := range ch.Update {
			err := db.Model(&User{}).Where("id = ? AND user_key IS NOT NULL", u.ID).Updates(map[string]any{
				"username": u.Username, "display_name": u.DisplayName, "email": u.Email, "active": u.Active, "updated_at": now,
			}).Error
			if err != nil {
				return fmt.Errorf("update user %d: %w", u.ID, err)
			}
		}
		for chunk := range slices.Chunk(ch.Deactivate, directoryBatch) {
			err := db.Model(&User{}).Where("id IN ? AND user_key IS NOT NULL", chunk).
				Updates(map[string]any{"active": false, "updated_at": now}).Error
			if err != nil {
				return fmt.Errorf("deactivate users: %w", err)
			}
		}
		for chunk := range slices.Chunk(ch.Create, directoryBatch) {
			// Raw, because GORM's Create drops a false active (the column's default is true)
			// and cannot batch-insert maps with an auto-increment key.
			var b strings.Builder
			b.WriteString("INSERT INTO users (user_key, username, display_name, email, active, enabled, created_at, updated_at) VALUES ")
			args := make([]any, 0, len(chunk)*8)
			for i, u := range chunk {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
				args = append(args, u.UserKey, u.Username, u.DisplayName, u.Email, u.Active, true, now, now)
			}
			if err := db.Exec(b.String(), args...).Error; err != nil {
				return fmt.Errorf("create users: %w", err)
			}
		}
		return nil
	})
	return dbError("apply directory changes", err)
}

// concat is SQL concatenation of a and b in the store's dialect (|| is OR on MySQL).
func concat(s *Store, a, b string) string {
	if Dialect(s.db) == DialectMySQL {
		return "CONCAT(" + a + ", " + b + ")"
	}
	return a + " || " + b
}
