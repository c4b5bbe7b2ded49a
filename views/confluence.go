package views

import (
	"context"
	"time"

	"github.com/dingfluence/dingfluence/locale"
	"github.com/dingfluence/dingfluence/models"
)

// directoryMessageClass is the AUI message style of a directory sync's panel.
func directoryMessageClass(s models.DirectoryStatus) string {
	switch s {
	case models.DirectoryRunning:
		return "aui-message-info"
	case models.DirectorySucceeded:
		return "aui-message-success"
	case models.DirectoryFailed:
		return "aui-message-error"
	}
	return "aui-message-warning" // interrupted
}

// directoryLozengeClass is the AUI lozenge style of a run's status in the recent list.
func directoryLozengeClass(s models.DirectoryStatus) string {
	switch s {
	case models.DirectoryRunning:
		return "aui-lozenge-current"
	case models.DirectorySucceeded:
		return "aui-lozenge-success"
	case models.DirectoryFailed:
		return "aui-lozenge-error"
	}
	return "aui-lozenge-moved"
}

// directoryOutcome says how an ended run ended, in a sentence; "" while it runs.
func directoryOutcome(ctx context.Context, r models.DirectoryRun) string {
	switch r.Status {
	case models.DirectorySucceeded:
		return locale.T(ctx, "directory.succeeded", map[string]any{"Duration": directoryDuration(r)})
	case models.DirectoryFailed:
		return locale.T(ctx, "directory.failed")
	case models.DirectoryInterrupted:
		return locale.T(ctx, "directory.interrupted")
	}
	return ""
}

// directoryCounters: members listed and pages read, users looked up one by one (the
// calls beyond the listing), and the rows written.
func directoryCounters(ctx context.Context, r models.DirectoryRun) string {
	return locale.T(ctx, "directory.counters", map[string]any{
		"Listed": r.UsersSeen, "Pages": r.PagesDone, "LookedUp": max(0, r.APICalls-max(r.PagesDone, 1)),
		"Created": r.UsersCreated, "Updated": r.UsersUpdated, "Deactivated": r.UsersDeactivated,
		"Matches": r.MatchesChanged, "Calls": r.APICalls,
	})
}

// directoryError says why a run did not succeed: our own reasons translated,
// Confluence's HTTP status and the recorded error text labelled as such.
func directoryError(ctx context.Context, r models.DirectoryRun) string {
	switch {
	case r.Error == models.DirectoryErrorCrashed:
		return locale.T(ctx, "directory.error.crashed")
	case r.Error == models.DirectoryErrorShutdown:
		return locale.T(ctx, "directory.error.shutdown")
	case r.HTTPStatus != 0:
		return locale.T(ctx, "directory.error.http", map[string]any{"Status": r.HTTPStatus, "Message": r.Error})
	}
	return locale.T(ctx, "directory.error.other", map[string]any{"Message": r.Error})
}

func directoryDuration(r models.DirectoryRun) string {
	if r.FinishedAt == nil {
		return ""
	}
	return r.Duration().Round(100 * time.Millisecond).String()
}
