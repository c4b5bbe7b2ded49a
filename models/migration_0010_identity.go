package models

import (
	"time"

	"gorm.io/gorm"
)

// --- 202612010010_users_confluence_identity ---

// m0010User gives users their Confluence identity (the user key, unique, NULL for local
// accounts: both databases allow any number of NULLs in a unique index), whether the
// Confluence account is active, and the result of the last match with its reason as a
// code and parameters (see MatchReason), so screens can render it in either language.
//
// No new index on dingtalk_users is needed: email, org_email and job_number each lead an
// index already (migration 0005), and those columns compare case-insensitively (NOCASE
// on SQLite, the _ci collation on MySQL), so equality lookups use them without lower().
type m0010User struct {
	ID           uint    `gorm:"column:id;primaryKey"`
	UserKey      *string `gorm:"column:user_key;size:128;uniqueIndex:idx_users_user_key"`
	Active       bool    `gorm:"column:active;not null;default:true"`
	MatchMethod  string  `gorm:"column:match_method;size:32;not null;default:''"`
	MatchStatus  string  `gorm:"column:match_status;size:16;not null;default:''"`
	MatchReason  string  `gorm:"column:match_reason;size:32;not null;default:''"`
	MatchValue   string  `gorm:"column:match_value;size:255;not null;default:''"`
	MatchCount   int     `gorm:"column:match_count;not null;default:0"`
	MatchErrcode int     `gorm:"column:match_errcode;not null;default:0"`
	MatchErrmsg  string  `gorm:"column:match_errmsg;size:255;not null;default:''"`
}

func (m0010User) TableName() string { return "users" }

func migrate0010UsersConfluenceIdentity(db *gorm.DB) error {
	if err := addColumns(db, &m0010User{}, "UserKey", "Active", "MatchMethod", "MatchStatus", "MatchReason",
		"MatchValue", "MatchCount", "MatchErrcode", "MatchErrmsg"); err != nil {
		return err
	}
	if db.Migrator().HasIndex(&m0010User{}, "idx_users_user_key") {
		return nil
	}
	return db.Migrator().CreateIndex(&m0010User{}, "idx_users_user_key")
}

// --- 202612010011_directory_runs ---

// m0011DirectoryRun records one Confluence directory sync. ActiveSlot is "directory"
// while the run runs and NULL afterwards; its unique index admits one running directory
// sync across all replicas sharing the database.
type m0011DirectoryRun struct {
	ID               uint       `gorm:"column:id;primaryKey"`
	Trigger          string     `gorm:"column:run_trigger;size:16;not null;default:''"`
	Actor            string     `gorm:"column:actor;size:255;not null;default:''"`
	GroupName        string     `gorm:"column:group_name;size:255;not null;default:''"`
	Status           string     `gorm:"column:status;size:16;not null;default:''"`
	UsersSeen        int        `gorm:"column:users_seen;not null;default:0"`
	UsersCreated     int        `gorm:"column:users_created;not null;default:0"`
	UsersUpdated     int        `gorm:"column:users_updated;not null;default:0"`
	UsersDeactivated int        `gorm:"column:users_deactivated;not null;default:0"`
	UsersSkipped     int        `gorm:"column:users_skipped;not null;default:0"`
	MatchesChanged   int        `gorm:"column:matches_changed;not null;default:0"`
	APICalls         int        `gorm:"column:api_calls;not null;default:0"`
	PagesDone        int        `gorm:"column:pages_done;not null;default:0"`
	ExpectedUsers    int        `gorm:"column:expected_users;not null;default:0"`
	HTTPStatus       int        `gorm:"column:http_status;not null;default:0"`
	Error            string     `gorm:"column:error;type:text;not null"`
	StartedAt        time.Time  `gorm:"column:started_at;not null;index:idx_directory_runs_started_at"`
	FinishedAt       *time.Time `gorm:"column:finished_at"`
	HeartbeatAt      time.Time  `gorm:"column:heartbeat_at;not null"`
	ActiveSlot       *string    `gorm:"column:active_slot;size:32;uniqueIndex:idx_directory_runs_active_slot"`
}

func (m0011DirectoryRun) TableName() string { return "directory_runs" }

func migrate0011DirectoryRuns(db *gorm.DB) error {
	return createTables(db, &m0011DirectoryRun{})
}
