package views

import (
	"context"
	"time"

	"github.com/dingfluence/dingfluence/locale"
	"github.com/dingfluence/dingfluence/models"
)

func syncTitle(ctx context.Context, r models.SyncRun) string {
	return locale.T(ctx, "sync.title", map[string]any{
		"Action": syncKindLabel(ctx, r.Kind), "Department": r.DeptID,
	})
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
		return locale.T(ctx, "sync.succeeded", map[string]any{"Duration": syncDuration(r)})
	case models.SyncStatusIncomplete:
		return locale.T(ctx, "sync.incomplete", map[string]any{"Duration": syncDuration(r), "Count": r.DepartmentsUnreadable})
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

func syncDuration(r models.SyncRun) string {
	if r.FinishedAt == nil {
		return ""
	}
	return r.FinishedAt.Sub(r.StartedAt).Round(100 * time.Millisecond).String()
}
