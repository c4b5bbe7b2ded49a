package models

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
)

// defaultAuditLimit is how many entries a page of the audit log holds when asked for none.
const defaultAuditLimit = 50

// maxAuditLimit bounds one page, so a crafted query cannot read the whole table at once.
const maxAuditLimit = 500

// Column sizes of audit_log (migrations 0001 and 0007); AuditEntry values are cut to them.
const (
	auditActorMax   = 255
	auditAddressMax = 64
)

// AuditAction names what an audit entry records.
type AuditAction string

// The audit actions. The strings are stored, so they never change once shipped.
const (
	// ActionSignIn is a successful sign-in; Details names the method.
	ActionSignIn AuditAction = "auth.signin"
	// ActionSignInFailed is a refused sign-in; Actor is the username attempted.
	ActionSignInFailed AuditAction = "auth.signin_failed"
	// ActionSettingsUpdate is a save of the DingTalk settings; Details names the changed fields.
	ActionSettingsUpdate AuditAction = "settings.update"
	// ActionSettingsTest is a Test connection; Details says how it went.
	ActionSettingsTest AuditAction = "settings.test"
	// ActionSyncStart is an org sync started by a person.
	ActionSyncStart AuditAction = "sync.start"
	// ActionConfluenceUpdate is a save of the Confluence connection; Details names the changed fields.
	ActionConfluenceUpdate AuditAction = "confluence.update"
	// ActionConfluenceTest is a Test connection against Confluence; Details says how it went.
	ActionConfluenceTest AuditAction = "confluence.test"
	// ActionDirectorySyncStart is a Confluence user directory sync started by a person.
	ActionDirectorySyncStart AuditAction = "directory.sync_start"
	// ActionTestMessage is a Send test message to a person's own DingTalk account; Details
	// says how it went.
	ActionTestMessage AuditAction = "dingtalk.test_message"
	// ActionWebhookSecret is a new Confluence webhook secret generated; never its value.
	ActionWebhookSecret AuditAction = "confluence.webhook_secret"
	// ActionDeliveryRetry is a dead or unknown delivery sent back to pending on the
	// Deliveries screen; Details names it and the state it was in.
	ActionDeliveryRetry AuditAction = "delivery.retry"
)

// AuditActions lists every action, in the order the audit log's filter offers them.
func AuditActions() []AuditAction {
	return []AuditAction{ActionSignIn, ActionSignInFailed, ActionSettingsUpdate, ActionSettingsTest, ActionSyncStart,
		ActionConfluenceUpdate, ActionConfluenceTest, ActionDirectorySyncStart, ActionTestMessage, ActionWebhookSecret, ActionDeliveryRetry}
}

// Known reports whether a is one of AuditActions.
func (a AuditAction) Known() bool {
	for _, k := range AuditActions() {
		if a == k {
			return true
		}
	}
	return false
}

// AuditEntry records who changed settings, signed in or triggered an action; Details never
// holds secrets.
type AuditEntry struct {
	ID     uint        `gorm:"column:id;primaryKey"`
	Actor  string      `gorm:"column:actor"`
	Action AuditAction `gorm:"column:action"`
	// Address is the client address the request came from, "" when none applies.
	Address   string    `gorm:"column:address"`
	Details   string    `gorm:"column:details"`
	CreatedAt time.Time `gorm:"column:created_at"`
}

// TableName implements gorm's tabler.
func (AuditEntry) TableName() string { return "audit_log" }

// Audit records e; its ID and CreatedAt are filled in.
func (s *Store) Audit(ctx context.Context, e AuditEntry) error {
	return audit(s.db.WithContext(ctx), e)
}

// audit writes an entry on db, which may be a transaction the audited change runs in. Actor
// and Address are cut to their columns, so an overlong value (a username attempted at
// sign-in) is shortened rather than failing the write on MySQL.
func audit(db *gorm.DB, e AuditEntry) error {
	e.ID = 0
	e.Actor = TruncateRunes(e.Actor, auditActorMax)
	e.Address = TruncateRunes(e.Address, auditAddressMax)
	return dbError("write audit entry", db.Create(&e).Error)
}

// TruncateRunes returns s cut to at most max characters, ending in "…" when cut, and with
// invalid UTF-8 replaced so the result is always valid text.
func TruncateRunes(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}

// RecentAudit returns the newest limit entries, newest first (limit <= 0 means 50).
func (s *Store) RecentAudit(ctx context.Context, limit int) ([]AuditEntry, error) {
	page, err := s.AuditPage(ctx, AuditQuery{Limit: limit})
	return page.Entries, err
}

// AuditQuery selects one page of the audit log.
type AuditQuery struct {
	// Action keeps only entries of this action; "" keeps all.
	Action AuditAction
	Offset int
	Limit  int // <= 0 means 50; at most 500
}

// AuditPage is one page of the audit log, newest first, and the number of entries the
// query matches over all pages.
type AuditPage struct {
	Entries []AuditEntry
	Total   int
}

// AuditPage answers q: the matching entries, newest first. Filtering by action uses the
// (action, created_at) index, which also yields the order.
func (s *Store) AuditPage(ctx context.Context, q AuditQuery) (AuditPage, error) {
	if q.Limit <= 0 {
		q.Limit = defaultAuditLimit
	}
	q.Limit = min(q.Limit, maxAuditLimit)
	q.Offset = max(q.Offset, 0)
	base := s.db.WithContext(ctx).Model(&AuditEntry{})
	if q.Action != "" {
		base = base.Where("action = ?", q.Action)
	}
	var total int64
	if err := base.Session(&gorm.Session{}).Count(&total).Error; err != nil {
		return AuditPage{}, dbError("count audit entries", err)
	}
	var entries []AuditEntry
	err := base.Session(&gorm.Session{}).Order("created_at DESC, id DESC").Offset(q.Offset).Limit(q.Limit).Find(&entries).Error
	if err != nil {
		return AuditPage{}, dbError("list audit entries", err)
	}
	return AuditPage{Entries: entries, Total: int(total)}, nil
}
