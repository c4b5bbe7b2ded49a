package views

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/a-h/templ"
	"golang.org/x/net/html"

	"github.com/dingfluence/dingfluence/locale"
	"github.com/dingfluence/dingfluence/models"
)

// rlo is U+202E RIGHT-TO-LEFT OVERRIDE: in a name it turns the text after it
// backwards unless the name is isolated (<bdi> or dir="auto").
const rlo = "\u202e"

func TestNamesFromDingTalkAreIsolated(t *testing.T) {
	bundle, err := locale.NewBundle()
	if err != nil {
		t.Fatal(err)
	}
	ctx := locale.WithLocalizer(context.Background(), bundle.Localizer("en"))
	member := models.MemberRow{DingTalkUser: models.DingTalkUser{
		UserID: "u1", Name: "Ann" + rlo + "gpj.exe", Email: "a" + rlo + "@acme.example",
		OrgEmail: "o" + rlo + "@acme.example", JobNumber: "E" + rlo + "1", Mobile: "138" + rlo, Active: true,
	}, Username: "ann" + rlo}
	tests := []struct {
		name      string
		component templ.Component
		want      int // how many values with U+202E the screen shows
	}{
		{"members table and department filter", MembersResults(MembersView{
			DeptID: 2, DeptName: "Sales" + rlo + "selaS", Page: 1,
			Result: models.MemberPage{Rows: []models.MemberRow{member}, Total: 1},
		}), 7},
		{"department tree", DepartmentNode(models.DepartmentNode{Department: models.Department{DeptID: 2, Name: "Eng" + rlo + "gnE"}}, DeptTree{}), 1},
		{"sync run", SyncRunStatus(models.SyncRun{ID: 1, Kind: models.SyncKindSubDepartments, DeptID: 2, DeptName: "Eng" + rlo, Status: models.SyncStatusRunning}, ""), 1},
		{"recent syncs", RecentSyncs([]models.SyncRun{{ID: 1, Kind: models.SyncKindSubDepartments, DeptID: 2, DeptName: "Eng" + rlo, Status: models.SyncStatusSucceeded}}), 1},
		{"audit log", Audit(Page{}, AuditView{Page: 1, Total: 1, Entries: []models.AuditEntry{
			{Actor: "x" + rlo, Action: models.ActionSignInFailed, Address: "203.0.113.1", Details: "method: password"},
		}}), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tt.component.Render(ctx, &b); err != nil {
				t.Fatal(err)
			}
			doc, err := html.Parse(&b)
			if err != nil {
				t.Fatal(err)
			}
			found := 0
			var walk func(n *html.Node)
			walk = func(n *html.Node) {
				if n.Type == html.TextNode && strings.Contains(n.Data, rlo) {
					found++
					if !isolated(n) {
						t.Errorf("%q is shown outside <bdi> and dir=\"auto\"", n.Data)
					}
				}
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c)
				}
			}
			walk(doc)
			if found != tt.want {
				t.Fatalf("found %d values with U+202E, want %d", found, tt.want)
			}
		})
	}
}

// isolated reports whether text sits directly in a <bdi> or an element with
// dir="auto", nothing else sharing that element.
func isolated(text *html.Node) bool {
	p := text.Parent
	if p == nil || p.FirstChild != text || p.LastChild != text {
		return false
	}
	if p.Data == "bdi" {
		return true
	}
	for _, a := range p.Attr {
		if a.Key == "dir" && a.Val == "auto" {
			return true
		}
	}
	return false
}
