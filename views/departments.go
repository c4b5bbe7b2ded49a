package views

import (
	"context"
	"strings"
	"time"

	"github.com/dingfluence/dingfluence/locale"
	"github.com/dingfluence/dingfluence/models"
)

// rootDepartmentID is DingTalk's id of the whole organisation.
const rootDepartmentID = 1

// placeRuns puts each running sync on its department's row when the tree shows that
// department, and returns the others to be listed above the tree.
func placeRuns(v DepartmentsView) (tree DeptTree, elsewhere []models.SyncRun) {
	shown := map[int64]bool{}
	if len(v.Roots) == 0 {
		shown[rootDepartmentID] = true
	}
	var walk func(nodes []models.DepartmentNode)
	walk = func(nodes []models.DepartmentNode) {
		for _, n := range nodes {
			shown[n.DeptID] = true
			walk(n.Children)
		}
	}
	walk(v.Roots)
	tree = DeptTree{Configured: v.Configured, Runs: map[int64][]models.SyncRun{}}
	for _, r := range v.Running {
		if shown[r.DeptID] {
			tree.Runs[r.DeptID] = append(tree.Runs[r.DeptID], r)
		} else {
			elsewhere = append(elsewhere, r)
		}
	}
	return tree, elsewhere
}

// NewDeptTree is what rows drawn on their own (an expand, a refresh after a sync)
// need: whether syncs can run, and the running syncs to draw on their rows.
func NewDeptTree(configured bool, running []models.SyncRun) DeptTree {
	tree := DeptTree{Configured: configured, Runs: map[int64][]models.SyncRun{}}
	for _, r := range running {
		tree.Runs[r.DeptID] = append(tree.Runs[r.DeptID], r)
	}
	return tree
}

// deptName is what a row calls its department: its DingTalk name, or for the root's
// placeholder before the first sync, that it has not been synced.
func deptName(ctx context.Context, n models.DepartmentNode, stored bool) string {
	if !stored {
		return locale.T(ctx, "departments.notSynced")
	}
	return n.Name
}

// deptMeta is a row's id and counts, in the plural forms of the language; the
// placeholder of the root has no counts to tell.
func deptMeta(ctx context.Context, n models.DepartmentNode, stored bool) string {
	id := locale.T(ctx, "departments.id", map[string]any{"ID": n.DeptID})
	if !stored {
		return id
	}
	return id + " · " + locale.N(ctx, "departments.members", n.MemberCount) + " · " + locale.N(ctx, "departments.children", n.ChildCount)
}

// runDeptLabel names the department of a run: its name once synced, else the root
// or "department 20".
func runDeptLabel(ctx context.Context, r models.SyncRun) string {
	switch {
	case r.DeptName != "":
		return r.DeptName
	case r.DeptID == rootDepartmentID:
		return locale.T(ctx, "sync.rootDepartment")
	}
	return locale.T(ctx, "sync.department", map[string]any{"ID": r.DeptID})
}

// syncKindLabel names a sync kind, on its button and in the run lists.
func syncKindLabel(ctx context.Context, k models.SyncKind) string {
	return locale.T(ctx, "sync.kind."+string(k))
}

func syncStatusLabel(ctx context.Context, s models.SyncStatus) string {
	return locale.T(ctx, "sync.status."+string(s))
}

// syncMessageClass is the AUI message style of a run's panel.
func syncMessageClass(s models.SyncStatus) string {
	switch s {
	case models.SyncStatusRunning:
		return "aui-message-info"
	case models.SyncStatusSucceeded:
		return "aui-message-success"
	case models.SyncStatusFailed:
		return "aui-message-error"
	}
	return "aui-message-warning" // incomplete, interrupted
}

// syncLozengeClass is the AUI lozenge style of a run's status in the recent list.
func syncLozengeClass(s models.SyncStatus) string {
	switch s {
	case models.SyncStatusRunning:
		return "aui-lozenge-current"
	case models.SyncStatusSucceeded:
		return "aui-lozenge-success"
	case models.SyncStatusFailed:
		return "aui-lozenge-error"
	}
	return "aui-lozenge-moved" // incomplete, interrupted
}

// syncOutcome says how an ended run ended, in a sentence; "" while it runs.
func syncOutcome(ctx context.Context, r models.SyncRun) string {
	switch r.Status {
	case models.SyncStatusSucceeded:
		if runTime(r) < time.Second {
			return locale.T(ctx, "sync.succeededQuickly")
		}
		return locale.T(ctx, "sync.succeeded", map[string]any{"Duration": duration(ctx, runTime(r))})
	case models.SyncStatusIncomplete:
		return locale.N(ctx, "sync.incomplete", r.DepartmentsUnreadable, map[string]any{"Duration": duration(ctx, runTime(r))})
	case models.SyncStatusFailed:
		return locale.T(ctx, "sync.failed")
	case models.SyncStatusInterrupted:
		return locale.T(ctx, "sync.interrupted")
	}
	return ""
}

func syncCounters(ctx context.Context, r models.SyncRun) string {
	return locale.T(ctx, "sync.counters", map[string]any{
		"DeptsSeen": r.DepartmentsSeen, "DeptsChanged": r.DepartmentsChanged,
		"UsersSeen": r.UsersSeen, "UsersChanged": r.UsersChanged,
		"Deactivated": r.UsersDeactivated, "Calls": r.APICalls,
	})
}

// syncHasError reports whether the run ended with an error to show: failed,
// incomplete or interrupted.
func syncHasError(r models.SyncRun) bool {
	return r.Status != models.SyncStatusRunning && r.Status != models.SyncStatusSucceeded
}

// syncError says why a run did not succeed. Our own reasons are translated;
// the recorded error text (DingTalk's errmsg, the network's words) is shown
// as recorded, labelled as DingTalk's when DingTalk answered with an errcode.
func syncError(ctx context.Context, r models.SyncRun) string {
	switch {
	case r.Error == models.SyncErrorShutdown:
		return locale.T(ctx, "sync.error.shutdown")
	case r.Errcode != 0:
		return locale.T(ctx, "sync.error.dingtalk", map[string]any{"Errcode": r.Errcode, "Message": r.Error})
	}
	return locale.T(ctx, "sync.error.other", map[string]any{"Message": r.Error})
}

// runTime is how long an ended run took.
func runTime(r models.SyncRun) time.Duration {
	if r.FinishedAt == nil {
		return 0
	}
	return r.FinishedAt.Sub(r.StartedAt)
}

// duration says d in words, to the second ("under a second", "1 minute 5 seconds"):
// Go's "1m5.2s" is not for people.
func duration(ctx context.Context, d time.Duration) string {
	if d < time.Second {
		return locale.T(ctx, "sync.duration.underSecond")
	}
	d = d.Round(time.Second)
	h, m, s := int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	var parts []string
	if h > 0 {
		parts = append(parts, locale.N(ctx, "sync.duration.hours", h))
	}
	if m > 0 {
		parts = append(parts, locale.N(ctx, "sync.duration.minutes", m))
	}
	if s > 0 && h == 0 {
		parts = append(parts, locale.N(ctx, "sync.duration.seconds", s))
	}
	return strings.Join(parts, " ")
}
