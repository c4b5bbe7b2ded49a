package views

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dingfluence/dingfluence/locale"
	"github.com/dingfluence/dingfluence/models"
)

func localized(t *testing.T, tag string) context.Context {
	t.Helper()
	bundle, err := locale.NewBundle()
	if err != nil {
		t.Fatal(err)
	}
	return locale.WithLocalizer(context.Background(), bundle.Localizer(tag))
}

// An ended run says how long it took in words, with the plural forms of the language.
func TestSyncOutcomeSaysTheDurationInWords(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		tag  string
		took time.Duration
		want string
	}{
		{"en", 0, "Finished in under a second."},
		{"en", 400 * time.Millisecond, "Finished in under a second."},
		{"en", time.Second, "Finished in 1 second."},
		{"en", 1600 * time.Millisecond, "Finished in 2 seconds."},
		{"en", time.Minute, "Finished in 1 minute."},
		{"en", 65 * time.Second, "Finished in 1 minute 5 seconds."},
		{"en", 2*time.Hour + 3*time.Minute + 4*time.Second, "Finished in 2 hours 3 minutes."},
		{"zh-Hans", 300 * time.Millisecond, "已完成，用时不到 1 秒。"},
		{"zh-Hans", 65 * time.Second, "已完成，用时 1 分钟 5 秒。"},
	}
	for _, tt := range tests {
		finished := start.Add(tt.took)
		r := models.SyncRun{Status: models.SyncStatusSucceeded, StartedAt: start, FinishedAt: &finished}
		if got := syncOutcome(localized(t, tt.tag), r); got != tt.want {
			t.Errorf("%s %v: %q, want %q", tt.tag, tt.took, got, tt.want)
		}
	}
}

func TestDepartmentCountsUsePluralForms(t *testing.T) {
	tests := []struct {
		tag               string
		members, children int
		stored            bool
		want              string
	}{
		{"en", 1, 1, true, "id 20 · 1 member · 1 sub-department"},
		{"en", 0, 2, true, "id 20 · 0 members · 2 sub-departments"},
		{"en", 5, 0, false, "id 20"}, // the root's placeholder has nothing to count
		{"zh-Hans", 1, 3, true, "ID 20 · 1 名成员 · 3 个子部门"},
	}
	for _, tt := range tests {
		n := models.DepartmentNode{Department: models.Department{DeptID: 20}, MemberCount: tt.members, ChildCount: tt.children}
		if got := deptMeta(localized(t, tt.tag), n, tt.stored); got != tt.want {
			t.Errorf("%s %d/%d: %q, want %q", tt.tag, tt.members, tt.children, got, tt.want)
		}
	}
	ctx := localized(t, "en")
	one := models.SyncRun{Status: models.SyncStatusIncomplete, DepartmentsUnreadable: 1}
	if got := syncOutcome(ctx, one); !strings.HasPrefix(got, "Finished in under a second, but 1 department could not be read") {
		t.Errorf("incomplete with one department: %q", got)
	}
}

func TestRunsNameTheirDepartment(t *testing.T) {
	ctx := localized(t, "en")
	tests := []struct {
		run  models.SyncRun
		want string
	}{
		{models.SyncRun{DeptID: 20, DeptName: "Engineering"}, "Engineering"},
		{models.SyncRun{DeptID: 1}, "the root department"},
		{models.SyncRun{DeptID: 20}, "department 20"},
	}
	for _, tt := range tests {
		if got := runDeptLabel(ctx, tt.run); got != tt.want {
			t.Errorf("run of %d named %q: %q, want %q", tt.run.DeptID, tt.run.DeptName, got, tt.want)
		}
	}
}
