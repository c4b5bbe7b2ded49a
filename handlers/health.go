package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// healthz says the process is up.
func (h *Handlers) healthz(c echo.Context) error {
	return c.String(http.StatusOK, "ok")
}

// readyz says whether the database answers, so a load balancer only sends
// traffic to instances that can serve it.
func (h *Handlers) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := h.DB.Ping(ctx); err != nil {
		h.Logger.WarnContext(ctx, "readiness check failed", "error", err)
		return c.String(http.StatusServiceUnavailable, "database unreachable")
	}
	return c.String(http.StatusOK, "ready")
}
