package models

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// defaultAuditLimit is how many entries RecentAudit returns when asked for none or fewer.
const defaultAuditLimit = 50

// AuditEntry records who changed settings or triggered an action; Details never holds secrets.
type AuditEntry struct {
	ID        uint      `gorm:"column:id;primaryKey"`
	Actor     string    `gorm:"column:actor"`
	Action    string    `gorm:"column:action"`
	Details   string    `gorm:"column:details"`
	CreatedAt time.Time `gorm:"column:created_at"`
}

// TableName implements gorm's tabler.
func (AuditEntry) TableName() string { return "audit_log" }

// Audit records that actor performed action.
func (s *Store) Audit(ctx context.Context, actor, action, details string) error {
	return audit(s.db.WithContext(ctx), actor, action, details)
}

// audit writes an entry on db, which may be a transaction the audited change runs in.
func audit(db *gorm.DB, actor, action, details string) error {
	return dbError("write audit entry", db.Create(&AuditEntry{Actor: actor, Action: action, Details: details}).Error)
}

// RecentAudit returns the newest limit entries, newest first (limit <= 0 means 50).
func (s *Store) RecentAudit(ctx context.Context, limit int) ([]AuditEntry, error) {
	if limit <= 0 {
		limit = defaultAuditLimit
	}
	var entries []AuditEntry
	err := s.db.WithContext(ctx).Order("created_at DESC, id DESC").Limit(limit).Find(&entries).Error
	if err != nil {
		return nil, dbError("list audit entries", err)
	}
	return entries, nil
}
