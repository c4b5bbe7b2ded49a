package handlers

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/views"
)

// auditPageSize is how many entries one page of the Audit log screen lists.
const auditPageSize = 50

// auditLog lists the audit log, newest first, optionally of one action, one
// page at a time.
func (h *Handlers) auditLog(c echo.Context) error {
	v := views.AuditView{Action: models.AuditAction(c.QueryParam("action")), Page: 1}
	if v.Action != "" && !v.Action.Known() {
		return echo.NewHTTPError(http.StatusBadRequest, "error.badAuditAction")
	}
	if p, err := strconv.Atoi(c.QueryParam("page")); err == nil && p > 1 {
		v.Page = p
	}
	page, err := h.Audit.AuditPage(c.Request().Context(), models.AuditQuery{
		Action: v.Action, Offset: (v.Page - 1) * auditPageSize, Limit: auditPageSize,
	})
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	v.Entries, v.Total = page.Entries, page.Total
	v.TotalPages = (page.Total + auditPageSize - 1) / auditPageSize
	return render(c, http.StatusOK, views.Audit(h.page(c, "audit.title", "audit"), v))
}
