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

// Column sizes of confluence_settings (migration 0012).
const (
	ConfluenceBaseURLMax  = 500
	ConfluenceGroupMax    = 255
	ConfluenceClientIDMax = 255
)

// ConfluenceSecretMaxBytes is the longest token or client secret whose sealed form fits
// its column (the same arithmetic as SettingsAppSecretMaxBytes).
const ConfluenceSecretMaxBytes = SettingsAppSecretMaxBytes

// Default groups: Confluence's own administrators and users groups.
const (
	DefaultConfluenceAdminGroup = "confluence-administrators"
	DefaultConfluenceUserGroup  = "confluence-users"
)

// ConfluenceSettings is the Confluence connection (single row, id 1). Token and
// OAuthClientSecret are plaintext in memory only and stored sealed.
type ConfluenceSettings struct {
	ID      uint   `gorm:"column:id;primaryKey"`
	BaseURL string `gorm:"column:base_url"`
	// Token is the service account's personal access token (a Confluence administrator,
	// so that it may list group members and, later, watchers).
	Token       string `gorm:"-"`
	TokenSealed string `gorm:"column:token_sealed"`
	// HasToken reports, after LoadConfluenceSettings, whether a readable token is stored.
	HasToken   bool   `gorm:"-"`
	AdminGroup string `gorm:"column:admin_group"`
	UserGroup  string `gorm:"column:user_group"`
	// OAuthClientID and OAuthClientSecret come from Confluence's incoming application
	// link; sign-in with Confluence is offered once both are set.
	OAuthClientID           string    `gorm:"column:oauth_client_id"`
	OAuthClientSecret       string    `gorm:"-"`
	OAuthClientSecretSealed string    `gorm:"column:oauth_client_secret_sealed"`
	HasOAuthClientSecret    bool      `gorm:"-"`
	UpdatedAt               time.Time `gorm:"column:updated_at"`
}

// TableName implements gorm's tabler.
func (ConfluenceSettings) TableName() string { return "confluence_settings" }

// DefaultConfluenceSettings is the connection before an admin saved one: no Confluence,
// Confluence's default groups.
func DefaultConfluenceSettings() ConfluenceSettings {
	return ConfluenceSettings{ID: settingsID, AdminGroup: DefaultConfluenceAdminGroup, UserGroup: DefaultConfluenceUserGroup}
}

// OAuthConfigured reports whether sign-in with Confluence over OAuth 2.0 can be offered.
func (c ConfluenceSettings) OAuthConfigured() bool {
	return c.BaseURL != "" && c.OAuthClientID != "" && c.HasOAuthClientSecret
}

// LoadConfluenceSettings returns the stored Confluence connection with its secrets
// opened, or DefaultConfluenceSettings before the first save. A secret that cannot be
// opened (the key changed) is left out (HasToken / HasOAuthClientSecret false) and
// ErrSecretUnreadable is returned with the rest, so the screen can still show it.
func (s *Store) LoadConfluenceSettings(ctx context.Context) (ConfluenceSettings, error) {
	return s.loadConfluenceSettings(s.db.WithContext(ctx))
}

func (s *Store) loadConfluenceSettings(db *gorm.DB) (ConfluenceSettings, error) {
	var set ConfluenceSettings
	err := db.Where("id = ?", settingsID).Take(&set).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return DefaultConfluenceSettings(), nil
	}
	if err != nil {
		return ConfluenceSettings{}, dbError("load confluence settings", err)
	}
	var tokenErr, secretErr error
	set.Token, set.HasToken, tokenErr = s.openSealed(set.TokenSealed)
	set.OAuthClientSecret, set.HasOAuthClientSecret, secretErr = s.openSealed(set.OAuthClientSecretSealed)
	if tokenErr != nil || secretErr != nil {
		return set, fmt.Errorf("load confluence settings: %w", errors.Join(wrapIf("service token", tokenErr), wrapIf("oauth client secret", secretErr)))
	}
	return set, nil
}

// SaveConfluenceSettings stores set; an empty Token or OAuthClientSecret keeps the stored
// one. In the same transaction it writes an audit entry naming the changed fields.
func (s *Store) SaveConfluenceSettings(ctx context.Context, set ConfluenceSettings, actor string) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		old, err := s.loadConfluenceSettings(tx)
		if err != nil && !errors.Is(err, ErrSecretUnreadable) {
			return fmt.Errorf("save confluence settings: %w", err)
		}
		set.ID = settingsID
		set.TokenSealed, set.OAuthClientSecretSealed = old.TokenSealed, old.OAuthClientSecretSealed
		tokenChanged := set.Token != "" && set.Token != old.Token
		if tokenChanged {
			if set.TokenSealed, err = s.box.SealString(set.Token); err != nil {
				return fmt.Errorf("save confluence settings: seal token: %w", err)
			}
		}
		secretChanged := set.OAuthClientSecret != "" && set.OAuthClientSecret != old.OAuthClientSecret
		if secretChanged {
			if set.OAuthClientSecretSealed, err = s.box.SealString(set.OAuthClientSecret); err != nil {
				return fmt.Errorf("save confluence settings: seal client secret: %w", err)
			}
		}
		if err := tx.Clauses(clause.OnConflict{UpdateAll: true}).Create(&set).Error; err != nil {
			return dbError("save confluence settings", err)
		}
		var changed []string
		add := func(name string, differs bool) {
			if differs {
				changed = append(changed, name)
			}
		}
		add("baseUrl", old.BaseURL != set.BaseURL)
		add("serviceToken", tokenChanged)
		add("adminGroup", old.AdminGroup != set.AdminGroup)
		add("userGroup", old.UserGroup != set.UserGroup)
		add("oauthClientId", old.OAuthClientID != set.OAuthClientID)
		add("oauthClientSecret", secretChanged)
		details := "no changes"
		if len(changed) > 0 {
			details = "changed: " + strings.Join(changed, ", ")
		}
		return audit(tx, AuditEntry{Actor: actor, Action: ActionConfluenceUpdate, Details: details})
	})
}

// wrapIf wraps a non-nil err with what; nil stays nil (errors.Join drops it).
func wrapIf(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}
