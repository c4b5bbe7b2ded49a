package models

import "gorm.io/gorm"

// --- 202612020020_users_match_status_index ---

// m0020User indexes users by match outcome, for the list of Confluence users without a
// DingTalk match (UsersWithoutDingTalkMatch) and its count: once most users are matched,
// the few that are not are found without reading the others.
type m0020User struct {
	ID          uint   `gorm:"column:id;primaryKey"`
	MatchStatus string `gorm:"column:match_status;size:16;not null;default:'';index:idx_users_match_status,priority:1"`
	Active      bool   `gorm:"column:active;not null;default:true;index:idx_users_match_status,priority:2"`
}

func (m0020User) TableName() string { return "users" }

func migrate0020UsersMatchStatusIndex(db *gorm.DB) error {
	if db.Migrator().HasIndex(&m0020User{}, "idx_users_match_status") {
		return nil
	}
	return db.Migrator().CreateIndex(&m0020User{}, "idx_users_match_status")
}
