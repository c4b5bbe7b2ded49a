package models

import "gorm.io/gorm"

// --- 202612020020_users_notify_enabled_match_status ---

// m0020User gives users the "Enable?" switch of their DingTalk tab, whether they receive
// notifications, apart from enabled (whether the account may sign in at all): saying No
// to notifications must not lock a person out. It defaults to true, as notifications
// are on for everyone the global switch covers until they opt out.
//
// It also indexes users by match outcome, for the list of Confluence users without a
// DingTalk match (UsersWithoutDingTalkMatch) and its count: once most users are
// matched, the few that are not are found without reading the others.
type m0020User struct {
	ID            uint   `gorm:"column:id;primaryKey"`
	NotifyEnabled bool   `gorm:"column:notify_enabled;not null;default:true"`
	MatchStatus   string `gorm:"column:match_status;size:16;not null;default:'';index:idx_users_match_status,priority:1"`
	Active        bool   `gorm:"column:active;not null;default:true;index:idx_users_match_status,priority:2"`
}

func (m0020User) TableName() string { return "users" }

func migrate0020UsersNotifyEnabledMatchStatus(db *gorm.DB) error {
	if err := addColumns(db, &m0020User{}, "NotifyEnabled"); err != nil {
		return err
	}
	if db.Migrator().HasIndex(&m0020User{}, "idx_users_match_status") {
		return nil
	}
	return db.Migrator().CreateIndex(&m0020User{}, "idx_users_match_status")
}
