package models

import (
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"
)

// --- 202611250005_org_directory: departments, dingtalk_users, department_members, sync_runs ---

type m0005Department struct {
	DeptID   int64     `gorm:"column:dept_id;primaryKey;autoIncrement:false"`
	ParentID int64     `gorm:"column:parent_id;not null;default:0;index:idx_departments_parent_id"`
	Name     string    `gorm:"column:name;size:255;not null;default:''"`
	Order    int64     `gorm:"column:sort_order;not null;default:0"`
	SyncedAt time.Time `gorm:"column:synced_at;not null"`
}

func (m0005Department) TableName() string { return "departments" }

// m0005DingTalkUser carries one index per searched column, because the Members page
// searches by prefix on each of them and must answer within 50 ms at 100,000 users.
// Each is (column, name, userid): a search branch then reads its matches, already
// paired with the sort key, from the index alone (SQLite's indexes hold the rowid, not
// the key, hence userid spelled out). (name, userid) also serves ORDER BY name, userid.
type m0005DingTalkUser struct {
	UserID    string      `gorm:"column:userid;primaryKey;size:64;index:idx_dingtalk_users_name,priority:2;index:idx_dingtalk_users_email,priority:3;index:idx_dingtalk_users_org_email,priority:3;index:idx_dingtalk_users_job_number,priority:3;index:idx_dingtalk_users_mobile,priority:3"`
	UnionID   string      `gorm:"column:unionid;size:64;not null;default:''"`
	Name      m0005NoCase `gorm:"column:name;size:255;not null;default:'';index:idx_dingtalk_users_name,priority:1;index:idx_dingtalk_users_email,priority:2;index:idx_dingtalk_users_org_email,priority:2;index:idx_dingtalk_users_job_number,priority:2;index:idx_dingtalk_users_mobile,priority:2"`
	Email     m0005NoCase `gorm:"column:email;size:255;not null;default:'';index:idx_dingtalk_users_email,priority:1"`
	OrgEmail  m0005NoCase `gorm:"column:org_email;size:255;not null;default:'';index:idx_dingtalk_users_org_email,priority:1"`
	JobNumber m0005NoCase `gorm:"column:job_number;size:64;not null;default:'';index:idx_dingtalk_users_job_number,priority:1"`
	Mobile    m0005NoCase `gorm:"column:mobile;size:64;not null;default:'';index:idx_dingtalk_users_mobile,priority:1"`
	Title     string      `gorm:"column:title;size:255;not null;default:''"`
	Active    bool        `gorm:"column:active;not null;default:true"`
	SyncedAt  time.Time   `gorm:"column:synced_at;not null"`
	CreatedAt time.Time   `gorm:"column:created_at;not null"`
	UpdatedAt time.Time   `gorm:"column:updated_at;not null"`
}

func (m0005DingTalkUser) TableName() string { return "dingtalk_users" }

// m0005NoCase is a searched text column. On SQLite it is declared COLLATE NOCASE so that
// LIKE 'prefix%' (case-insensitive there) can use its index, and equality is
// case-insensitive as it already is under MySQL's utf8mb4_unicode_ci. NOCASE folds ASCII
// only; Chinese text has no case, so nothing is lost.
type m0005NoCase string

func (m0005NoCase) GormDBDataType(db *gorm.DB, f *schema.Field) string {
	if Dialect(db) == DialectSQLite {
		return fmt.Sprintf("varchar(%d) COLLATE NOCASE", f.Size)
	}
	return fmt.Sprintf("varchar(%d)", f.Size)
}

type m0005DepartmentMember struct {
	DeptID int64  `gorm:"column:dept_id;primaryKey;autoIncrement:false"`
	UserID string `gorm:"column:userid;primaryKey;size:64;index:idx_department_members_userid"`
}

func (m0005DepartmentMember) TableName() string { return "department_members" }

type m0005SyncRun struct {
	ID                 uint       `gorm:"column:id;primaryKey"`
	Kind               string     `gorm:"column:kind;size:32;not null;default:'';index:idx_sync_runs_kind_trigger,priority:1"`
	DeptID             int64      `gorm:"column:dept_id;not null;default:0"`
	Trigger            string     `gorm:"column:run_trigger;size:16;not null;default:'';index:idx_sync_runs_kind_trigger,priority:2"`
	Actor              string     `gorm:"column:actor;size:255;not null;default:''"`
	Status             string     `gorm:"column:status;size:16;not null;default:''"`
	DepartmentsSeen    int        `gorm:"column:departments_seen;not null;default:0"`
	DepartmentsChanged int        `gorm:"column:departments_changed;not null;default:0"`
	UsersSeen          int        `gorm:"column:users_seen;not null;default:0"`
	UsersChanged       int        `gorm:"column:users_changed;not null;default:0"`
	UsersDeactivated   int        `gorm:"column:users_deactivated;not null;default:0"`
	MembershipsChanged int        `gorm:"column:memberships_changed;not null;default:0"`
	APICalls           int        `gorm:"column:api_calls;not null;default:0"`
	UnitsTotal         int        `gorm:"column:units_total;not null;default:0"`
	UnitsDone          int        `gorm:"column:units_done;not null;default:0"`
	Errcode            int        `gorm:"column:errcode;not null;default:0"`
	Error              string     `gorm:"column:error;type:text;not null"`
	StartedAt          time.Time  `gorm:"column:started_at;not null"`
	FinishedAt         *time.Time `gorm:"column:finished_at"`
	HeartbeatAt        time.Time  `gorm:"column:heartbeat_at;not null"`
	// ActiveScope is "<kind>:<dept_id>" while the run runs and NULL afterwards; the unique
	// index lets only one run per scope start, across replicas sharing the database
	// (both databases allow any number of NULLs in a unique index).
	ActiveScope *string `gorm:"column:active_scope;size:100;uniqueIndex:idx_sync_runs_active_scope"`
}

func (m0005SyncRun) TableName() string { return "sync_runs" }

func migrate0005OrgDirectory(db *gorm.DB) error {
	if err := createTables(db, &m0005Department{}, &m0005DingTalkUser{}, &m0005DepartmentMember{}, &m0005SyncRun{}); err != nil {
		return err
	}
	if Dialect(db) == DialectSQLite {
		// userid stays case-sensitive (it is the key), but the Members search matches it
		// case-insensitively by prefix, which on SQLite needs a NOCASE index to be fast.
		// MySQL's primary key already compares under the _ci collation.
		return db.Exec("CREATE INDEX IF NOT EXISTS idx_dingtalk_users_userid_nocase ON dingtalk_users (userid COLLATE NOCASE, name)").Error
	}
	return nil
}
