package models_test

import (
	"bytes"
	"cmp"
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
		{UserID: "z1", Name: "张三丰", Email: "zhangsf@example.com", JobNumber: "J-77", Mobile: "13912345678", Active: true},
	}
	everyone := []string{"x100", "u3", "u1", "u4", "u2", "manager42", "z1"}
	tests := []struct {
		name       string
		q          models.MemberQuery
		wantIDs    []string // in page order
		wantTotal  int
		wantOffset int
	}{
		{"everyone, by name (pinyin after Latin)", models.MemberQuery{}, everyone, 7, 0},
		{"part of a name, any case", models.MemberQuery{Search: "LICE w"}, []string{"u1"}, 1, 0},
		{"a given name inside a Chinese name", models.MemberQuery{Search: "丰"}, []string{"z1"}, 1, 0},
		{"two Chinese characters", models.MemberQuery{Search: "三丰"}, []string{"z1"}, 1, 0},
		{"a whole Chinese name", models.MemberQuery{Search: "张三丰"}, []string{"z1"}, 1, 0},
		{"an e-mail domain", models.MemberQuery{Search: "example.com"}, []string{"z1"}, 1, 0},
		{"an e-mail domain shared by three", models.MemberQuery{Search: "ACME.example"}, []string{"u1", "u2", "manager42"}, 3, 0},
		{"org email", models.MemberQuery{Search: "corp.ex"}, []string{"u1"}, 1, 0},
		{"the middle of a phone number", models.MemberQuery{Search: "2345"}, []string{"z1"}, 1, 0},
		{"phone digits shared by two", models.MemberQuery{Search: "0000000"}, []string{"u1", "u2"}, 2, 0},
		{"the middle of a job number", models.MemberQuery{Search: "-77"}, []string{"z1"}, 1, 0},
		{"job number", models.MemberQuery{Search: "e20"}, []string{"u2"}, 1, 0},
		{"the middle of a userid, any case", models.MemberQuery{Search: "ANAGER"}, []string{"manager42"}, 1, 0},
		{"a user matching in two columns is listed once", models.MemberQuery{Search: "wang"}, []string{"u1", "manager42"}, 2, 0},
		{"two ASCII characters match a start only", models.MemberQuery{Search: "al"}, []string{"u1"}, 1, 0},
		{"two ASCII characters inside match nothing", models.MemberQuery{Search: "li"}, nil, 0, 0},
		{"underscore is literal", models.MemberQuery{Search: "a_"}, []string{"u3"}, 1, 0},
		{"underscore is literal inside", models.MemberQuery{Search: "a_b"}, []string{"u3"}, 1, 0},
		{"percent is literal", models.MemberQuery{Search: "0% c"}, []string{"x100"}, 1, 0},
		{"a lone percent matches nothing", models.MemberQuery{Search: "%"}, nil, 0, 0},
		{"surrounding blanks are ignored", models.MemberQuery{Search: "  bob "}, []string{"u2"}, 1, 0},
		{"grams in the index but not in one value", models.MemberQuery{Search: "bob li@"}, nil, 0, 0},
		{"nothing matches", models.MemberQuery{Search: "zzz"}, nil, 0, 0},
		{"nothing matches in Chinese", models.MemberQuery{Search: "丰三"}, nil, 0, 0},
		{"paging", models.MemberQuery{Offset: 2, Limit: 2}, []string{"u1", "u4"}, 7, 2},
		{"paging a search", models.MemberQuery{Search: "a", Offset: 1, Limit: 1}, []string{"u1"}, 3, 1},
		{"a page past the end is the last page", models.MemberQuery{Offset: 100, Limit: 2}, []string{"z1"}, 7, 6},
		{"a search's page past the end is its last page", models.MemberQuery{Search: "acme", Offset: 50, Limit: 2}, []string{"manager42"}, 3, 2},
		{"nothing to clamp to", models.MemberQuery{Search: "zzz", Offset: 50}, nil, 0, 50},
		{"by name, descending", models.MemberQuery{Desc: true}, reversed(everyone), 7, 0},
		{"by userid", models.MemberQuery{Sort: models.SortByUserID}, []string{"manager42", "u1", "u2", "u3", "u4", "x100", "z1"}, 7, 0},
		{"by userid, descending", models.MemberQuery{Sort: models.SortByUserID, Desc: true}, []string{"z1", "x100", "u4", "u3", "u2", "u1", "manager42"}, 7, 0},
		{"by e-mail, blanks first", models.MemberQuery{Sort: models.SortByEmail}, []string{"x100", "u3", "u4", "u1", "u2", "manager42", "z1"}, 7, 0},
		{"by job number", models.MemberQuery{Sort: models.SortByJobNumber, Limit: 3, Offset: 4}, []string{"u1", "u2", "z1"}, 7, 4},
		{"by mobile, descending", models.MemberQuery{Sort: models.SortByMobile, Desc: true, Limit: 3}, []string{"z1", "u2", "u1"}, 7, 0},
		{"a search by userid", models.MemberQuery{Search: "acme", Sort: models.SortByUserID}, []string{"manager42", "u1", "u2"}, 3, 0},
		{"a prefix search by e-mail, descending", models.MemberQuery{Search: "a", Sort: models.SortByEmail, Desc: true}, []string{"u1", "u4", "u3"}, 3, 0},
		{"an unknown sort is by name", models.MemberQuery{Sort: "title"}, everyone, 7, 0},
		{"one department", models.MemberQuery{DeptID: 2}, []string{"u1", "u2"}, 2, 0},
		{"a department and its subtree", models.MemberQuery{DeptID: 2, Subtree: true}, []string{"x100", "u1", "u2", "manager42"}, 4, 0},
		{"a search in a subtree", models.MemberQuery{DeptID: 2, Subtree: true, Search: "b"}, []string{"u2"}, 1, 0},
		{"a substring search in a subtree", models.MemberQuery{DeptID: 2, Subtree: true, Search: "acme.ex"}, []string{"u1", "u2", "manager42"}, 3, 0},
		{"a department without members", models.MemberQuery{DeptID: 3}, nil, 0, 0},
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

		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				page, err := store.SearchMembers(ctx, tt.q)
				if err != nil {
					t.Fatalf("SearchMembers: %v", err)
				}
				ids := pageIDs(page)
				if !slices.Equal(ids, tt.wantIDs) || page.Total != tt.wantTotal || page.Offset != tt.wantOffset || page.TotalCapped {
					t.Errorf("got %v (total %d, capped %v, offset %d), want %v (total %d, offset %d)",
						ids, page.Total, page.TotalCapped, page.Offset, tt.wantIDs, tt.wantTotal, tt.wantOffset)
				}
			})
		}

		alice := models.User{Username: "alice", DingTalkUserID: "u1", Enabled: true}
		if err := store.CreateUser(ctx, &alice); err != nil {
			t.Fatal(err)
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

func pageIDs(page models.MemberPage) []string {
	var ids []string
	for _, r := range page.Rows {
		ids = append(ids, r.UserID)
	}
	return ids
}

func reversed(s []string) []string {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}

// Names sort as a Chinese admin reads them: numbers by value, Chinese by pinyin.
func TestSearchMembersNameOrder(t *testing.T) {
	names := []string{"用户100", "用户10", "用户2", "用户1", "张三", "王五", "李四", "阿明", "Zoe", "adam"}
	want := []string{"adam", "Zoe", "阿明", "李四", "王五", "用户1", "用户2", "用户10", "用户100", "张三"}
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		var users []models.DingTalkUser
		for i, n := range names {
			users = append(users, models.DingTalkUser{UserID: fmt.Sprintf("n%02d", i), Name: n, Active: true})
		}
		if _, err := store.UpsertDingTalkUsers(ctx, users, t0); err != nil {
			t.Fatal(err)
		}
		for _, q := range []models.MemberQuery{{}, {Search: "用户"}, {Search: "户"}} {
			page, err := store.SearchMembers(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range page.Rows {
				got = append(got, r.Name)
			}
			expect := want
			if q.Search != "" {
				expect = want[5:9]
			}
			if !slices.Equal(got, expect) {
				t.Errorf("%q: names in order %v, want %v", q.Search, got, expect)
			}
		}
	})
}

