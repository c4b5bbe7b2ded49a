package models

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// MatchingMethod is how a Confluence user is matched to a DingTalk user.
type MatchingMethod string

// Matching methods; the global setting is MatchEmail or MatchJobNumber, a user may also pick MatchMobile.
const (
	MatchEmail     MatchingMethod = "email"
	MatchJobNumber MatchingMethod = "job_number"
	MatchMobile    MatchingMethod = "mobile"
)

// User is a person who uses this app: a Confluence identity or the local admin account.
type User struct {
	ID          uint   `gorm:"column:id;primaryKey"`
	Username    string `gorm:"column:username"` // unique, compared case-insensitively
	DisplayName string `gorm:"column:display_name"`
	Email       string `gorm:"column:email"`
	// PasswordHash is set only for local accounts (admin); Confluence users sign in through Confluence.
	PasswordHash string `gorm:"column:password_hash"`
	IsAdmin      bool   `gorm:"column:is_admin"`
	// MatchingMethod overrides the global one; empty means use the global setting.
	MatchingMethod   MatchingMethod `gorm:"column:matching_method"`
	Mobile           string         `gorm:"column:mobile"`
	Enabled          bool           `gorm:"column:enabled"`
	DingTalkUserID   string         `gorm:"column:dingtalk_user_id"`
	MatchedAt        *time.Time     `gorm:"column:matched_at"`
	NotifyOwnChanges bool           `gorm:"column:notify_own_changes"`
	// NotifyEnabled is the "Enable?" of the person's DingTalk tab: whether they receive
	// notifications. Enabled, by contrast, says whether the account may sign in.
	NotifyEnabled bool `gorm:"column:notify_enabled;default:true"`
	// Locale is "en" or "zh-Hans"; empty means follow the browser's Accept-Language.
	Locale string `gorm:"column:locale"`
	// SessionEpoch goes up with every password change; a session signed in
	// under an older epoch is no longer valid, so a reset ends them all.
	SessionEpoch int64     `gorm:"column:session_epoch"`
	CreatedAt    time.Time `gorm:"column:created_at"`
	UpdatedAt    time.Time `gorm:"column:updated_at"`
	// ConfluenceIdentity is the Confluence account and the current match result.
	ConfluenceIdentity `gorm:"embedded"`
}

// TableName implements gorm's tabler.
func (User) TableName() string { return "users" }

// UsernameMax is the size of users.username in characters (migration 0001).
const UsernameMax = 255

// UserByUsername returns the user with username (case-insensitive), or ErrNotFound.
func (s *Store) UserByUsername(ctx context.Context, username string) (User, error) {
	var u User
	err := s.db.WithContext(ctx).Where("username = ?", username).Take(&u).Error
	if err != nil {
		return User{}, dbError("find user by username", err)
	}
	return u, nil
}

// UserByID returns the user with id, or ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id uint) (User, error) {
	var u User
	err := s.db.WithContext(ctx).Where("id = ?", id).Take(&u).Error
	if err != nil {
		return User{}, dbError("find user by id", err)
	}
	return u, nil
}

// CreateUser inserts u and sets its ID and timestamps; a taken username gives ErrDuplicate.
func (s *Store) CreateUser(ctx context.Context, u *User) error {
	return dbError("create user", s.db.WithContext(ctx).Create(u).Error)
}

// SetPasswordHash replaces the password hash of user id and moves its SessionEpoch on,
// which ends every session the user signed in with before.
func (s *Store) SetPasswordHash(ctx context.Context, id uint, hash string) error {
	return s.updateUser(ctx, "set password hash", id, map[string]any{
		"password_hash": hash,
		"session_epoch": gorm.Expr("session_epoch + 1"),
	})
}

// SetUserLocale sets the interface language of user id ("" follows the browser).
func (s *Store) SetUserLocale(ctx context.Context, id uint, locale string) error {
	return s.updateUser(ctx, "set user locale", id, map[string]any{"locale": locale})
}

// updateUser sets columns of user id, returning ErrNotFound when there is no such user.
func (s *Store) updateUser(ctx context.Context, step string, id uint, columns map[string]any) error {
	res := s.db.WithContext(ctx).Model(&User{}).Where("id = ?", id).Updates(columns)
	if res.Error != nil {
		return dbError(step, res.Error)
	}
	if res.RowsAffected == 0 {
		return dbError(step, ErrNotFound)
	}
	return nil
}
