package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// settingsID is the primary key of the single settings row.
const settingsID = 1

// Sizes of the settings columns (migrations 0001 and 0004), in characters, so a form can
// refuse a value the database would not take instead of failing the save on MySQL.
const (
	SettingsAppKeyMax = 255
	SettingsURLMax    = 500
	// SettingsSealedSecretMax is app_secret_sealed's size: the base64 of a 12-byte nonce,
	// the secret and a 16-byte tag.
	SettingsSealedSecretMax = 1000
)

// SettingsAppSecretMaxBytes is the longest secret whose sealed form fits
// app_secret_sealed: base64 turns every 3 bytes into 4 characters.
const SettingsAppSecretMaxBytes = SettingsSealedSecretMax/4*3 - 12 - 16

// Settings is the single configuration row (id 1).
type Settings struct {
	ID      uint   `gorm:"column:id;primaryKey"`
	AgentID int64  `gorm:"column:agent_id"`
	AppKey  string `gorm:"column:app_key"`
	// AppSecret is the plaintext secret; it lives in memory only and is stored sealed.
	AppSecret string `gorm:"-"`
	// AppSecretSealed is the secretbox.SealString output of AppSecret.
	AppSecretSealed string `gorm:"column:app_secret_sealed"`
	// HasSecret reports, after LoadSettings, whether a readable secret is stored.
	HasSecret            bool   `gorm:"-"`
	TokenURL             string `gorm:"column:token_url"`
	SendMessageURL       string `gorm:"column:send_message_url"`
	SubDepartmentURL     string `gorm:"column:sub_department_url"`
	DepartmentDetailURL  string `gorm:"column:department_detail_url"`
	DepartmentUserIDsURL string `gorm:"column:department_user_ids_url"`
	UserProfileURL       string `gorm:"column:user_profile_url"`
	UserByMobileURL      string `gorm:"column:user_by_mobile_url"`
	// UserListURL pages through a department's user details, 100 a call.
	UserListURL string `gorm:"column:user_list_url"`
	// SyncIntervalMinutes is the period of the scheduled full org sync; 0 turns it off.
	SyncIntervalMinutes int `gorm:"column:sync_interval_minutes"`
	// CoalesceMinutes is the coalescing window: publishes of one page within it become
	// one notification, sent when it closes. 0 sends each publish at once.
	CoalesceMinutes int            `gorm:"column:coalesce_minutes"`
	MatchingMethod  MatchingMethod `gorm:"column:matching_method"`
	Enabled         bool           `gorm:"column:enabled"`
	UpdatedAt       time.Time      `gorm:"column:updated_at"`
}

// TableName implements gorm's tabler.
func (Settings) TableName() string { return "settings" }

// DefaultCoalesceMinutes is the coalescing window until an admin sets one: ten minutes,
// as Confluence batches its own e-mails.
const DefaultCoalesceMinutes = 10

// DefaultSettings returns the configuration used until an admin saves one: DingTalk's
// public API endpoints, e-mail matching, notifications off.
func DefaultSettings() Settings {
	return Settings{
		ID:                   settingsID,
		TokenURL:             "https://oapi.dingtalk.com/gettoken",
		SendMessageURL:       "https://oapi.dingtalk.com/topapi/message/corpconversation/asyncsend_v2",
		SubDepartmentURL:     "https://oapi.dingtalk.com/topapi/v2/department/listsub",
		DepartmentDetailURL:  "https://oapi.dingtalk.com/topapi/v2/department/get",
		DepartmentUserIDsURL: "https://oapi.dingtalk.com/topapi/user/listid",
		UserProfileURL:       "https://oapi.dingtalk.com/topapi/v2/user/get",
		UserByMobileURL:      "https://oapi.dingtalk.com/topapi/v2/user/getbymobile",
		UserListURL:          "https://oapi.dingtalk.com/topapi/v2/user/list",
		MatchingMethod:       MatchEmail,
		SyncIntervalMinutes:  60,
		CoalesceMinutes:      DefaultCoalesceMinutes,
	}
}

