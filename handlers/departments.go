package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/orgsync"
	"github.com/dingfluence/dingfluence/settings"
	"github.com/dingfluence/dingfluence/views"
)

// rootDepartmentID is DingTalk's id of the whole organisation.
const rootDepartmentID = 1

// recentSyncLimit is how many past runs the Departments screen lists.
const recentSyncLimit = 10

func (h *Handlers) departments(c echo.Context) error {
	ctx := c.Request().Context()
	// The root is stored without a parent (0), so it is the only top node.
	roots, err := h.Directory.DepartmentChildren(ctx, 0)
	if err != nil {
		return fmt.Errorf("load root department: %w", err)
	}
	if len(roots) == 0 {
		// Before the first sync there is only DingTalk's root, id 1, so its
		// buttons can start the first sync.
		roots = []models.DepartmentNode{{Department: models.Department{DeptID: rootDepartmentID, Name: t(c, "departments.notSynced")}}}
	}
	recent, err := h.OrgSync.RecentSyncRuns(ctx, recentSyncLimit)
	if err != nil {
		return fmt.Errorf("load recent syncs: %w", err)
	}
	running, err := h.OrgSync.RunningSyncRuns(ctx)
	if err != nil {
		return fmt.Errorf("load running syncs: %w", err)
	}
	v := views.DepartmentsView{Roots: roots, Running: running, Recent: recent}
	return render(c, http.StatusOK, views.Departments(h.page(c, "departments.title", "departments"), v))
}

func (h *Handlers) departmentChildren(c echo.Context) error {
	id, err := pathDeptID(c)
	if err != nil {
		return err
	}
	children, err := h.Directory.DepartmentChildren(c.Request().Context(), id)
	if err != nil {
		return fmt.Errorf("load sub-departments of %d: %w", id, err)
	}
	return render(c, http.StatusOK, views.DepartmentChildren(children))
}

// startSync starts one of the department buttons' syncs, or shows the one
// already running over the same departments. A busy or unconfigured sync is
// answered with a panel, not left to the error mapper: the button's htmx
// swaps only 2xx answers into the page, and the running run is the answer.
func (h *Handlers) startSync(c echo.Context) error {
	id, err := pathDeptID(c)
	if err != nil {
		return err
	}
	kind := models.SyncKind(c.FormValue("kind"))
	if !kind.Valid() {
		return echo.NewHTTPError(http.StatusBadRequest, "error.badSyncKind")
	}
	ctx := c.Request().Context()
	run, err := h.OrgSync.Start(ctx, kind, id, models.SyncTriggerUser, currentUser(c).Username)
	var busy *orgsync.BusyError
	status, noteFor, note := http.StatusAccepted, uint(0), ""
	switch {
	case errors.As(err, &busy):
		run, status, noteFor = busy.Run, http.StatusOK, busy.Run.ID
		note = t(c, "departments.alreadyRunning")
		if busy.Run.Kind != kind || busy.Run.DeptID != id {
			note = t(c, "sync.overlapping")
		}
	case errors.Is(err, settings.ErrNotConfigured):
		// The run is on record as failed; the recent list shows it.
		c.Response().Header().Set("HX-Trigger", "sync-finished")
		return render(c, http.StatusOK, views.SyncNotConfigured())
	case err != nil && run.ID != 0:
		// Recorded as failed before it called DingTalk (no readable secret): its
		// panel says why.
		c.Response().Header().Set("HX-Trigger", "sync-finished")
		status = http.StatusOK
	case err != nil:
		return fmt.Errorf("start %s of department %d: %w", kind, id, err)
	}
	// The panel is redrawn with this run first and every other running sync
	// after it, so a second click on a busy button shows the running one
	// once instead of adding a copy, and a sync that ended before this
	// answer still shows its result.
	running, err := h.OrgSync.RunningSyncRuns(ctx)
	if err != nil {
		return fmt.Errorf("load running syncs: %w", err)
	}
	panel := []models.SyncRun{run}
	for _, r := range running {
		if r.ID != run.ID {
			panel = append(panel, r)
		}
	}
	return render(c, status, views.SyncPanel(panel, noteFor, note))
}

// syncRun is polled by a running sync's panel; once the run has ended (or its
// server is gone) it answers the final state (without polling) and tells the
// recent list to refresh.
func (h *Handlers) syncRun(c echo.Context) error {
	id, err := strconv.ParseUint(c.Param("id"), 10, 64)
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound, "error.syncNotFound")
	}
	run, err := h.OrgSync.SyncRun(c.Request().Context(), uint(id))
	if err != nil {
		return withMessage(fmt.Errorf("load sync run %d: %w", id, err), "error.syncNotFound")
	}
	if !run.Running() {
		c.Response().Header().Set("HX-Trigger", "sync-finished")
	}
	return render(c, http.StatusOK, views.SyncRunStatus(run, ""))
}

func (h *Handlers) recentSyncs(c echo.Context) error {
	recent, err := h.OrgSync.RecentSyncRuns(c.Request().Context(), recentSyncLimit)
	if err != nil {
		return fmt.Errorf("load recent syncs: %w", err)
	}
	return render(c, http.StatusOK, views.RecentSyncs(recent))
}

func pathDeptID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, echo.NewHTTPError(http.StatusBadRequest, "error.badDepartment")
	}
	return id, nil
}