// The index follows the users through syncs: a renamed user is found by the new name
// only, and listed once in the new name's place; changed e-mails and phones likewise;
// a user who left stays findable (listed as left); and what the incremental writes
// leave is exactly what a rebuild from scratch makes.
func TestSearchMembersIndexFollowsSyncs(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		find := func(search string) []string {
			t.Helper()
			page, err := store.SearchMembers(ctx, models.MemberQuery{Search: search})
			if err != nil {
				t.Fatal(err)
			}
			return pageIDs(page)
		}
		sync := func(users ...models.DingTalkUser) {
			t.Helper()
			if _, err := store.UpsertDingTalkUsers(ctx, users, t0); err != nil {
				t.Fatal(err)
			}
		}
		zhang := models.DingTalkUser{UserID: "zs", Name: "张三丰", Email: "zs@old.example", Mobile: "13700001111", Active: true}
		li := models.DingTalkUser{UserID: "ls", Name: "李四", Email: "ls@old.example", Active: true}
		sync(zhang, li)
		if got := find("old.example"); !slices.Equal(got, []string{"ls", "zs"}) {
			t.Fatalf("before: old.example finds %v", got)
		}

		zhang.Name, zhang.Email, zhang.Mobile = "阿丰", "zs@new.example", "13799992222"
		li.Title = "Engineer" // a change the index does not see
		sync(zhang, li)
		tests := []struct {
			search string
			want   []string
		}{
			{"三丰", nil}, {"阿丰", []string{"zs"}}, {"丰", []string{"zs"}},
			{"old.example", []string{"ls"}}, {"new.example", []string{"zs"}},
			{"0000111", nil}, {"9999222", []string{"zs"}},
		}
		for _, tt := range tests {
			if got := find(tt.search); !slices.Equal(got, tt.want) {
				t.Errorf("after the rename: %q finds %v, want %v", tt.search, got, tt.want)
			}
		}
		// 阿丰 now sorts before 李四, and once.
		if got := find(""); !slices.Equal(got, []string{"zs", "ls"}) {
			t.Errorf("everyone after the rename: %v, want [zs ls]", got)
		}

		if _, err := store.DeactivateDingTalkUsersNotIn(ctx, map[string]struct{}{"ls": {}}, t0); err != nil {
			t.Fatal(err)
		}
		page, err := store.SearchMembers(ctx, models.MemberQuery{Search: "new.exa"})
		if err != nil || len(page.Rows) != 1 || page.Rows[0].Status() != models.MemberLeft {
			t.Errorf("a user who left: %+v, %v; want them listed as left", page.Rows, err)
		}

		// As the org sync writes: the grams come later, the search is right meanwhile.
		zhang.Name, zhang.Email = "张无忌", "wuji@later.example"
		if _, err := store.UpsertDingTalkUsersIndexLater(ctx, []models.DingTalkUser{zhang, {UserID: "new", Name: "新人", Active: true}}, t0); err != nil {
			t.Fatal(err)
		}
		for round := range 2 {
			for _, tt := range []struct {
				search string
				want   []string
			}{{"无忌", []string{"zs"}}, {"later.exa", []string{"zs"}}, {"阿丰", nil}, {"新", []string{"new"}}, {"四", []string{"ls"}}} {
				if got := find(tt.search); !slices.Equal(got, tt.want) {
					t.Errorf("round %d: %q finds %v, want %v", round, tt.search, got, tt.want)
				}
			}
			if round == 0 {
				// SQLite leaves the grams to the end of the walk; MySQL writes them with the users.
				want := 0
				if models.Dialect(db) == models.DialectSQLite {
					want = 2
				}
				if n, err := store.IndexPendingMembers(ctx, 0); err != nil || n != want {
					t.Fatalf("IndexPendingMembers: %d, %v; want %d users", n, err, want)
				}
			}
		}

		var incremental, rebuilt int64
		db.Model(&models.DingTalkUserGram{}).Count(&incremental)
		if err := store.RebuildMemberSearchIndex(ctx); err != nil {
			t.Fatal(err)
		}
		db.Model(&models.DingTalkUserGram{}).Count(&rebuilt)
		if incremental != rebuilt {
			t.Errorf("%d index rows after the syncs, %d after a rebuild", incremental, rebuilt)
		}
	})
}

