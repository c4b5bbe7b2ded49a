package models

import "gorm.io/gorm"

// --- 202612020500_members_search: dingtalk_users.name_key and search_pending, dingtalk_user_grams ---

// search_pending marks users whose grams the org sync has yet to write (it writes them
// in large batches at the end of a run); the search reads such users directly.

// The Members screen sorts names by name_key (pinyin and numeric order, see nameKeyer)
// and finds substrings through dingtalk_user_grams (see org_search.go). Both are
// binary on purpose: a gram matches only the exact folded bytes (MySQL's PAD SPACE and
// accent-folding collations would merge distinct grams), and sort keys compare bytewise.
func migrate0050MembersSearch(db *gorm.DB) error {
	var stmts []string
	if Dialect(db) == DialectMySQL {
		if !db.Migrator().HasColumn("dingtalk_users", "name_key") {
			stmts = append(stmts,
				"ALTER TABLE dingtalk_users ADD COLUMN name_key VARBINARY(64) NOT NULL DEFAULT '', ADD INDEX idx_dingtalk_users_name_key (name_key, userid)")
		}
		if !db.Migrator().HasColumn("dingtalk_users", "search_pending") {
			stmts = append(stmts,
				"ALTER TABLE dingtalk_users ADD COLUMN search_pending BOOLEAN NOT NULL DEFAULT FALSE, ADD INDEX idx_dingtalk_users_search_pending (search_pending)")
		}
		stmts = append(stmts, `CREATE TABLE IF NOT EXISTS dingtalk_user_grams (
			gram VARBINARY(12) NOT NULL,
			name_key VARBINARY(64) NOT NULL,
			userid VARCHAR(64) NOT NULL,
			PRIMARY KEY (gram, name_key, userid)
		) `+mysqlTableOptions)
	} else {
		if !db.Migrator().HasColumn("dingtalk_users", "name_key") {
			stmts = append(stmts, "ALTER TABLE dingtalk_users ADD COLUMN name_key BLOB NOT NULL DEFAULT X''")
		}
		if !db.Migrator().HasColumn("dingtalk_users", "search_pending") {
			stmts = append(stmts, "ALTER TABLE dingtalk_users ADD COLUMN search_pending BOOLEAN NOT NULL DEFAULT 0")
		}
		stmts = append(stmts,
			"CREATE INDEX IF NOT EXISTS idx_dingtalk_users_name_key ON dingtalk_users (name_key, userid)",
			"CREATE INDEX IF NOT EXISTS idx_dingtalk_users_search_pending ON dingtalk_users (search_pending)",
			`CREATE TABLE IF NOT EXISTS dingtalk_user_grams (
				gram BLOB NOT NULL,
				name_key BLOB NOT NULL,
				userid VARCHAR(64) NOT NULL,
				PRIMARY KEY (gram, name_key, userid)
			) WITHOUT ROWID`)
	}
	for _, stmt := range stmts {
		if err := db.Exec(stmt).Error; err != nil {
			return err
		}
	}
	// Users synced before this migration get their keys and grams now.
	return rebuildMemberSearchIndex(db)
}
