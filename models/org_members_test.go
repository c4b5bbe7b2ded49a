package models_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/models/modelstest"
)

func TestSearchMembers(t *testing.T) {
	users := []models.DingTalkUser{
		{UserID: "u1", Name: "Alice Wang", Email: "alice@acme.example", OrgEmail: "aw@corp.example", JobNumber: "E100", Mobile: "13800000001", Active: true},
		{UserID: "u2", Name: "Bob Li", Email: "bob@acme.example", JobNumber: "E200", Mobile: "13900000002", Active: true},
		{UserID: "u3", Name: "a_b", Active: true},
		{UserID: "u4", Name: "axb", Active: false},
		{UserID: "manager42", Name: "王伟", Email: "wangwei@acme.example", Active: true},
		{UserID: "x100", Name: "100% Carol", Active: true},
	}
	tests := []struct {
		name      string
		q         models.MemberQuery
		wantIDs   []string // in page order
		wantTotal int
	}{
		{"everyone, by name", models.MemberQuery{}, []string{"x100", "u3", "u1", "u4", "u2", "manager42"}, 6},
		{"name prefix, any case", models.MemberQuery{Search: "aLI"}, []string{"u1"}, 1},
		{"email prefix", models.MemberQuery{Search: "BOB@acme"}, []string{"u2"}, 1},
		{"org email prefix", models.MemberQuery{Search: "aw@"}, []string{"u1"}, 1},
		{"job number", models.MemberQuery{Search: "e2"}, []string{"u2"}, 1},
		{"mobile", models.MemberQuery{Search: "1380"}, []string{"u1"}, 1},
		{"userid, any case", models.MemberQuery{Search: "MANAGER"}, []string{"manager42"}, 1},
		{"Chinese name", models.MemberQuery{Search: "王"}, []string{"manager42"}, 1},
		{"a user matching in two columns is listed once", models.MemberQuery{Search: "wang"}, []string{"manager42"}, 1},
		{"prefix only, not infix", models.MemberQuery{Search: "Wang"}, []string{"manager42"}, 1},
		{"underscore is literal", models.MemberQuery{Search: "a_"}, []string{"u3"}, 1},
		{"percent is literal", models.MemberQuery{Search: "100%"}, []string{"x100"}, 1},
		{"a lone percent matches nothing", models.MemberQuery{Search: "%"}, nil, 0},
		{"surrounding blanks are ignored", models.MemberQuery{Search: "  bob "}, []string{"u2"}, 1},
		{"nothing matches", models.MemberQuery{Search: "zzz"}, nil, 0},
		{"paging", models.MemberQuery{Offset: 2, Limit: 2}, []string{"u1", "u4"}, 6},
		{"paging a search", models.MemberQuery{Search: "a", Offset: 1, Limit: 1}, []string{"u1"}, 3},
		{"one department", models.MemberQuery{DeptID: 2}, []string{"u1", "u2"}, 2},
		{"a department and its subtree", models.MemberQuery{DeptID: 2, Subtree: true}, []string{"x100", "u1", "u2", "manager42"}, 4},
		{"a search in a subtree", models.MemberQuery{DeptID: 2, Subtree: true, Search: "b"}, []string{"u2"}, 1},
		{"a department without members", models.MemberQuery{DeptID: 3}, nil, 0},
	}
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		if _, err := store.UpsertDingTalkUsers(ctx, users, t0); err != nil {
			t.Fatal(err)
		}
		seedTree(t, store) // departments 1..6; its member rows use other userids
		for dept, ids := range map[int64][]string{2: {"u1", "u2"}, 4: {"u2", "x100"}, 6: {"manager42"}} {
			if _, _, err := store.ReplaceDepartmentMembers(ctx, dept, ids); err != nil {
				t.Fatal(err)
			}
		}
		alice := models.User{Username: "alice", DingTalkUserID: "u1", Enabled: true}
		if err := store.CreateUser(ctx, &alice); err != nil {
			t.Fatal(err)
		}

		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				page, err := store.SearchMembers(ctx, tt.q)
				if err != nil {
					t.Fatalf("SearchMembers: %v", err)
				}
				var ids []string
				for _, r := range page.Rows {
					ids = append(ids, r.UserID)
				}
				if !slices.Equal(ids, tt.wantIDs) || page.Total != tt.wantTotal {
					t.Errorf("got %v (total %d), want %v (total %d)", ids, page.Total, tt.wantIDs, tt.wantTotal)
				}
			})
		}

		page, _ := store.SearchMembers(ctx, models.MemberQuery{Search: "alice"})
		if len(page.Rows) != 1 || page.Rows[0].Username != "alice" || page.Rows[0].Email != "alice@acme.example" || page.Rows[0].Mobile != "13800000001" {
			t.Errorf("alice's row = %+v; want her DingTalk data and Confluence username", page.Rows)
		}
		page, _ = store.SearchMembers(ctx, models.MemberQuery{Search: "bob"})
		if len(page.Rows) != 1 || page.Rows[0].Username != "" {
			t.Errorf("bob's row = %+v; want no Confluence username", page.Rows)
		}
	})
}

