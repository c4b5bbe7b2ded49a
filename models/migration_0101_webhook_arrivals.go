package models

import (
	"time"

	"gorm.io/gorm"
)

// --- 202612020101_webhook_arrivals ---

// m0101WebhookArrival counts, per hour and kind, the webhook requests that were answered
// with success but stored no event: Confluence's connection test and the events
// dingfluence does not notify on. Without it the Confluence screen could not say that a
// webhook arrived after a Test connection; one row per hour and kind keeps a busy
// Confluence from growing a table (or rewriting the settings row) on every request.
type m0101WebhookArrival struct {
	HourStart time.Time `gorm:"column:hour_start;primaryKey"`
	Kind      string    `gorm:"column:kind;size:16;primaryKey"`
	Count     int64     `gorm:"column:count;not null;default:0"`
	LastAt    time.Time `gorm:"column:last_at;not null"`
}

func (m0101WebhookArrival) TableName() string { return "webhook_arrivals" }

func migrate0101WebhookArrivals(db *gorm.DB) error {
	return createTables(db, &m0101WebhookArrival{})
}
