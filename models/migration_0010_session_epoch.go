package models

import "gorm.io/gorm"

// --- 202611250010_user_session_epoch ---

// m0010SessionEpochUser adds the session epoch: a password change moves it on, and a session that
// signed in under another epoch is refused, so a break-glass reset signs everybody who
// held the old password out. Existing rows start at 0, as do sessions made before this
// column existed, so upgrading signs nobody out.
type m0010SessionEpochUser struct {
	ID           uint  `gorm:"column:id;primaryKey"`
	SessionEpoch int64 `gorm:"column:session_epoch;not null;default:0"`
}

func (m0010SessionEpochUser) TableName() string { return "users" }

func migrate0010UserSessionEpoch(db *gorm.DB) error {
	return addColumns(db, &m0010SessionEpochUser{}, "SessionEpoch")
}
