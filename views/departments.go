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

// syncError is DingTalk's errcode and message of a run that did not succeed,
// or the error text alone when the failure was not DingTalk's.
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
