package models

import (
	"time"

	"github.com/go-gormigrate/gormigrate/v2"
	"gorm.io/gorm"
	"gorm.io/gorm/schema"
)

// Each migration declares its own frozen copy of the structs it creates or alters. The live
// model types change as the app grows; if migrations used them, re-running an old
// migration on a fresh database would create today's schema and the next migration would
// then fail or, worse, silently do nothing. Never edit a migration once it has shipped:
// add a new one with a later ID.

// migrations returns the schema history in the order it must be applied.
func migrations() []*gormigrate.Migration {
	return []*gormigrate.Migration{
		{ID: "202611250001_initial", Migrate: migrate0001Initial},
		{ID: "202611250002_users_locale_notify_own_changes", Migrate: migrate0002UsersLocaleNotifyOwn},
		{ID: "202611250003_sessions", Migrate: migrate0003Sessions},
		{ID: "202611250004_settings_user_list_and_sync_interval", Migrate: migrate0004SettingsUserListSyncInterval},
		{ID: "202611250005_org_directory", Migrate: migrate0005OrgDirectory},
		{ID: "202611250006_job_locks", Migrate: migrate0006JobLocks},
		{ID: "202611250007_dingtalk_user_activated", Migrate: migrate0007DingTalkUserActivated},
		{ID: "202611250008_sync_runs_departments_unreadable", Migrate: migrate0008SyncRunsDepartmentsUnreadable},
		{ID: "202611250009_audit_address_action_index", Migrate: migrate0009AuditAddressActionIndex},
		{ID: "202611250010_user_session_epoch", Migrate: migrate0010UserSessionEpoch},
		{ID: "202612010010_users_confluence_identity", Migrate: migrate0010UsersConfluenceIdentity},
		{ID: "202612010011_directory_runs", Migrate: migrate0011DirectoryRuns},
		{ID: "202612020001_confluence_settings", Migrate: migrate0012ConfluenceSettings},
		{ID: "202612020020_users_notify_enabled_match_status", Migrate: migrate0020UsersNotifyEnabledMatchStatus},
		{ID: "202612020040_notifications", Migrate: migrate0040Notifications},
		{ID: "202612020101_webhook_arrivals", Migrate: migrate0101WebhookArrivals},
		{ID: "202612020500_members_search", Migrate: migrate0050MembersSearch},
	}
}

// mysqlTableOptions pins the charset and collation so tables do not inherit a latin1 or
// server-specific database default; utf8mb4_unicode_ci exists on both MySQL and MariaDB.
const mysqlTableOptions = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"

// createTables creates each table that does not exist yet, so a migration that failed
// half-way on MySQL (where DDL commits at once) can simply be run again.
func createTables(db *gorm.DB, tables ...any) error {
	if Dialect(db) == DialectMySQL {
		db = db.Set("gorm:table_options", mysqlTableOptions)
	}
	for _, t := range tables {
		if db.Migrator().HasTable(t) {
			continue
		}
		if err := db.Migrator().CreateTable(t); err != nil {
			return err
		}
	}
	return nil
}

// addColumns adds each named field of model whose column does not exist yet.
func addColumns(db *gorm.DB, model any, fields ...string) error {
	for _, f := range fields {
		if db.Migrator().HasColumn(model, f) {
			continue
		}
		if err := db.Migrator().AddColumn(model, f); err != nil {
			return err
		}
	}
	return nil
}

// --- 202611250001_initial: settings, users, audit_log ---

type m0001Settings struct {
	ID                   uint      `gorm:"column:id;primaryKey"`
	AgentID              int64     `gorm:"column:agent_id;not null;default:0"`
	AppKey               string    `gorm:"column:app_key;size:255;not null;default:''"`
	AppSecretSealed      string    `gorm:"column:app_secret_sealed;size:1000;not null;default:''"`
	TokenURL             string    `gorm:"column:token_url;size:500;not null;default:''"`
	SendMessageURL       string    `gorm:"column:send_message_url;size:500;not null;default:''"`
	SubDepartmentURL     string    `gorm:"column:sub_department_url;size:500;not null;default:''"`
	DepartmentDetailURL  string    `gorm:"column:department_detail_url;size:500;not null;default:''"`
	DepartmentUserIDsURL string    `gorm:"column:department_user_ids_url;size:500;not null;default:''"`
	UserProfileURL       string    `gorm:"column:user_profile_url;size:500;not null;default:''"`
	UserByMobileURL      string    `gorm:"column:user_by_mobile_url;size:500;not null;default:''"`
	MatchingMethod       string    `gorm:"column:matching_method;size:32;not null;default:'email'"`
	Enabled              bool      `gorm:"column:enabled;not null;default:false"`
	UpdatedAt            time.Time `gorm:"column:updated_at;not null"`
}

