package models

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrUsernameIsLocal is returned when a Confluence account's username is held by a local
// account (such as admin): the local account keeps it, and the Confluence account cannot
// sign in under it, as the directory sync skips such a member.
var ErrUsernameIsLocal = errors.New("the username belongs to a local account")

// ConfluenceAccount is a Confluence user as a sign-in found them, with the admin rights
// their groups give.
type ConfluenceAccount struct {
	UserKey     string
	Username    string
	DisplayName string
	Email       string // "" when Confluence shows none: the stored one is kept
	Active      bool
	IsAdmin     bool
}

// SaveSignedInConfluenceUser creates or refreshes the row of the Confluence account a
// (found by its user key, so a rename keeps the row) and returns it. Like the directory
// sync, a keyed row that holds a's username is given the placeholder "~<user key>" first,
// and a local account holding it makes the call fail with ErrUsernameIsLocal. One
// transaction; a concurrent first sign-in of the same account is absorbed by retrying
// once.
func (s *Store) SaveSignedInConfluenceUser(ctx context.Context, a ConfluenceAccount, now time.Time) (User, error) {
	if a.UserKey == "" || a.Username == "" {
		return User{}, errors.New("save signed-in Confluence user: user key and username are required")
	}
	var saved User
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		err = s.InTx(ctx, func(tx *Store) error {
			var txErr error
			saved, txErr = tx.saveSignedInConfluenceUser(ctx, a, now)
			return txErr
		})
		if !errors.Is(err, ErrDuplicate) {
			break
		}
	}
	if err != nil {
		return User{}, fmt.Errorf("save signed-in Confluence user: %w", err)
	}
	return saved, nil
}

// saveSignedInConfluenceUser does the work of SaveSignedInConfluenceUser; s is in a
// transaction.
func (s *Store) saveSignedInConfluenceUser(ctx context.Context, a ConfluenceAccount, now time.Time) (User, error) {
	db := s.db.WithContext(ctx)
	var rows []User
	if err := db.Where("user_key = ?", a.UserKey).Limit(1).Find(&rows).Error; err != nil {
		return User{}, dbError("find user by user key", err)
	}
	var holders []User
	if err := db.Where("username = ?", a.Username).Limit(1).Find(&holders).Error; err != nil {
		return User{}, dbError("find holder of username", err)
	}
	exists := len(rows) == 1
	if len(holders) == 1 && (!exists || holders[0].ID != rows[0].ID) {
		h := holders[0]
		if h.UserKey == nil {
			return User{}, ErrUsernameIsLocal
		}
		// Another Confluence account had this name (it was renamed in Confluence since):
		// free it the way the directory sync does; its next sync gives it its new name.
		if err := db.Exec("UPDATE users SET username = "+concat(s, "'~'", "user_key")+", updated_at = ? WHERE id = ?", now, h.ID).Error; err != nil {
			return User{}, dbError("free username", err)
		}
	}
	if !exists {
		key := a.UserKey
		u := User{Username: a.Username, DisplayName: a.DisplayName, Email: a.Email, IsAdmin: a.IsAdmin, Enabled: true,
			CreatedAt: now, UpdatedAt: now, ConfluenceIdentity: ConfluenceIdentity{UserKey: &key, Active: a.Active}}
		// Active is written explicitly: GORM leaves a false value to the column's default (true).
		if err := db.Create(&u).Error; err != nil {
			return User{}, dbError("create user", err)
		}
		if !a.Active {
			if err := db.Model(&User{}).Where("id = ?", u.ID).Update("active", false).Error; err != nil {
				return User{}, dbError("create user", err)
			}
			u.Active = false
		}
		return u, nil
	}
	cols := map[string]any{
		"username": a.Username, "display_name": a.DisplayName, "active": a.Active, "is_admin": a.IsAdmin, "updated_at": now,
	}
	if a.Email != "" {
		cols["email"] = a.Email
	}
	if err := db.Model(&User{}).Where("id = ?", rows[0].ID).Updates(cols).Error; err != nil {
		return User{}, dbError("update user", err)
	}
	var u User
	if err := db.Where("id = ?", rows[0].ID).Take(&u).Error; err != nil {
		return User{}, dbError("read user", err)
	}
	return u, nil
}
