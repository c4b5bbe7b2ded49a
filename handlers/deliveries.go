package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/views"
)

// Deliveries serves the Deliveries screen (*models.Store).
type Deliveries interface {
	DeliveryEvents(ctx context.Context, q models.DeliveryEventQuery) (models.DeliveryEventPage, error)
	DeliveryEventDetail(ctx context.Context, id uint64) (models.DeliveryEventDetail, error)
	// RetryDelivery returns models.ErrNotRetryable unless the delivery is dead or unknown.
	RetryDelivery(ctx context.Context, eventID, id uint64, actor, address string, now time.Time) error
}

// deliveriesPageSize is how many events one page of the Deliveries screen lists.
const deliveriesPageSize = 25

// deliveries lists recent events, newest first, filtered by status and title.
func (h *Handlers) deliveries(c echo.Context) error {
	v := views.DeliveriesView{Query: strings.TrimSpace(c.QueryParam("q")), Page: 1, PageSize: deliveriesPageSize}
	if s := models.EventStatus(c.QueryParam("status")); s != "" {
		known := false
		for _, k := range models.EventStatuses() {
			known = known || s == k
		}
		if !known {
			return echo.NewHTTPError(http.StatusBadRequest, "deliveries.error.badStatus")
		}
		v.Status = s
	}
	if p, err := strconv.Atoi(c.QueryParam("page")); err == nil && p > 1 {
		v.Page = p
	}
	result, err := h.Deliveries.DeliveryEvents(c.Request().Context(), models.DeliveryEventQuery{
		Status: v.Status, Search: v.Query, Offset: (v.Page - 1) * v.PageSize, Limit: v.PageSize,
	})
	if err != nil {
		return fmt.Errorf("list events: %w", err)
	}
	v.Result = result
	v.TotalPages = (result.Total + v.PageSize - 1) / v.PageSize
	return render(c, http.StatusOK, views.Deliveries(h.page(c, "deliveries.title", "deliveries"), v))
}

// deliveryEvent shows one event with its deliveries and dropped watchers.
func (h *Handlers) deliveryEvent(c echo.Context) error {
	id, err := pathEventID(c)
	if err != nil {
		return err
	}
	detail, err := h.Deliveries.DeliveryEventDetail(c.Request().Context(), id)
	if err != nil {
		return withMessage(fmt.Errorf("load event %d: %w", id, err), "deliveries.error.eventNotFound")
	}
	p := h.page(c, "deliveries.title", "deliveries")
	p.Title = t(c, "deliveries.eventTitle", map[string]any{"ID": id})
	return render(c, http.StatusOK, views.DeliveryEvent(p, views.DeliveryEventView{Detail: detail}))
}

// retryDelivery sends a dead or unknown delivery back to pending (audited), then shows
// its event again.
func (h *Handlers) retryDelivery(c echo.Context) error {
	eventID, err := pathEventID(c)
	if err != nil {
		return err
	}
	id, err := strconv.ParseUint(c.FormValue("delivery"), 10, 64)
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "deliveries.error.badDelivery")
	}
	err = h.Deliveries.RetryDelivery(c.Request().Context(), eventID, id, currentUser(c).Username, c.RealIP(), time.Now())
	switch {
	case errors.Is(err, models.ErrNotRetryable):
		return echo.NewHTTPError(http.StatusConflict, "deliveries.error.notRetryable")
	case err != nil:
		return withMessage(fmt.Errorf("retry delivery %d of event %d: %w", id, eventID, err), "deliveries.error.deliveryNotFound")
	}
	h.flash(c, "deliveries.retried")
	return c.Redirect(http.StatusSeeOther, views.DeliveriesPath+"/"+strconv.FormatUint(eventID, 10))
}

func pathEventID(c echo.Context) (uint64, error) {
	id, err := strconv.ParseUint(c.Param("id"), 10, 64)
	if err != nil || id == 0 {
		return 0, echo.NewHTTPError(http.StatusNotFound, "deliveries.error.eventNotFound")
	}
	return id, nil
}
