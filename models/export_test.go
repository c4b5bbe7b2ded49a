package models

import "gorm.io/gorm"

// MigrateTo exposes migrateTo so upgrade tests can stop at an older schema.
func MigrateTo(db *gorm.DB, id string) error { return migrateTo(db, id) }

// MigrationIDs lists the migration IDs in the order they run.
func MigrationIDs() []string {
	var ids []string
	for _, m := range migrations() {
		ids = append(ids, m.ID)
	}
	return ids
}
