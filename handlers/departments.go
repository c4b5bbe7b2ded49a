package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

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
	running, err := h.OrgSync.RunningSyncRuns(ctx)
	if err != nil {
		return fmt.Errorf("load running syncs: %w", err)
	}
	// Opened down to the running syncs, so that after a reload each still shows on
	// its department's row.
	depts := make([]int64, len(running))
	for i, r := range running {
		depts[i] = r.DeptID
	}
	roots, err := h.Directory.DepartmentTreeShowing(ctx, depts)
	if err != nil {
		return fmt.Errorf("load the department tree: %w", err)
	}
	recent, err := h.OrgSync.RecentSyncRuns(ctx, recentSyncLimit)
	if err != nil {
		return fmt.Errorf("load recent syncs: %w", err)
	}
	configured, err := h.Settings.Configured(ctx)
	if err != nil {
		return fmt.Errorf("check the DingTalk settings: %w", err)
	}
	v := views.DepartmentsView{Roots: roots, Running: running, Recent: recent, Configured: configured}
	return render(c, http.StatusOK, views.Departments(h.page(c, "departments.title", "departments"), v))
}

// departmentChildren answers a department's expand toggle, and the refresh of an open
// department after a sync: its sub-departments, with those in ?open= open in turn.
func (h *Handlers) departmentChildren(c echo.Context) error {
	id, err := pathDeptID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	children, err := h.Directory.DepartmentTree(ctx, id, openDepartments(c))
	if err != nil {
		return fmt.Errorf("load sub-departments of %d: %w", id, err)
	}
	tree, err := h.deptTree(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.DepartmentChildren(children, tree))
}

// departmentRow redraws a department's row after a sync of it ended, with its new
// name and counts (and, when ?open= names it, its sub-departments). Before the first
// sync has stored the root, the root's placeholder is its row.
func (h *Handlers) departmentRow(c echo.Context) error {
	id, err := pathDeptID(c)
	if err != nil {
		return err
	}
	node, err := h.Directory.DepartmentTreeNode(c.Request().Context(), id, openDepartments(c))
	stored := err == nil
	switch {
	case errors.Is(err, models.ErrNotFound) && id == rootDepartmentID:
		node = models.DepartmentNode{Department: models.Department{DeptID: id}}
	case err != nil:
		return withMessage(fmt.Errorf("load department %d: %w", id, err), "error.departmentNotFound")
	}
	tree, err := h.deptTree(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.DepartmentRowRefresh(node, tree, stored))
}

// deptTree is what rows drawn outside the full page need: whether syncs can run, and
// the running syncs, so that sub-departments drawn again keep showing theirs.
func (h *Handlers) deptTree(c echo.Context) (views.DeptTree, error) {
	ctx := c.Request().Context()
	configured, err := h.Settings.Configured(ctx)
	if err != nil {
		return views.DeptTree{}, fmt.Errorf("check the DingTalk settings: %w", err)
	}
	running, err := h.OrgSync.RunningSyncRuns(ctx)
	if err != nil {
		return views.DeptTree{}, fmt.Errorf("load running syncs: %w", err)
	}
	return views.NewDeptTree(configured, running), nil
}

// maxOpenDepartments bounds ?open=: each open department costs a query.
const maxOpenDepartments = 200

// openDepartments reads ?open=2,3,5, the departments the page shows expanded;
// anything that is not a department id is ignored (it only opens less).
func openDepartments(c echo.Context) map[int64]bool {
	open := map[int64]bool{}
	for _, s := range strings.Split(c.QueryParam("open"), ",") {
		if id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil && id > 0 && len(open) < maxOpenDepartments {
			open[id] = true
		}
	}
	return open
}

// startSync starts one of the syncs of a department's actions menu (or Full sync
// now), or shows the one already running over the same departments; the answer is
// drawn on the department's row. A busy or unconfigured sync is answered with a
// panel, not left to the error mapper: htmx swaps only 2xx answers into the page,
// and the running run is the answer.
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
	status, note := http.StatusAccepted, ""
	switch {
	case errors.As(err, &busy):
		// The running run moves to the row pressed (the page drops its other copy).
		run, status = busy.Run, http.StatusOK
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
		status = http.StatusOK
	case err != nil:
		return fmt.Errorf("start %s of department %d: %w", kind, id, err)
	}
	if !run.Running() {
		syncFinished(c, run)
	}
	return render(c, status, views.SyncRunStatus(run, note))
}

// syncFinished tells the page that run has ended: the recent list refreshes, and the
// run's department's row and open sub-departments are fetched again (app.js).
func syncFinished(c echo.Context, run models.SyncRun) {
	c.Response().Header().Set("HX-Trigger", fmt.Sprintf(`{"sync-finished":{"dept":%d}}`, run.DeptID))
}

// syncRun is polled by a running sync's panel; once the run has ended (or its
// server is gone) it answers the final state (without polling) and tells the
// page to refresh the recent list and the run's department.
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
		syncFinished(c, run)
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
