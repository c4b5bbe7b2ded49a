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

// MemberCountCap is how many matches a search counts before it stops and reports "more
// than this many" (MemberPage.TotalCapped): counting 12,500 matches of "wang" exactly
// would cost more than finding the page. Listing everyone, or a department, is counted
// exactly.
const MemberCountCap = 1000

// gramEstimateCap bounds how many index rows of one gram are counted to pick the rarest.
const gramEstimateCap = 2000

// maxQueryGrams bounds how many of a long query's grams are looked at; the others are
// checked by LIKE.
const maxQueryGrams = 8

// MemberSort is a column the Members screen sorts by.
type MemberSort string

// Member sort columns.
const (
	SortByName      MemberSort = "name" // pinyin and numeric order (name_key)
	SortByEmail     MemberSort = "email"
	SortByJobNumber MemberSort = "job_number"
	SortByMobile    MemberSort = "mobile"
	SortByUserID    MemberSort = "userid"
)

// MemberSorts lists the sortable columns.
func MemberSorts() []MemberSort {
	return []MemberSort{SortByName, SortByEmail, SortByJobNumber, SortByMobile, SortByUserID}
}

// Valid reports whether s is one of MemberSorts.
func (s MemberSort) Valid() bool { return slices.Contains(MemberSorts(), s) }

// orderColumns are the columns a listing sorted by s orders by, ties last: each
// column's own index (col, name, userid) yields them in that order.
func (s MemberSort) orderColumns() []string {
	switch s {
	case SortByEmail, SortByJobNumber, SortByMobile:
		return []string{string(s), "name", "userid"}
	case SortByUserID:
		return []string{"userid"}
	}
	return []string{"name_key", "userid"}
}

// MemberQuery selects a page of DingTalk users for the Members screen.
type MemberQuery struct {
	// Search matches, case-insensitively (ASCII), any part of a user's name, email, org
	// email, job number, mobile or userid; a search of one or two ASCII characters
	// matches their start only. Empty lists everyone.
	Search string
	DeptID int64 // 0 = all departments
	// Subtree widens DeptID to the departments below it.
	Subtree bool
	Sort    MemberSort // "" means SortByName
	Desc    bool
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
	// TotalCapped says Total is a lower bound: a search stopped counting there.
	TotalCapped bool
	// Offset is where the page starts: the query's, or the last page's when the query
	// asked for a page past the end.
	Offset int
	// ConfluenceUsersKnown says some Confluence user is stored (a directory sync or a
	// sign-in brought one): until then no member can show a username.
	ConfluenceUsersKnown bool
}

// SearchMembers returns the page of users matching q in q's order. An offset past the
// last match returns the last page instead (MemberPage.Offset says which).
//
// It is built to stay fast at 100,000 users on both databases; see org_search.go for
// the substring index and memberQueries for the statements.
func (s *Store) SearchMembers(ctx context.Context, q MemberQuery) (MemberPage, error) {
	q = q.normalized()
	plan, err := s.memberQueries(ctx, q)
	if err != nil {
		return MemberPage{}, err
	}
	db := s.db.WithContext(ctx)
	out := MemberPage{Offset: q.Offset}
	var known []int
	if err := db.Raw("SELECT 1 FROM users WHERE user_key IS NOT NULL LIMIT 1").Scan(&known).Error; err != nil {
		return MemberPage{}, dbError("look for Confluence users", err)
	}
	out.ConfluenceUsersKnown = len(known) > 0
	if plan.empty {
		return out, nil
	}
	var total int64
	if err := db.Raw(plan.count.sql, plan.count.args...).Scan(&total).Error; err != nil {
		return MemberPage{}, dbError("count members", err)
	}
	out.Total = int(total)
	out.TotalCapped = plan.countCap > 0 && out.Total >= plan.countCap
	if out.TotalCapped {
		out.Total = plan.countCap - 1
	}
	if !out.TotalCapped && q.Offset > 0 && q.Offset >= out.Total {
		// Past the end (?page=999): show the last page.
		q.Offset = max(0, (out.Total-1)/q.Limit*q.Limit)
		out.Offset = q.Offset
		if plan, err = s.memberQueries(ctx, q); err != nil {
			return MemberPage{}, err
		}
	}
	if out.Total == 0 {
		return out, nil
	}
	if plan.broad != nil && out.TotalCapped {
		plan.page = *plan.broad
	}
	var ids []string
	if err := db.Raw(plan.page.sql, plan.page.args...).Scan(&ids).Error; err != nil {
		return MemberPage{}, dbError("search members", err)
	}
	if out.Rows, err = s.memberRows(ctx, ids); err != nil {
		return MemberPage{}, err
	}
	return out, nil
}

