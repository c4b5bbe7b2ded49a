package models

import (
	"context"
	"strings"

	"gorm.io/gorm"
)

// DingTalkPreferences are what a person sets on their own Profile → DingTalk tab.
type DingTalkPreferences struct {
	// MatchingMethod is the person's own method; "" follows the global one.
	MatchingMethod MatchingMethod
	// Mobile is the number a mobile match looks up in DingTalk.
	Mobile string
	// NotifyEnabled: the person receives notifications.
	NotifyEnabled bool
	// NotifyOwnChanges: the person also hears of their own changes.
	NotifyOwnChanges bool
}

// SetDingTalkPreferences stores p on user id, or returns ErrNotFound.
func (s *Store) SetDingTalkPreferences(ctx context.Context, id uint, p DingTalkPreferences) error {
	return s.updateUser(ctx, "set DingTalk preferences", id, map[string]any{
		"matching_method":    string(p.MatchingMethod),
		"mobile":             p.Mobile,
		"notify_enabled":     p.NotifyEnabled,
		"notify_own_changes": p.NotifyOwnChanges,
	})
}

// DingTalkUserByID returns the synced DingTalk user userID, or ErrNotFound.
func (s *Store) DingTalkUserByID(ctx context.Context, userID string) (DingTalkUser, error) {
	var u DingTalkUser
	if err := s.db.WithContext(ctx).Where("userid = ?", userID).Take(&u).Error; err != nil {
		return DingTalkUser{}, dbError("find DingTalk user", err)
	}
	return u, nil
}

// Page bounds of the unmatched-users list.
const (
	defaultUnmatchedLimit = 50
	maxUnmatchedLimit     = 500
)

// UnmatchedUserQuery selects a page of UsersWithoutDingTalkMatch.
type UnmatchedUserQuery struct {
	// Search keeps users whose username, display name or e-mail contains it, ignoring
	// case; empty keeps everyone.
	Search string
	Offset int
	Limit  int // <= 0 means 50; at most 500
}

// UnmatchedUser is an active Confluence user no single DingTalk user is matched to,
// with why.
type UnmatchedUser struct {
	ID          uint      `gorm:"column:id"`
	Username    string    `gorm:"column:username"`
	DisplayName string    `gorm:"column:display_name"`
	Email       string    `gorm:"column:email"`
	Match       UserMatch `gorm:"embedded"`
}

// UnmatchedUserPage is one page of unmatched users and how many there are in all pages.
type UnmatchedUserPage struct {
	Rows  []UnmatchedUser
	Total int
}

// UsersWithoutDingTalkMatch lists, by username, the active Confluence users (those with
// a user key: the local admin is none) whose last match found no single DingTalk user —
// unmatched, ambiguous, failed, or not matched yet. It is the list an admin works through
// to fix mappings.
//
// The filter is led by idx_users_match_status (migration 0020); a search is a substring
// match, which no index serves, over a table of Confluence users — thousands, not the
// hundred thousand the Members screen is built for.
func (s *Store) UsersWithoutDingTalkMatch(ctx context.Context, q UnmatchedUserQuery) (UnmatchedUserPage, error) {
	if q.Limit <= 0 {
		q.Limit = defaultUnmatchedLimit
	}
	q.Limit = min(q.Limit, maxUnmatchedLimit)
	q.Offset = max(q.Offset, 0)
	base := s.db.WithContext(ctx).Model(&User{}).
		Where("match_status IN ?", []string{string(MatchPending), string(MatchUnmatched), string(MatchAmbiguous), string(MatchError)}).
		Where("active = ? AND user_key IS NOT NULL", true)
	if search := strings.TrimSpace(q.Search); search != "" {
		pattern := "%" + strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(search) + "%"
		base = base.Where("(username LIKE ? ESCAPE '!' OR display_name LIKE ? ESCAPE '!' OR email LIKE ? ESCAPE '!')",
			pattern, pattern, pattern)
	}
	// A new session per statement, so the count and the page do not share one.
	base = base.Session(&gorm.Session{})
	var total int64
	if err := base.Count(&total).Error; err != nil {
		return UnmatchedUserPage{}, dbError("count users without a DingTalk match", err)
	}
	var rows []UnmatchedUser
	err := base.Select(append([]string{"id", "username", "display_name", "email"}, matchColumns...)).
		Order("username, id").Limit(q.Limit).Offset(q.Offset).Find(&rows).Error
	if err != nil {
		return UnmatchedUserPage{}, dbError("list users without a DingTalk match", err)
	}
	return UnmatchedUserPage{Rows: rows, Total: int(total)}, nil
}
