package views

import (
	"context"
	"strconv"
	"time"

	"github.com/dingfluence/dingfluence/locale"
	"github.com/dingfluence/dingfluence/models"
)

func syncTitle(ctx context.Context, r models.SyncRun) string {
	return locale.T(ctx, "sync.title", map[string]any{
		"Action": locale.T(ctx, "sync.kind."+r.Kind), "Department": r.DeptID,
	})
}

func syncCounters(ctx context.Context, r models.SyncRun) string {
	return locale.T(ctx, "sync.counters", map[string]any{
		"DeptsSeen": r.DepartmentsSeen, "DeptsChanged": r.DepartmentsChanged,
		"UsersSeen": r.UsersSeen, "UsersChanged": r.UsersChanged,
		"Deactivated": r.UsersDeactivated, "Calls": r.APICalls,
	})
}

// syncError is DingTalk's errcode and message of a failed run, or the
// error text alone when the failure was not DingTalk's.
func syncError(r models.SyncRun) string {
	if r.Errcode != 0 {
		return "errcode " + strconv.Itoa(r.Errcode) + ": " + r.Error
	}
	return r.Error
}

func syncDuration(r models.SyncRun) string {
	if r.FinishedAt == nil {
		return ""
	}
	return r.FinishedAt.Sub(r.StartedAt).Round(100 * time.Millisecond).String()
}