// exportBatch is how many members ExportMembers hands over at a time.
const exportBatch = 500

// ExportMembers calls fn with every member matching q (Offset and Limit aside), in q's
// order, a batch at a time, until fn fails or all are handed over.
func (s *Store) ExportMembers(ctx context.Context, q MemberQuery, fn func([]MemberRow) error) error {
	q.Offset, q.Limit = 0, exportBatch
	q = q.normalized()
	for {
		plan, err := s.memberQueries(ctx, q)
		if err != nil || plan.empty {
			return err
		}
		page := plan.page
		if plan.broad != nil {
			page = *plan.broad // the export reads every match: the sort column's index in order
		}
		var ids []string
		if err := s.db.WithContext(ctx).Raw(page.sql, page.args...).Scan(&ids).Error; err != nil {
			return dbError("export members", err)
		}
		rows, err := s.memberRows(ctx, ids)
		if err != nil {
			return err
		}
		if len(rows) > 0 {
			if err := fn(rows); err != nil {
				return err
			}
		}
		if len(ids) < q.Limit {
			return nil
		}
		q.Offset += q.Limit
	}
}

func (q MemberQuery) normalized() MemberQuery {
	if q.Limit <= 0 {
		q.Limit = defaultMemberLimit
	}
	q.Limit = min(q.Limit, maxMemberLimit)
	q.Offset = max(q.Offset, 0)
	if !q.Sort.Valid() {
		q.Sort = SortByName
	}
	q.Search = strings.TrimSpace(q.Search)
	return q
}

// sqlQuery is a statement with its arguments.
type sqlQuery struct {
	sql  string
	args []any
}

// memberPlan is how SearchMembers answers one query.
type memberPlan struct {
	page  sqlQuery // the userids of the page, in order
	count sqlQuery // the number of matches, up to countCap
	// countCap, when > 0, is the LIMIT count stops at: reaching it means "at least
	// countCap-1" (counting one more tells "exactly the cap" from "more").
	countCap int
	// broad, when set, replaces page once the count reaches its cap: with that many
	// matches, walking the sort column's index and testing each row finds a page sooner
	// than sorting every candidate the grams yield.
	broad *sqlQuery
	empty bool // a gram of the search is in no one's values: nothing matches
}

