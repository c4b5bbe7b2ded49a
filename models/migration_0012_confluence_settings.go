package models

import (
	"time"

	"gorm.io/gorm"
)

// --- 202612020001_confluence_settings ---

// m0012ConfluenceSettings is the single row (id 1) of the Confluence connection: where
// Confluence is, the service account's personal access token (sealed), the two groups
// that matter and the OAuth 2.0 client of the incoming application link (secret sealed).
// A table of its own rather than columns on settings, so saving one screen can never
// overwrite the other's values.
type m0012ConfluenceSettings struct {
	ID                      uint      `gorm:"column:id;primaryKey"`
	BaseURL                 string    `gorm:"column:base_url;size:500;not null;default:''"`
	TokenSealed             string    `gorm:"column:token_sealed;size:1000;not null;default:''"`
	AdminGroup              string    `gorm:"column:admin_group;size:255;not null;default:''"`
	UserGroup               string    `gorm:"column:user_group;size:255;not null;default:''"`
	OAuthClientID           string    `gorm:"column:oauth_client_id;size:255;not null;default:''"`
	OAuthClientSecretSealed string    `gorm:"column:oauth_client_secret_sealed;size:1000;not null;default:''"`
	UpdatedAt               time.Time `gorm:"column:updated_at"`
}

func (m0012ConfluenceSettings) TableName() string { return "confluence_settings" }

func migrate0012ConfluenceSettings(db *gorm.DB) error {
	return createTables(db, &m0012ConfluenceSettings{})
}
