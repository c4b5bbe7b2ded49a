package models

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// ExplainMemberSearch returns the database's query plan of each statement SearchMembers
// runs for q, one string per plan row: SQLite's EXPLAIN QUERY PLAN detail, or MySQL's
// EXPLAIN row as "table=… type=… key=… rows=… extra=…".
func (s *Store) ExplainMemberSearch(ctx context.Context, q MemberQuery) (page, count []string, err error) {
	plan, err := s.memberQueries(ctx, q.normalized())
	if err != nil || plan.empty {
		return nil, nil, err
	}
	pageQ, countQ := plan.page, plan.count
	if plan.all != nil {
		// One statement gives both.
		pageQ, countQ = *plan.all, *plan.all
	}
	if page, err = s.explain(ctx, pageQ); err != nil {
		return nil, nil, err
	}
	if count, err = s.explain(ctx, countQ); err != nil {
		return nil, nil, err
	}
	return page, count, nil
}

func (s *Store) explain(ctx context.Context, q sqlQuery) ([]string, error) {
	prefix := "EXPLAIN QUERY PLAN "
	if Dialect(s.db) == DialectMySQL {
		prefix = "EXPLAIN "
	}
	rows, err := s.db.WithContext(ctx).Raw(prefix+q.sql, q.args...).Rows()
	if err != nil {
		return nil, fmt.Errorf("explain: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var plan []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := map[string]string{}
		for i, c := range cols {
			row[strings.ToLower(c)] = vals[i].String
		}
		if Dialect(s.db) == DialectSQLite {
			plan = append(plan, row["detail"])
			continue
		}
		plan = append(plan, fmt.Sprintf("table=%s type=%s key=%s rows=%s extra=%s",
			row["table"], row["type"], row["key"], row["rows"], row["extra"]))
	}
	return plan, rows.Err()
}