// memberQueries returns the statements of q (normalized).
func (s *Store) memberQueries(ctx context.Context, q MemberQuery) (memberPlan, error) {
	var plan memberPlan
	// filters are the department and Confluence filters on alias u, with their arguments.
	filters, filterArgs := "", []any(nil)
	if q.DeptID != 0 {
		depts := []int64{q.DeptID}
		if q.Subtree {
			var err error
			if depts, err = s.SubtreeDepartmentIDs(ctx, q.DeptID); err != nil {
				return plan, fmt.Errorf("search members: %w", err)
			}
		}
		filters = " AND u.userid IN (SELECT userid FROM department_members WHERE dept_id IN ?)"
		filterArgs = []any{depts}
	}
	if q.WithoutConfluenceUser {
		// idx_users_dingtalk_user_id makes this one index probe per candidate.
		filters += " AND NOT EXISTS (SELECT 1 FROM users cu WHERE cu.dingtalk_user_id = u.userid)"
	}
	order := orderBy("u", q.Sort.orderColumns(), q.Desc)
	limit := []any{q.Limit, q.Offset}

	if q.Search == "" {
		plan.page = sqlQuery{
			"SELECT u.userid FROM dingtalk_users u WHERE 1=1" + filters + order + " LIMIT ? OFFSET ?",
			append(slices.Clone(filterArgs), limit...),
		}
		plan.count = sqlQuery{"SELECT COUNT(*) FROM dingtalk_users u WHERE 1=1" + filters, filterArgs}
		return plan, nil
	}

	plan.countCap = max(MemberCountCap, q.Offset+q.Limit) + 1
	// contains is the exact test on the real columns, whatever narrowed the candidates.
	pattern := likeContains(q.Search)
	columns := []string{"name", "email", "org_email", "job_number", "mobile", "userid"}
	likes := make([]string, len(columns))
	var likeArgs []any
	for i, col := range columns {
		likes[i] = "u." + col + " LIKE ? ESCAPE '!'"
		likeArgs = append(likeArgs, pattern)
	}
	contains := " AND (" + strings.Join(likes, " OR ") + ")"

	grams := queryGrams(q.Search)
	if grams == nil {
		return s.prefixPlan(q, plan, filters, filterArgs), nil
	}
	ranked, err := s.rankGrams(ctx, grams)
	if err != nil {
		return plan, err
	}
	if ranked == nil {
		plan.empty = true
		return plan, nil
	}
	// The rarest gram drives; the next two are checked on the index alone (a primary
	// key probe each), so that LIKE reads the rows of few non-matching users.
	from := "dingtalk_user_grams g " + s.forcedJoin() + " dingtalk_users u ON u.userid = g.userid AND u.name_key = g.name_key"
	where := " WHERE g.gram = ?"
	args := []any{[]byte(ranked[0])}
	for _, g := range ranked[1:min(len(ranked), 3)] {
		where += " AND EXISTS (SELECT 1 FROM dingtalk_user_grams p WHERE p.gram = ? AND p.name_key = g.name_key AND p.userid = g.userid)"
		args = append(args, []byte(g))
	}
	where += contains + filters
	args = append(append(args, likeArgs...), filterArgs...)
	selectKw := "SELECT "
	if Dialect(s.db) == DialectMySQL {
		// The gram index must be read first and in order; MariaDB otherwise may start
		// from the users table for a broad gram.
		selectKw = "SELECT STRAIGHT_JOIN "
	}
	pageOrder := order
	if q.Sort == SortByName {
		// The gram rows carry the sort key: the page comes off their index in order.
		pageOrder = orderBy("g", []string{"name_key", "userid"}, q.Desc)
	}
	plan.page = sqlQuery{selectKw + "g.userid FROM " + from + where + pageOrder + " LIMIT ? OFFSET ?", append(slices.Clone(args), limit...)}
	plan.count = sqlQuery{"SELECT COUNT(*) FROM (" + selectKw + "1 FROM " + from + where + " LIMIT ?) c", append(slices.Clone(args), plan.countCap)}
	if q.Sort != SortByName {
		plan.broad = &sqlQuery{
			"SELECT u.userid FROM dingtalk_users u WHERE 1=1" + contains + filters + order + " LIMIT ? OFFSET ?",
			append(append(slices.Clone(likeArgs), filterArgs...), limit...),
		}
	}
	return plan, nil
}