// seedUsers inserts n generated users in batches of 1000, a quarter of them in department 7.
func seedUsers(tb testing.TB, db *gorm.DB, n int) {
	tb.Helper()
	surnames := []string{"Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Zhao", "Huang"}
	users := make([]models.DingTalkUser, 0, 1000)
	memberRows := make([]models.DepartmentMember, 0, 1000)
	flush := func() {
		if err := db.Create(&users).Error; err != nil {
			tb.Fatalf("seed users: %v", err)
		}
		if len(memberRows) > 0 {
			if err := db.Create(&memberRows).Error; err != nil {
				tb.Fatalf("seed members: %v", err)
			}
		}
		users, memberRows = users[:0], memberRows[:0]
	}
	for i := range n {
		id := fmt.Sprintf("u%06d", i)
		users = append(users, models.DingTalkUser{
			UserID: id, UnionID: "union" + id, Name: fmt.Sprintf("%s Wei %06d", surnames[i%len(surnames)], i),
			Email: fmt.Sprintf("user%06d@acme.example", i), JobNumber: fmt.Sprintf("E%06d", i),
			Mobile: fmt.Sprintf("138%08d", i), Active: true, SyncedAt: t0, CreatedAt: t0, UpdatedAt: t0,
		})
		if i%4 == 0 {
			memberRows = append(memberRows, models.DepartmentMember{DeptID: 7, UserID: id})
		}
		if len(users) == cap(users) {
			flush()
		}
	}
	if len(users) > 0 {
		flush()
	}
}

// The Members page must stay fast at 100,000 users, which needs every statement of a
// search to read index ranges (or walk the name index in order), never the whole table.
func TestSearchMembersUsesIndexes(t *testing.T) {
	queries := []struct {
		name string
		q    models.MemberQuery
	}{
		{"first page", models.MemberQuery{}},
		{"search by email", models.MemberQuery{Search: "user00042"}},
		{"search by mobile", models.MemberQuery{Search: "1380000042"}},
		{"search by userid", models.MemberQuery{Search: "U0001"}},
		{"search in a department", models.MemberQuery{Search: "Wang Wei 0000", DeptID: 7}},
	}
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		seedUsers(t, db, 5000)
		// As after a sync; the plans must use the indexes with or without statistics.
		if err := store.AnalyzeOrgTables(ctx); err != nil {
			t.Fatalf("AnalyzeOrgTables: %v", err)
		}
		for _, qq := range queries {
			page, count, err := store.ExplainMemberSearch(ctx, qq.q)
			if err != nil {
				t.Fatalf("%s: %v", qq.name, err)
			}
			t.Logf("%s: page plan:\n  %s\ncount plan:\n  %s", qq.name, strings.Join(page, "\n  "), strings.Join(count, "\n  "))
			for _, step := range append(page, count...) {
				if fullScan(models.Dialect(db), step) {
					t.Errorf("%s: full scan of dingtalk_users: %s", qq.name, step)
				}
			}
		}
	})
}

// fullScan reports whether a plan row reads all of dingtalk_users row by row.
func fullScan(dialect, step string) bool {
	if dialect == models.DialectSQLite {
		// "SCAN dingtalk_users USING INDEX …" walks an index (in order, stopping at the
		// LIMIT) and is fine; a bare "SCAN dingtalk_users" reads the table.
		return strings.HasPrefix(step, "SCAN dingtalk_users") && !strings.Contains(step, "INDEX")
	}
	return strings.HasPrefix(step, "table=dingtalk_users ") && strings.Contains(step, "type=ALL")
}
