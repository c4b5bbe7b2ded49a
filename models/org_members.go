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

// gramEstimateCap bounds how many index rows of one gram are counted to pick the
// rarest; a search whose rarest gram has no more reads all its candidates at once.
const gramEstimateCap = 1000

// countBudget is how many index rows of its rarest gram a broad search's count reads.
const countBudget = 2000

// maxQueryGrams bounds how many of a long query's grams are looked at; the others are
// checked by LIKE.
const maxQueryGrams = 6

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
	out := MemberPage{Offset: q.Offset}
	var known []int
	if err := s.db.WithContext(ctx).Raw("SELECT 1 FROM users WHERE user_key IS NOT NULL LIMIT 1").Scan(&known).Error; err != nil {
		return MemberPage{}, dbError("look for Confluence users", err)
	}
	out.ConfluenceUsersKnown = len(known) > 0
	var ids []string
	switch {
	case plan.empty:
		return out, nil
	case plan.all != nil:
		ids, out, err = s.searchAll(ctx, q, plan, out)
	case plan.bounded:
		ids, out, err = s.searchBounded(ctx, q, plan, out)
	default:
		ids, out, err = s.searchCounted(ctx, q, plan, out)
	}
	if err != nil {
		return MemberPage{}, err
	}
	if out.Rows, err = s.memberRows(ctx, ids); err != nil {
		return MemberPage{}, err
	}
	return out, nil
}

// searchAll reads every match in order, in one statement, and cuts the page from them.
func (s *Store) searchAll(ctx context.Context, q MemberQuery, plan memberPlan, out MemberPage) ([]string, MemberPage, error) {
	all, err := s.userIDs(ctx, "search members", *plan.all)
	if err != nil {
		return nil, out, err
	}
	out.Total = len(all)
	out.Offset = clampOffset(q.Offset, q.Limit, out.Total)
	return all[out.Offset:min(out.Offset+q.Limit, len(all))], out, nil
}

// searchCounted counts the matches (up to plan.countCap), then reads the page.
func (s *Store) searchCounted(ctx context.Context, q MemberQuery, plan memberPlan, out MemberPage) ([]string, MemberPage, error) {
	var total int64
	if err := s.db.WithContext(ctx).Raw(plan.count.sql, plan.count.args...).Scan(&total).Error; err != nil {
		return nil, out, dbError("count members", err)
	}
	out.Total = int(total)
	out.TotalCapped = plan.countCap > 0 && out.Total >= plan.countCap
	if out.TotalCapped {
		out.Total = plan.countCap - 1
	}
	if out.Total == 0 {
		return nil, out, nil
	}
	if !out.TotalCapped && q.Offset >= out.Total {
		// Past the end (?page=999): show the last page.
		q.Offset = clampOffset(q.Offset, q.Limit, out.Total)
		out.Offset = q.Offset
		var err error
		if plan, err = s.memberQueries(ctx, q); err != nil {
			return nil, out, err
		}
	}
	ids, err := s.userIDs(ctx, "search members", plan.page)
	return ids, out, err
}

// searchBounded reads the page of a search whose rarest gram is common, then counts
// the matches among that gram's first countBudget index rows: a lower bound,
// unless the page itself shows where the matches end.
func (s *Store) searchBounded(ctx context.Context, q MemberQuery, plan memberPlan, out MemberPage) ([]string, MemberPage, error) {
	ids, err := s.userIDs(ctx, "search members", plan.page)
	if err != nil {
		return nil, out, err
	}
	if len(ids) < q.Limit && (len(ids) > 0 || q.Offset == 0) {
		out.Total = q.Offset + len(ids)
		return ids, out, nil
	}
	if len(ids) == 0 {
		// Past the end of a broad search: count all its matches to find the last page.
		var total int64
		if err := s.db.WithContext(ctx).Raw(plan.exactCount.sql, plan.exactCount.args...).Scan(&total).Error; err != nil {
			return nil, out, dbError("count members", err)
		}
		out.Total = int(total)
		if out.Total == 0 {
			return nil, out, nil
		}
		q.Offset = clampOffset(q.Offset, q.Limit, out.Total)
		out.Offset = q.Offset
		if plan, err = s.memberQueries(ctx, q); err != nil {
			return nil, out, err
		}
		ids, err = s.userIDs(ctx, "search members", plan.page)
		return ids, out, err
	}
	var matched int64
	if err := s.db.WithContext(ctx).Raw(plan.count.sql, plan.count.args...).Scan(&matched).Error; err != nil {
		return nil, out, dbError("count members", err)
	}
	out.Total, out.TotalCapped = max(int(matched), q.Offset+len(ids)), true
	if int(matched) >= plan.countCap {
		out.Total = plan.countCap - 1
	}
	return ids, out, nil
}