// LoadSettings returns the stored settings with the secret decrypted, or DefaultSettings
// when none were saved. If the secret cannot be decrypted (the key changed) it returns the
// settings without it (HasSecret false) together with ErrSecretUnreadable, so the settings
// page can still show them and let an admin enter the secret again.
func (s *Store) LoadSettings(ctx context.Context) (Settings, error) {
	return s.loadSettings(s.db.WithContext(ctx))
}

func (s *Store) loadSettings(db *gorm.DB) (Settings, error) {
	var set Settings
	err := db.Where("id = ?", settingsID).Take(&set).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return DefaultSettings(), nil
	}
	if err != nil {
		return Settings{}, dbError("load settings", err)
	}
	secret, ok, err := s.openSealed(set.AppSecretSealed)
	if err != nil {
		return set, fmt.Errorf("load settings: app secret: %w", err)
	}
	set.AppSecret, set.HasSecret = secret, ok
	return set, nil
}

// openSealed opens a stored secret: ok is false for none stored, and an error that
// matches ErrSecretUnreadable says it cannot be opened with the current key.
func (s *Store) openSealed(sealed string) (secret string, ok bool, err error) {
	if sealed == "" {
		return "", false, nil
	}
	secret, err = s.box.OpenString(sealed)
	if err != nil {
		return "", false, errors.Join(ErrSecretUnreadable, err)
	}
	return secret, true, nil
}

// SaveSettings stores set; an empty set.AppSecret keeps the stored secret. In the same
// transaction it writes an audit entry ("settings.update") naming the changed fields.
func (s *Store) SaveSettings(ctx context.Context, set Settings, actor string) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// The old secret is only compared, so an unreadable one is no reason to refuse a save
		// (entering a new secret is how an admin recovers from a key change).
		old, err := s.loadSettings(tx)
		if err != nil && !errors.Is(err, ErrSecretUnreadable) {
			return fmt.Errorf("save settings: %w", err)
		}

		set.ID = settingsID
		set.AppSecretSealed = old.AppSecretSealed
		secretChanged := set.AppSecret != "" && set.AppSecret != old.AppSecret
		if secretChanged {
			sealed, err := s.box.SealString(set.AppSecret)
			if err != nil {
				return fmt.Errorf("save settings: seal app secret: %w", err)
			}
			set.AppSecretSealed = sealed
		}

		// Upsert, because two admins saving the very first settings would both insert id 1.
		if err := tx.Clauses(clause.OnConflict{UpdateAll: true}).Create(&set).Error; err != nil {
			return dbError("save settings", err)
		}
		return audit(tx, AuditEntry{Actor: actor, Action: ActionSettingsUpdate, Details: settingsChanges(old, set, secretChanged)})
	})
}

// settingsChanges describes which fields differ, by name only, so no value (least of all
// the secret) reaches the audit log.
func settingsChanges(old, set Settings, secretChanged bool) string {
	var changed []string
	add := func(name string, differs bool) {
		if differs {
			changed = append(changed, name)
		}
	}
	add("agentId", old.AgentID != set.AgentID)
	add("appKey", old.AppKey != set.AppKey)
	add("appSecret", secretChanged)
	add("tokenUrl", old.TokenURL != set.TokenURL)
	add("sendMessageUrl", old.SendMessageURL != set.SendMessageURL)
	add("subDepartmentUrl", old.SubDepartmentURL != set.SubDepartmentURL)
	add("departmentDetailUrl", old.DepartmentDetailURL != set.DepartmentDetailURL)
	add("departmentUserIdsUrl", old.DepartmentUserIDsURL != set.DepartmentUserIDsURL)
	add("userProfileUrl", old.UserProfileURL != set.UserProfileURL)
	add("userByMobileUrl", old.UserByMobileURL != set.UserByMobileURL)
	add("userListUrl", old.UserListURL != set.UserListURL)
	add("syncIntervalMinutes", old.SyncIntervalMinutes != set.SyncIntervalMinutes)
	add("coalesceMinutes", old.CoalesceMinutes != set.CoalesceMinutes)
	add("matchingMethod", old.MatchingMethod != set.MatchingMethod)
	add("enabled", old.Enabled != set.Enabled)
	if len(changed) == 0 {
		return "no changes"
	}
	return "changed: " + strings.Join(changed, ", ")
}