func (m0001Settings) TableName() string { return "settings" }

type m0001User struct {
	ID             uint          `gorm:"column:id;primaryKey"`
	Username       m0001Username `gorm:"column:username;not null;uniqueIndex:idx_users_username"`
	DisplayName    string        `gorm:"column:display_name;size:255;not null;default:''"`
	Email          string        `gorm:"column:email;size:255;not null;default:''"`
	PasswordHash   string        `gorm:"column:password_hash;size:255;not null;default:''"`
	IsAdmin        bool          `gorm:"column:is_admin;not null;default:false"`
	MatchingMethod string        `gorm:"column:matching_method;size:32;not null;default:''"`
	Mobile         string        `gorm:"column:mobile;size:32;not null;default:''"`
	Enabled        bool          `gorm:"column:enabled;not null;default:true"`
	DingTalkUserID string        `gorm:"column:dingtalk_user_id;size:64;not null;default:'';index:idx_users_dingtalk_user_id"`
	MatchedAt      *time.Time    `gorm:"column:matched_at"`
	CreatedAt      time.Time     `gorm:"column:created_at;not null"`
	UpdatedAt      time.Time     `gorm:"column:updated_at;not null"`
}

func (m0001User) TableName() string { return "users" }

// m0001Username makes users.username case-insensitive on SQLite as it already is under
// MySQL's _ci collation, because Confluence usernames are case-insensitive: "Alice" and
// "alice" must be one user on both databases. (SQLite's NOCASE folds ASCII only.)
type m0001Username string

func (m0001Username) GormDBDataType(db *gorm.DB, _ *schema.Field) string {
	if Dialect(db) == DialectSQLite {
		return "varchar(255) COLLATE NOCASE"
	}
	return "varchar(255)"
}

type m0001AuditEntry struct {
	ID        uint      `gorm:"column:id;primaryKey"`
	Actor     string    `gorm:"column:actor;size:255;not null;default:''"`
	Action    string    `gorm:"column:action;size:100;not null;default:''"`
	Details   string    `gorm:"column:details;type:text;not null"`
	CreatedAt time.Time `gorm:"column:created_at;not null;index:idx_audit_log_created_at"`
}

func (m0001AuditEntry) TableName() string { return "audit_log" }

func migrate0001Initial(db *gorm.DB) error {
	return createTables(db, &m0001Settings{}, &m0001User{}, &m0001AuditEntry{})
}

// --- 202611250002_users_locale_notify_own_changes ---

type m0002User struct {
	ID               uint   `gorm:"column:id;primaryKey"`
	Locale           string `gorm:"column:locale;size:16;not null;default:''"`
	NotifyOwnChanges bool   `gorm:"column:notify_own_changes;not null;default:false"`
}

func (m0002User) TableName() string { return "users" }

func migrate0002UsersLocaleNotifyOwn(db *gorm.DB) error {
	return addColumns(db, &m0002User{}, "Locale", "NotifyOwnChanges")
}

// --- 202611250003_sessions ---

// m0003Session is the table github.com/alexedwards/scs/gormstore uses, column for column.
// Creating it here instead of leaving it to gormstore's AutoMigrate puts it under the
// migration lock, so replicas starting together do not race to create it.
type m0003Session struct {
	Token  string    `gorm:"column:token;primaryKey;type:varchar(43)"`
	Data   []byte    `gorm:"column:data"`
	Expiry time.Time `gorm:"column:expiry;index"`
}

func (m0003Session) TableName() string { return "sessions" }

