package main

import (
	"encoding/csv"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dingfluence/dingfluence/models"
)

// seedMembersScreen stores a small organisation for the Members screen tests: a Chinese
// name, values a spreadsheet would run as formulas, and one member matched to a
// Confluence user.
func seedMembersScreen(t *testing.T, app *testApp) {
	t.Helper()
	now := time.Now()
	if _, err := app.Store.UpsertDepartments(t.Context(), []models.Department{{DeptID: 1, Name: "Acme"}, {DeptID: 2, ParentID: 1, Name: "研发部"}}, now); err != nil {
		t.Fatal(err)
	}
	users := []models.DingTalkUser{
		{UserID: "zsf", Name: "张三丰", Email: "zhang.sf@example.com", JobNumber: "A-001", Mobile: "13812345678", Title: "工程师", Active: true, Activated: true},
		{UserID: "evil", Name: `=HYPERLINK("http://x","点我")`, Email: "@evil.example", JobNumber: "-1", Mobile: "+8613900000000", Active: true},
		{UserID: "quote", Name: "Li, \"Bob\"\nJr", Email: "bob@acme.example", Active: false},
		{UserID: "u10", Name: "用户10", Email: "u10@acme.example", Active: true, Activated: true},
		{UserID: "u2", Name: "用户2", Email: "u2@acme.example", Active: true, Activated: true},
	}
	if _, err := app.Store.UpsertDingTalkUsers(t.Context(), users, now); err != nil {
		t.Fatal(err)
	}
	if _, _, err := app.Store.ReplaceDepartmentMembers(t.Context(), 2, []string{"zsf", "u10"}); err != nil {
		t.Fatal(err)
	}
}

// readCSV checks that body is UTF-8 CSV with a byte order mark and returns its lines.
func readCSV(t *testing.T, body string) [][]string {
	t.Helper()
	rest, ok := strings.CutPrefix(body, "\uFEFF")
	if !ok {
		t.Fatalf("the CSV does not start with a UTF-8 byte order mark: %q", body[:min(len(body), 20)])
	}
	lines, err := csv.NewReader(strings.NewReader(rest)).ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v\n%s", err, rest)
	}
	return lines
}

func TestMembersCSVExport(t *testing.T) {
	app := startApp(t)
	seedMembersScreen(t, app)
	admin, _ := app.adminSession(t, "/admin/dingtalk/members")

	res, body := send(t, admin, http.MethodGet, app.URL+"/admin/dingtalk/members.csv", nil, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cd := res.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") || !strings.Contains(cd, ".csv") {
		t.Errorf("Content-Disposition %q, want an attachment named .csv", cd)
	}
	lines := readCSV(t, body)
	wantHeader := []string{"Username", "Dingtalk Name", "Email", "Org email", "Job Number", "Dingtalk Phone", "Userid", "Title", "Status"}
	if !slices.Equal(lines[0], wantHeader) {
		t.Errorf("header %q, want %q", lines[0], wantHeader)
	}
	// In the screen's order: Latin and symbols first, then pinyin (yonghu, zhang), numbers by value.
	want := [][]string{
		{"", `'=HYPERLINK("http://x","点我")`, "'@evil.example", "", "'-1", "'+8613900000000", "evil", "", "Not activated"},
		{"", "Li, \"Bob\"\nJr", "bob@acme.example", "", "", "", "quote", "", "Left DingTalk"},
		{"", "用户2", "u2@acme.example", "", "", "", "u2", "", "Active"},
		{"", "用户10", "u10@acme.example", "", "", "", "u10", "", "Active"},
		{"", "张三丰", "zhang.sf@example.com", "", "A-001", "13812345678", "zsf", "工程师", "Active"},
	}
	if got := lines[1:]; !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("rows:\n%q\nwant\n%q", got, want)
	}

	// The export follows the screen's search, department and order; usernames show.
	app.addConfluenceUser(t, "zhangsf", "zhang.sf@example.com")
	if err := app.Store.DB().Model(&models.User{}).Where("username = ?", "zhangsf").Update("dingtalk_user_id", "zsf").Error; err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		query string
		ids   []string
	}{
		{"?q=丰", []string{"zsf"}},
		{"?q=example.com", []string{"zsf"}},
		{"?q=2345", []string{"zsf"}},
		{"?dept=2", []string{"u10", "zsf"}},
		{"?sort=userid&dir=desc", []string{"zsf", "u2", "u10", "quote", "evil"}},
		{"?q=acme&sort=email", []string{"quote", "u10", "u2"}},
		{"?unlinked=1&q=用户", []string{"u2", "u10"}},
		{"?q=nobody", nil},
	}
	for _, tt := range tests {
		res, body := send(t, admin, http.MethodGet, app.URL+"/admin/dingtalk/members.csv"+tt.query, nil, nil)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", tt.query, res.StatusCode)
		}
		var ids []string
		for _, l := range readCSV(t, body)[1:] {
			ids = append(ids, l[6])
			if l[6] == "zsf" && l[0] != "zhangsf" {
				t.Errorf("%s: zsf's username %q, want zhangsf", tt.query, l[0])
			}
		}
		if !slices.Equal(ids, tt.ids) {
			t.Errorf("%s: userids %v, want %v", tt.query, ids, tt.ids)
		}
	}

	// In Chinese, the headers and statuses are Chinese too.
	res, body = send(t, admin, http.MethodGet, app.URL+"/admin/dingtalk/members.csv?q=丰", nil, map[string]string{"Accept-Language": "zh-CN"})
	if lines := readCSV(t, body); res.StatusCode != http.StatusOK || lines[0][1] != "钉钉姓名" || lines[1][8] != "已激活" {
		t.Errorf("zh-CN export: status %d, %q", res.StatusCode, lines)
	}
}