// clampOffset moves an offset at or past total to the start of the last page.
func clampOffset(offset, limit, total int) int {
	if offset < total || total == 0 {
		return min(offset, max(total, 0))
	}
	return (total - 1) / limit * limit
}

func (s *Store) userIDs(ctx context.Context, step string, q sqlQuery) ([]string, error) {
	var ids []string
	if err := s.db.WithContext(ctx).Raw(q.sql, q.args...).Scan(&ids).Error; err != nil {
		return nil, dbError(step, err)
	}
	return ids, nil
}

// exportBatch is how many members ExportMembers hands over at a time.
const exportBatch = 500

// ExportMembers calls fn with every member matching q (Offset and Limit aside), in q's
// order, a batch at a time, until fn fails or all are handed over.
func (s *Store) ExportMembers(ctx context.Context, q MemberQuery, fn func([]MemberRow) error) error {
	q.Offset, q.Limit = 0, exportBatch
	q = q.normalized()
	plan, err := s.memberQueries(ctx, q)
	if err != nil || plan.empty {
		return err
	}
	var all []string
	if plan.all != nil {
		if all, err = s.userIDs(ctx, "export members", *plan.all); err != nil {
			return err
		}
	}
	for {
		var ids []string
		switch {
		case plan.all != nil:
			ids = all[min(q.Offset, len(all)):min(q.Offset+q.Limit, len(all))]
		default:
			if plan, err = s.memberQueries(ctx, q); err != nil {
				return err
			}
			if ids, err = s.userIDs(ctx, "export members", plan.page); err != nil {
				return err
			}
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

// memberPlan is how SearchMembers answers one query: one of
//   - all: every match in order, when the search's rarest gram is rare enough
//     (gramEstimateCap index rows at most) that reading all its candidates is cheap;
//   - bounded: page, then count as a lower bound (the rarest gram is common, so there
//     may be many matches; exactCount only to find the last page);
//   - page and count (up to countCap): listing everyone, or a short prefix search.
type memberPlan struct {
	page       sqlQuery
	count      sqlQuery
	countCap   int // > 0: count stops there, and reaching it means "more than countCap-1"
	all        *sqlQuery
	bounded    bool
	exactCount sqlQuery
	empty      bool // a gram of the search is in no one's values: nothing matches
}

// memberQueries returns the statements of q (normalized).
func (s *Store) memberQueries(ctx context.Context, q MemberQuery) (memberPlan, error) {
	var plan memberPlan
	// filters are the department and Confluence filters on alias u, with their arguments;
	// gramFilters the same for a walk of the gram index, which probes each candidate's
	// departments rather than collecting a large department's members first.
	filters, gramFilters, filterArgs := "", "", []any(nil)
	if q.DeptID != 0 {
		depts := []int64{q.DeptID}
		if q.Subtree {
			var err error
			if depts, err = s.SubtreeDepartmentIDs(ctx, q.DeptID); err != nil {
				return plan, fmt.Errorf("search members: %w", err)
			}
		}
		filters = " AND u.userid IN (SELECT userid FROM department_members WHERE dept_id IN ?)"
		// A scalar subquery by the userid index: one or two rows per candidate. MariaDB
		// turns an EXISTS into a semi-join, which read the whole department's index per
		// candidate of the page.
		gramFilters = " AND (SELECT 1 FROM department_members dm" + s.indexHint("idx_department_members_userid") +
			" WHERE dm.userid = g.userid AND dm.dept_id IN ? LIMIT 1) IS NOT NULL"
		filterArgs = []any{depts}
	}
	if q.WithoutConfluenceUser {
		// idx_users_dingtalk_user_id makes this one index probe per candidate.
		const unlinked = " AND NOT EXISTS (SELECT 1 FROM users cu WHERE cu.dingtalk_user_id = u.userid)"
		filters += unlinked
		gramFilters += unlinked
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
	pending, err := s.searchPending(ctx)
	if err != nil {
		return plan, err
	}
	if pending {
		// A sync is writing users whose grams are not in the index yet: test every
		// user's values directly until it has written them. Correct, and slower
		// (a scan) only while that lasts.
		plan.page = sqlQuery{"SELECT u.userid FROM dingtalk_users u WHERE 1=1" + contains + filters + order + " LIMIT ? OFFSET ?",
			append(append(slices.Clone(likeArgs), filterArgs...), limit...)}
		plan.count = sqlQuery{"SELECT COUNT(*) FROM (SELECT 1 FROM dingtalk_users u WHERE 1=1" + contains + filters + " LIMIT ?) c",
			append(append(slices.Clone(likeArgs), filterArgs...), plan.countCap)}
		return plan, nil
	}
	ranked, rarest, err := s.rankGrams(ctx, grams)
	if err != nil {
		return plan, err
	}
	if ranked == nil {
		plan.empty = true
		return plan, nil
	}
	// The rarest gram drives; the next two are joined on their primary key (the gram
	// and the user's key: at most one row each), so that LIKE reads the rows of few
	// non-matching users. Joins rather than EXISTS: MariaDB turns an EXISTS into a
	// semi-join and may then scan the whole gram for each candidate.
	var probes string
	var probeArgs []any
	for i, g := range ranked[1:min(len(ranked), 3)] {
		probes += fmt.Sprintf(" %[1]s dingtalk_user_grams p%[2]d ON p%[2]d.gram = ? AND p%[2]d.name_key = g.name_key AND p%[2]d.userid = g.userid", s.forcedJoin(), i)
		probeArgs = append(probeArgs, []byte(g))
	}
	joins := probes + " " + s.forcedJoin() + " dingtalk_users u ON u.userid = g.userid AND u.name_key = g.name_key"
	where := gramFilters + contains
	whereArgs := append(slices.Clone(filterArgs), likeArgs...)
	selectKw := "SELECT "
	if Dialect(s.db) == DialectMySQL {
		// The gram index must be read first and in order; MariaDB otherwise may start
		// from the users table for a broad gram.
		selectKw = "SELECT STRAIGHT_JOIN "
	}
	from := "dingtalk_user_grams g" + joins + " WHERE g.gram = ?"
	args := append(append(slices.Clone(probeArgs), []byte(ranked[0])), whereArgs...)
	pageOrder := order
	if q.Sort == SortByName {
		// The gram rows carry the sort key: the page comes off their index in order.
		pageOrder = orderBy("g", []string{"name_key", "userid"}, q.Desc)
	}
	if rarest <= gramEstimateCap {
		plan.all = &sqlQuery{selectKw + "g.userid FROM " + from + where + pageOrder, args}
		return plan, nil
	}
	plan.bounded = true
	if q.Sort == SortByName {
		plan.page = sqlQuery{selectKw + "g.userid FROM " + from + where + pageOrder + " LIMIT ? OFFSET ?",
			append(slices.Clone(args), limit...)}
	} else {
		// With this many candidates, walking the sort column's index and testing each
		// row finds a page sooner than sorting every candidate.
		plan.page = sqlQuery{"SELECT u.userid FROM dingtalk_users u WHERE 1=1" + contains + filters + order + " LIMIT ? OFFSET ?",
			append(append(slices.Clone(likeArgs), filterArgs...), limit...)}
	}
	// The count reads the driver's first rows only: enough to say "more than 1000" of a
	// broad search, and bounded for a search whose grams are all common but rarely
	// together.
	firstRows := "(SELECT gram, name_key, userid FROM dingtalk_user_grams WHERE gram = ? ORDER BY name_key, userid LIMIT ?) g"
	countArgs := append([]any{[]byte(ranked[0]), countBudget}, probeArgs...)
	countArgs = append(append(countArgs, whereArgs...), plan.countCap)
	plan.count = sqlQuery{"SELECT COUNT(*) FROM (" + selectKw + "1 FROM " + firstRows + joins + " WHERE 1=1" + where + " LIMIT ?) c", countArgs}
	plan.exactCount = sqlQuery{"SELECT COUNT(*) FROM " + from + where, args}
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
func (s *Store) rankGrams(ctx context.Context, grams []string) (ranked []string, rarest int, err error) {
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
		// One more than the cap: reaching it tells "more than the cap" from "exactly".
		parts[i] = fmt.Sprintf("SELECT %d AS i, (SELECT COUNT(*) FROM (SELECT 1 FROM dingtalk_user_grams WHERE gram = ? LIMIT %d) t%d) AS n", i, gramEstimateCap+1, i)
		args = append(args, []byte(g))
	}
	var counts []struct {
		I int `gorm:"column:i"`
		N int `gorm:"column:n"`
	}
	if err := s.db.WithContext(ctx).Raw(strings.Join(parts, " UNION ALL "), args...).Scan(&counts).Error; err != nil {
		return nil, 0, dbError("estimate search grams", err)
	}
	n := make([]int, len(grams))
	for _, c := range counts {
		if c.N == 0 {
			return nil, 0, nil
		}
		n[c.I] = c.N
	}
	order := make([]int, len(grams))
	for i := range order {
		order[i] = i
	}
	// Stable: among equally common grams the query's order decides, for repeatable plans.
	slices.SortStableFunc(order, func(a, b int) int { return n[a] - n[b] })
	ranked = make([]string, len(order))
	for i, o := range order {
		ranked[i] = grams[o]
	}
	return ranked, n[order[0]], nil
}

// indexHint makes a table reference use index.
func (s *Store) indexHint(index string) string {
	if Dialect(s.db) == DialectSQLite {
		return " INDEXED BY " + index
	}
	return " FORCE INDEX (" + index + ")"
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
