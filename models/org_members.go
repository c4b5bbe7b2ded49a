package models

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Members page size bounds.
const (
	defaultMemberLimit = 50
	maxMemberLimit     = 500
)

// MemberQuery selects a page of DingTalk users for the Members screen.
type MemberQuery struct {
	// Search matches, case-insensitively, the start of a user's name, email, org email,
	// job number, mobile or userid. Empty lists everyone.
	Search string
	DeptID int64 // 0 = all departments
	// Subtree widens DeptID to the departments below it.
	Subtree bool
	Offset  int
	Limit   int // <= 0 means 50; at most 500

	// WithoutConfluenceUser keeps only the DingTalk users no Confluence user is matched
	// to (no users row carries their userid).
	WithoutConfluenceUser bool
}

// MemberRow is one DingTalk user with the Confluence user matched to them.
type MemberRow struct {
	DingTalkUser
	// Username is the Confluence user whose dingtalk_user_id is this userid, "" if none.
	Username string
}

// MemberPage is one page of a member search and the number of matches in all pages.
type MemberPage struct {
	Rows  []MemberRow
	Total int
}

// SearchMembers returns the page of users matching q, ordered by name, userid.
//
// It is built to stay fast at 100,000 users on both databases: the search is a prefix
// match (LIKE 'x%'), which both use as an index range, never a leading-wildcard scan.
// The page is the union of one small "top offset+limit by name" query per searched
// column, so each database picks, per column, an index range or an ordered walk of the
// name index, whichever is cheaper; an OR over all columns with ORDER BY name made
// MariaDB walk the whole name index for common prefixes. The total is a COUNT over the
// OR, where both databases combine the indexes or, for very broad prefixes, scan once.
func (s *Store) SearchMembers(ctx context.Context, q MemberQuery) (MemberPage, error) {
	page, count, err := s.memberQueries(ctx, q)
	if err != nil {
		return MemberPage{}, err
	}
	db := s.db.WithContext(ctx)
	var total int64
	if err := db.Raw(count.sql, count.args...).Scan(&total).Error; err != nil {
		return MemberPage{}, dbError("count members", err)
	}
	var ids []string
	if err := db.Raw(page.sql, page.args...).Scan(&ids).Error; err != nil {
		return MemberPage{}, dbError("search members", err)
	}
	rows, err := s.memberRows(ctx, ids)
	if err != nil {
		return MemberPage{}, err
	}
	return MemberPage{Rows: rows, Total: int(total)}, nil
}

// sqlQuery is a statement with its arguments.
type sqlQuery struct {
	sql  string
	args []any
}

// memberQueries returns the statement selecting the userids of q's page, in order, and
// the one counting all matches.
func (s *Store) memberQueries(ctx context.Context, q MemberQuery) (page, count sqlQuery, err error) {
	if q.Limit <= 0 {
		q.Limit = defaultMemberLimit
	}
	q.Limit = min(q.Limit, maxMemberLimit)
	q.Offset = max(q.Offset, 0)

	// inDept is the department filter added to each query, with its arguments.
	inDept, deptArgs := "", []any(nil)
	if q.DeptID != 0 {
		depts := []int64{q.DeptID}
		if q.Subtree {
			if depts, err = s.SubtreeDepartmentIDs(ctx, q.DeptID); err != nil {
				return page, count, fmt.Errorf("search members: %w", err)
			}
		}
		inDept = " AND userid IN (SELECT userid FROM department_members WHERE dept_id IN ?)"
		deptArgs = []any{depts}
	}
	if q.WithoutConfluenceUser {
		// idx_users_dingtalk_user_id makes this one index probe per candidate.
		inDept += withoutConfluenceUser
	}

	search := strings.TrimSpace(q.Search)
	if search == "" {
		page.sql = "SELECT userid FROM dingtalk_users WHERE 1=1" + inDept + " ORDER BY name, userid LIMIT ? OFFSET ?"
		page.args = append(slices.Clone(deptArgs), q.Limit, q.Offset)
		count.sql = "SELECT COUNT(*) FROM dingtalk_users WHERE 1=1" + inDept
		count.args = deptArgs
		return page, count, nil
	}
	// The columns a search matches by prefix. Each leads an index of its own that also
	// carries name (migration 0005), so each branch of the search is an index range that
	// yields (name, userid) without reading rows.
	columns := []string{"name", "email", "org_email", "job_number", "mobile", "userid"}
	pattern := likePrefix(search)
	branches := make([]string, len(columns))
	likes := make([]string, len(columns))
	for i, col := range columns {
		likes[i] = col + " LIKE ? ESCAPE '!'"
		// SQLite accepts ORDER BY and LIMIT in a compound member only inside a subquery.
		branches[i] = fmt.Sprintf(
			"SELECT * FROM (SELECT name, userid FROM dingtalk_users WHERE %s%s ORDER BY name, userid LIMIT ?) b%d",
			likes[i], inDept, i)
		page.args = append(page.args, pattern)
		page.args = append(page.args, deptArgs...)
		page.args = append(page.args, q.Offset+q.Limit)
		count.args = append(count.args, pattern)
	}
	page.sql = "SELECT userid FROM (" + strings.Join(branches, " UNION ") + ") m ORDER BY name, userid LIMIT ? OFFSET ?"
	page.args = append(page.args, q.Limit, q.Offset)
	count.sql = "SELECT COUNT(*) FROM dingtalk_users WHERE (" + strings.Join(likes, " OR ") + ")" + inDept
	count.args = append(count.args, deptArgs...)
	return page, count, nil
}

// withoutConfluenceUser is the filter of MemberQuery.WithoutConfluenceUser: the same
// link memberRows shows as the Username column.
const withoutConfluenceUser = " AND NOT EXISTS (SELECT 1 FROM users cu WHERE cu.dingtalk_user_id = dingtalk_users.userid)"

// memberRows loads the users ids, in that order, with their matched Confluence usernames.
func (s *Store) memberRows(ctx context.Context, ids []string) ([]MemberRow, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	db := s.db.WithContext(ctx)
	var users []DingTalkUser
	if err := db.Where("userid IN ?", ids).Find(&users).Error; err != nil {
		return nil, dbError("load members", err)
	}
	var matches []struct {
		DingTalkUserID string `gorm:"column:dingtalk_user_id"`
		Username       string `gorm:"column:username"`
	}
	err := db.Model(&User{}).Select("dingtalk_user_id, username").
		Where("dingtalk_user_id IN ?", ids).Order("username").Scan(&matches).Error
	if err != nil {
		return nil, dbError("load matched users", err)
	}
	byID := make(map[string]DingTalkUser, len(users))
	for _, u := range users {
		byID[u.UserID] = u
	}
	usernames := make(map[string]string, len(matches))
	for _, m := range matches {
		// Should two Confluence users match one DingTalk user, show the first by name.
		if _, ok := usernames[m.DingTalkUserID]; !ok {
			usernames[m.DingTalkUserID] = m.Username
		}
	}
	rows := make([]MemberRow, 0, len(ids))
	for _, id := range ids {
		if u, ok := byID[id]; ok {
			rows = append(rows, MemberRow{DingTalkUser: u, Username: usernames[id]})
		}
	}
	return rows, nil
}

// likePrefix turns user input into a LIKE pattern matching values that start with it,
// with LIKE's wildcards (and '!', the escape character) taken literally.
func likePrefix(s string) string {
	r := strings.NewReplacer("!", "!!", "%", "!%", "_", "!_")
	return r.Replace(s) + "%"
}