func TestMembersCSVIsForAdminsOnly(t *testing.T) {
	app := startApp(t)
	seedMembersScreen(t, app)
	app.addConfluenceUser(t, "alice", "alice@acme.example")
	user, _ := app.userSession(t, "alice", "/profile")
	res, body := send(t, user, http.MethodGet, app.URL+"/admin/dingtalk/members.csv", nil, nil)
	if res.StatusCode != http.StatusForbidden || strings.Contains(body, "张三丰") {
		t.Errorf("a user who is not an admin: status %d, body %q", res.StatusCode, body[:min(len(body), 200)])
	}
	res, body = send(t, newClient(t), http.MethodGet, app.URL+"/admin/dingtalk/members.csv", nil, nil)
	if res.StatusCode != http.StatusSeeOther || strings.Contains(body, "张三丰") {
		t.Errorf("signed out: status %d, want a redirect to sign in", res.StatusCode)
	}
}

func TestMembersScreenSortsClampsAndExplains(t *testing.T) {
	app := startApp(t)
	seedMembersScreen(t, app)
	admin, _ := app.adminSession(t, "/admin/dingtalk/members")

	status, body, _ := get(t, admin, app.URL, "/admin/dingtalk/members?sort=email&dir=desc&q=acme")
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	for _, want := range []string{
		`aria-sort="descending" data-sort="email"`,
		`aria-sort="none" data-sort="name"`,
		// Sorted descending, the header's link sorts ascending, keeping the search.
		`href="/admin/dingtalk/members?q=acme&amp;sort=email" class="df-sort" id="members-sort-email"`,
		`href="/admin/dingtalk/members.csv?dir=desc&amp;q=acme&amp;sort=email"`,
		`<input type="hidden" name="sort" value="email">`,
		// No Confluence user is known yet: the Username column says so, and where to go.
		`id="members-no-confluence"`, `href="/admin/confluence#directory-sync"`, "— not matched yet",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if i, j := strings.Index(body, `data-userid="u2"`), strings.Index(body, `data-userid="u10"`); i < 0 || j < 0 || i > j {
		t.Errorf("sorted by e-mail descending, u2@ should come before u10@")
	}

	// A page past the end shows the last page.
	status, body, _ = get(t, admin, app.URL, "/admin/dingtalk/members?page=999")
	if status != http.StatusOK || !strings.Contains(body, `data-userid="zsf"`) {
		t.Errorf("?page=999: status %d; want the last page with its members", status)
	}

	app.addConfluenceUser(t, "alice", "alice@acme.example")
	_, body, _ = get(t, admin, app.URL, "/admin/dingtalk/members")
	if strings.Contains(body, "members-no-confluence") || strings.Contains(body, "not matched yet") {
		t.Errorf("with Confluence users known, the page still says none are")
	}
}
