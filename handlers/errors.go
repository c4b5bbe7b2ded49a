package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/orgsync"
	"github.com/dingfluence/dingfluence/settings"
)

// errorStatus is the one place that decides what a visitor is told about an
// error: its HTTP status and the message id of the text they read. Handlers
// return the domain errors of the services as they are (wrapped with context);
// an *echo.HTTPError says itself what to show. Anything unknown is a 500 whose
// details stay in the log.
func errorStatus(err error) (status int, msgID string) {
	var he *echo.HTTPError
	switch {
	case errors.As(err, &he):
		if id, ok := he.Message.(string); ok {
			return he.Code, id
		}
		// echo's own errors (404, 405, 413) carry their status text, which the
		// catalogue translates.
		return he.Code, http.StatusText(he.Code)
	case errors.Is(err, models.ErrNotFound):
		return http.StatusNotFound, http.StatusText(http.StatusNotFound)
	case errors.Is(err, orgsync.ErrBusy):
		return http.StatusConflict, "sync.overlapping"
	case errors.Is(err, settings.ErrNotConfigured):
		return http.StatusConflict, "sync.notConfigured"
	case errors.Is(err, models.ErrSecretUnreadable):
		return http.StatusConflict, "settings.secretUnreadable"
	case errors.Is(err, models.ErrDuplicate):
		return http.StatusConflict, "error.duplicate"
	}
	return http.StatusInternalServerError, "error.internal"
}