// prefixPlan is the search of a query too short for the gram index: values that start
// with it. The page is the union of one small "top offset+limit in order" query per
// column, so each database picks, per column, an index range or an ordered walk of the
// sort index, whichever is cheaper; an OR over all columns with ORDER BY made MariaDB
// walk the whole name index for common prefixes.
func (s *Store) prefixPlan(q MemberQuery, plan memberPlan, filters string, filterArgs []any) memberPlan {
	cols := q.Sort.orderColumns()
	pattern := likePrefix(q.Search)
	columns := []string{"name", "email", "org_email", "job_number", "mobile", "userid"}
	branches := make([]string, len(columns))
	likes := make([]string, len(columns))
	var countArgs []any
	for i, col := range columns {
		likes[i] = "u." + col + " LIKE ? ESCAPE '!'"
		// SQLite accepts ORDER BY and LIMIT in a compound member only inside a subquery.
		branches[i] = fmt.Sprintf("SELECT * FROM (SELECT %s FROM dingtalk_users u WHERE %s%s%s LIMIT ?) b%d",
			"u."+strings.Join(cols, ", u."), likes[i], filters, orderBy("u", cols, q.Desc), i)
		plan.page.args = append(plan.page.args, pattern)
		plan.page.args = append(plan.page.args, filterArgs...)
		plan.page.args = append(plan.page.args, q.Offset+q.Limit)
		countArgs = append(countArgs, pattern)
	}
	plan.page.sql = "SELECT userid FROM (" + strings.Join(branches, " UNION ") + ") m" + orderBy("", cols, q.Desc) + " LIMIT ? OFFSET ?"
	plan.page.args = append(plan.page.args, q.Limit, q.Offset)
	plan.count = sqlQuery{
		"SELECT COUNT(*) FROM (SELECT 1 FROM dingtalk_users u WHERE (" + strings.Join(likes, " OR ") + ")" + filters + " LIMIT ?) c",
		append(append(countArgs, filterArgs...), plan.countCap),
	}
	return plan
}

// rankGrams returns grams (at most maxQueryGrams of them, spread over the query) from
// the rarest to the most common, or nil when one of them is in no one's values. Each is
// counted only up to gramEstimateCap index rows, in one statement.
func (s *Store) rankGrams(ctx context.Context, grams []string) ([]string, error) {
	if len(grams) > maxQueryGrams {
		picked := make([]string, 0, maxQueryGrams)
		for i := range maxQueryGrams {
			picked = append(picked, grams[i*(len(grams)-1)/(maxQueryGrams-1)])
		}
		grams = picked
	}
	parts := make([]string, len(grams))
	var args []any
	for i, g := range grams {
		parts[i] = fmt.Sprintf("SELECT %d AS i, (SELECT COUNT(*) FROM (SELECT 1 FROM dingtalk_user_grams WHERE gram = ? LIMIT %d) t%d) AS n", i, gramEstimateCap, i)
		args = append(args, []byte(g))
	}
	var counts []struct {
		I int `gorm:"column:i"`
		N int `gorm:"column:n"`
	}
	if err := s.db.WithContext(ctx).Raw(strings.Join(parts, " UNION ALL "), args...).Scan(&counts).Error; err != nil {
		return nil, dbError("estimate search grams", err)
	}
	n := make([]int, len(grams))
	for _, c := range counts {
		if c.N == 0 {
			return nil, nil
		}
		n[c.I] = c.N
	}
	order := make([]int, len(grams))
	for i := range order {
		order[i] = i
	}
	// Stable: among equally common grams the query's order decides, for repeatable plans.
	slices.SortStableFunc(order, func(a, b int) int { return n[a] - n[b] })
	ranked := make([]string, len(order))
	for i, o := range order {
		ranked[i] = grams[o]
	}
	return ranked, nil
}

// forcedJoin is the inner join that keeps the gram index as the outer loop (SQLite's
// CROSS JOIN; MySQL's order is forced by SELECT STRAIGHT_JOIN).
func (s *Store) forcedJoin() string {
	if Dialect(s.db) == DialectSQLite {
		return "CROSS JOIN"
	}
	return "JOIN"
}

// orderBy is the ORDER BY clause over cols of alias (none when ""), all ascending or all
// descending.
func orderBy(alias string, cols []string, desc bool) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		if alias != "" {
			c = alias + "." + c
		}
		if desc {
			c += " DESC"
		}
		parts[i] = c
	}
	return " ORDER BY " + strings.Join(parts, ", ")
}

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

// likeLiteral takes LIKE's wildcards (and '!', the escape character) in s literally.
func likeLiteral(s string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(s)
}

// likePrefix turns user input into a LIKE pattern matching values that start with it.
func likePrefix(s string) string { return likeLiteral(s) + "%" }

// likeContains turns user input into a LIKE pattern matching values that contain it.
func likeContains(s string) string { return "%" + likeLiteral(s) + "%" }