// seedUsers stores n generated users through the org sync's write (so with their sort
// keys and search grams) in batches of 1000, a quarter of them in department 7. One in
// sixteen has a Chinese name; one in a hundred a second e-mail at example.com.
func seedUsers(tb testing.TB, db *gorm.DB, n int) {
	tb.Helper()
	store := newStore(tb, db)
	users := make([]models.DingTalkUser, 0, 1000)
	memberRows := make([]models.DepartmentMember, 0, 1000)
	flush := func() {
		if _, err := store.UpsertDingTalkUsers(context.Background(), users, t0); err != nil {
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
		users = append(users, benchUser(i))
		if i%4 == 0 {
			memberRows = append(memberRows, models.DepartmentMember{DeptID: 7, UserID: users[len(users)-1].UserID})
		}
		if len(users) == cap(users) {
			flush()
		}
	}
	if len(users) > 0 {
		flush()
	}
}

// benchUser is the i-th generated user of seedUsers.
func benchUser(i int) models.DingTalkUser {
	surnames := []string{"Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Zhao", "Huang"}
	id := fmt.Sprintf("u%06d", i)
	name := fmt.Sprintf("%s Wei %06d", surnames[i%len(surnames)], i)
	if i%16 == 5 {
		// 张三丰, 李四丰 …: 丰 is in 6,250 names.
		cjkSurnames := []rune("张李王刘陈杨赵黄")
		given := []rune("三四五六七八九十")
		name = fmt.Sprintf("%c%c丰%d", cjkSurnames[(i/16)%8], given[(i/128)%8], i)
	}
	u := models.DingTalkUser{
		UserID: id, UnionID: "union" + id, Name: name,
		Email: fmt.Sprintf("user%06d@acme.example", i), JobNumber: fmt.Sprintf("E%06d", i),
		Mobile: fmt.Sprintf("138%08d", i), Active: true,
	}
	if i%100 == 7 {
		u.OrgEmail = fmt.Sprintf("w%06d@example.com", i)
	}
	return u
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
		{"a Chinese character", models.MemberQuery{Search: "丰"}},
		{"a domain everyone has", models.MemberQuery{Search: "acme.example"}},
		{"a domain everyone has, by e-mail", models.MemberQuery{Search: "acme.example", Sort: models.SortByEmail}},
		{"common grams, rarely together", models.MemberQuery{Search: "wei 0000"}},
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
		checkAgainstScan(t, store, 5000)
	})
}