func migrate0003Sessions(db *gorm.DB) error {
	return createTables(db, &m0003Session{})
}

// --- 202611250004_settings_user_list_and_sync_interval ---

// m0004Settings adds the user-details list endpoint (bulk user syncs page through it, 100
// users a call) and the scheduled sync interval. The column defaults fill the existing
// row, so an upgraded installation gets DingTalk's endpoint and an hourly sync.
type m0004Settings struct {
	ID                  uint   `gorm:"column:id;primaryKey"`
	UserListURL         string `gorm:"column:user_list_url;size:500;not null;default:'https://oapi.dingtalk.com/topapi/v2/user/list'"`
	SyncIntervalMinutes int    `gorm:"column:sync_interval_minutes;not null;default:60"`
}

func (m0004Settings) TableName() string { return "settings" }

func migrate0004SettingsUserListSyncInterval(db *gorm.DB) error {
	return addColumns(db, &m0004Settings{}, "UserListURL", "SyncIntervalMinutes")
}

// --- 202611250006_job_locks ---

// m0006JobLock is one lease of the scheduler's per-job lock (package jobs): the replica
// that holds a live lease is the only one running that job.
type m0006JobLock struct {
	Name        string    `gorm:"column:name;size:100;primaryKey"`
	Owner       string    `gorm:"column:owner;size:255;not null;default:''"`
	LockedAt    time.Time `gorm:"column:locked_at;not null"`
	LockedUntil time.Time `gorm:"column:locked_until;not null"`
}

func (m0006JobLock) TableName() string { return "job_locks" }

func migrate0006JobLocks(db *gorm.DB) error {
	return createTables(db, &m0006JobLock{})
}

// --- 202611250007_dingtalk_user_activated ---

// m0007DingTalkUser keeps DingTalk's own "active" flag: whether the member has activated
// DingTalk (未激活 otherwise), as opposed to dingtalk_users.active, which says the member is
// still listed in the organisation. Existing rows count as activated until the next sync
// reads the flag, rather than all showing "not activated" after the upgrade.
type m0007DingTalkUser struct {
	UserID    string `gorm:"column:userid;primaryKey;size:64"`
	Activated bool   `gorm:"column:activated;not null;default:true"`
}

func (m0007DingTalkUser) TableName() string { return "dingtalk_users" }

func migrate0007DingTalkUserActivated(db *gorm.DB) error {
	return addColumns(db, &m0007DingTalkUser{}, "Activated")
}

// --- 202611250008_sync_runs_departments_unreadable ---

// m0008SyncRun counts the departments a run could not read even after retrying them.
type m0008SyncRun struct {
	ID                    uint `gorm:"column:id;primaryKey"`
	DepartmentsUnreadable int  `gorm:"column:departments_unreadable;not null;default:0"`
}

func (m0008SyncRun) TableName() string { return "sync_runs" }

func migrate0008SyncRunsDepartmentsUnreadable(db *gorm.DB) error {
	return addColumns(db, &m0008SyncRun{}, "DepartmentsUnreadable")
}

// --- 202611250009_audit_address_action_index ---

// m0009AuditEntry adds the client address of sign-ins, and the (action, created_at) index
// the audit log screen reads through when it is filtered by action, newest first.
type m0009AuditEntry struct {
	ID        uint      `gorm:"column:id;primaryKey"`
	Action    string    `gorm:"column:action;size:100;not null;default:'';index:idx_audit_log_action_created_at,priority:1"`
	Address   string    `gorm:"column:address;size:64;not null;default:''"`
	CreatedAt time.Time `gorm:"column:created_at;not null;index:idx_audit_log_action_created_at,priority:2"`
}

func (m0009AuditEntry) TableName() string { return "audit_log" }

func migrate0009AuditAddressActionIndex(db *gorm.DB) error {
	if err := addColumns(db, &m0009AuditEntry{}, "Address"); err != nil {
		return err
	}
	const index = "idx_audit_log_action_created_at"
	if db.Migrator().HasIndex(&m0009AuditEntry{}, index) {
		return nil
	}
	return db.Migrator().CreateIndex(&m0009AuditEntry{}, index)
}