// checkAgainstScan compares searches over the n users of seedUsers with what reading
// every user and testing each value finds, in the screen's order: the first page must
// be the same and the total exact, or, when the search stopped counting, a lower bound.
func checkAgainstScan(t *testing.T, store *models.Store, n int) {
	t.Helper()
	ctx := context.Background()
	users := make([]models.DingTalkUser, n)
	for i := range users {
		users[i] = benchUser(i)
	}
	slices.SortFunc(users, func(a, b models.DingTalkUser) int {
		if c := bytes.Compare(models.NameKey(a.Name), models.NameKey(b.Name)); c != 0 {
			return c
		}
		return strings.Compare(a.UserID, b.UserID)
	})
	for _, q := range []models.MemberQuery{
		{Search: "Wang"}, {Search: "丰"}, {Search: "张三"}, {Search: "acme.example"}, {Search: "EXAMPLE.COM"},
		{Search: "80004"}, {Search: "0004"}, {Search: "E0012"}, {Search: "u0049"}, {Search: "wei 0000"},
		{Search: "ei 0049"}, {Search: "nobody"}, {Search: "acme.example.com"},
		{Search: "acme.example", Offset: 150, Limit: 50}, {Search: "wei 0000", Offset: 50, Limit: 25},
		{Search: "acme.example", DeptID: 7}, {Search: "丰", DeptID: 7, Offset: 20, Limit: 10},
	} {
		var want []string
		for i, u := range users {
			if q.DeptID == 7 {
				var idx int
				fmt.Sscanf(u.UserID, "u%d", &idx)
				if idx%4 != 0 {
					continue
				}
			}
			for _, v := range []string{u.Name, u.Email, u.OrgEmail, u.JobNumber, u.Mobile, u.UserID} {
				if strings.Contains(models.FoldCase(v), models.FoldCase(q.Search)) {
					want = append(want, users[i].UserID)
					break
				}
			}
		}
		page, err := store.SearchMembers(ctx, q)
		if err != nil {
			t.Fatalf("%+v: %v", q, err)
		}
		limit := cmp.Or(q.Limit, 50)
		wantPage := want[min(q.Offset, len(want)):min(q.Offset+limit, len(want))]
		if got := pageIDs(page); !slices.Equal(got, wantPage) {
			t.Errorf("%+v: page %v, want %v", q, got, wantPage)
		}
		switch {
		case page.TotalCapped && (page.Total > len(want) || page.Total < len(wantPage)+q.Offset):
			t.Errorf("%+v: total more than %d, but %d match", q, page.Total, len(want))
		case !page.TotalCapped && page.Total != len(want):
			t.Errorf("%+v: total %d, want %d", q, page.Total, len(want))
		}
		t.Logf("%q offset %d: %d matches, total %d (capped %v)", q.Search, q.Offset, len(want), page.Total, page.TotalCapped)
	}
	// Past the end of a broad search: its last page.
	page, err := store.SearchMembers(ctx, models.MemberQuery{Search: "acme.example", Offset: 100_000})
	if err != nil || page.Offset != n-50 || len(page.Rows) != 50 || page.Total != n || page.TotalCapped {
		t.Errorf("past the end of a broad search: offset %d, %d rows, total %d (capped %v), %v; want the last page of %d",
			page.Offset, len(page.Rows), page.Total, page.TotalCapped, err, n)
	}
}

// fullScan reports whether a plan row reads all of dingtalk_users row by row.
func fullScan(dialect, step string) bool {
	if dialect == models.DialectSQLite {
		// "SCAN dingtalk_users USING INDEX …" walks an index (in order, stopping at the
		// LIMIT) and is fine; a bare "SCAN dingtalk_users" reads the table.
		return (strings.HasPrefix(step, "SCAN dingtalk_users") || strings.HasPrefix(step, "SCAN u")) && !strings.Contains(step, "INDEX")
	}
	return (strings.HasPrefix(step, "table=dingtalk_users ") || strings.HasPrefix(step, "table=u ")) && strings.Contains(step, "type=ALL")
}
