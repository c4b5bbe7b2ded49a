package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/dingfluence/dingfluence/locale"
	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/orgsync"
	"github.com/dingfluence/dingfluence/profile"
	"github.com/dingfluence/dingfluence/settings"
	"github.com/dingfluence/dingfluence/views"
)

// errorAnswer is how a failed request is answered: a status and what to tell
// the visitor, as message ids.
type errorAnswer struct {
	Status  int
	Message string
	// Link is where the visitor can put things right, "" for nowhere in
	// particular; LinkLabel is the message id of its text.
	Link      string
	LinkLabel string
}

// mapError is the one place that decides what a domain error means to a
// visitor. Handlers return the services' errors as they come (wrapped with
// context); withMessage may give one the words of its screen.
func mapError(err error) errorAnswer {
	a := classify(err)
	var m *messageError
	if a.Status < http.StatusInternalServerError && errors.As(err, &m) {
		a.Message = m.id
	}
	return a
}

func classify(err error) errorAnswer {
	var he *echo.HTTPError
	var invalid settings.ValidationError
	var invalidProfile profile.ValidationError
	switch {
	case errors.As(err, &he):
		// Handlers' own refusals carry a message id; echo's (an unknown
		// route, a wrong method) carry its English status text.
		a := errorAnswer{Status: he.Code, Message: http.StatusText(he.Code)}
		if id, ok := he.Message.(string); ok {
			a.Message = id
		}
		return a
	case errors.Is(err, models.ErrNotFound):
		return errorAnswer{Status: http.StatusNotFound, Message: "error.notFound"}
	case errors.Is(err, orgsync.ErrBusy):
		return errorAnswer{Status: http.StatusConflict, Message: "error.syncBusy"}
	case errors.Is(err, settings.ErrNotConfigured):
		return errorAnswer{Status: http.StatusConflict, Message: "sync.notConfigured",
			Link: "/admin/dingtalk/settings", LinkLabel: "sync.notConfiguredLink"}
	case errors.Is(err, settings.ErrConfluenceNotConfigured):
		return errorAnswer{Status: http.StatusConflict, Message: "directory.notConfigured",
			Link: "/admin/confluence", LinkLabel: "directory.notConfiguredLink"}
	case errors.As(err, &invalid), errors.As(err, &invalidProfile):
		return errorAnswer{Status: http.StatusUnprocessableEntity, Message: "error.invalid"}
	}
	return errorAnswer{Status: http.StatusInternalServerError, Message: "error.internal"}
}

// errorTitle is the message id of an error page's title: what happened, by
// status, so a missing page does not read "Something went wrong".
func errorTitle(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "error.title.badRequest"
	case http.StatusUnauthorized:
		return "error.title.unauthorized"
	case http.StatusForbidden:
		return "error.title.forbidden"
	case http.StatusNotFound:
		return "error.title.notFound"
	case http.StatusMethodNotAllowed:
		return "error.title.methodNotAllowed"
	case http.StatusConflict:
		return "error.title.conflict"
	case http.StatusRequestEntityTooLarge:
		return "error.title.tooLarge"
	case http.StatusUnprocessableEntity:
		return "error.title.invalid"
	case http.StatusTooManyRequests:
		return "error.title.tooMany"
	}
	if status >= 500 {
		return "error.title"
	}
	return "error.title.badRequest"
}

// view translates the answer for the request. A route without a language
// (probes, metrics, assets) gets the status text: a message id means nothing
// to a load balancer or a person reading curl output.
func (a errorAnswer) view(c echo.Context) views.ErrorView {
	if locale.From(c.Request().Context()) == nil {
		return views.ErrorView{Message: http.StatusText(a.Status)}
	}
	v := views.ErrorView{Message: t(c, a.Message), Link: a.Link}
	if a.LinkLabel != "" {
		v.LinkLabel = t(c, a.LinkLabel)
	}
	return v
}

// messageError gives a domain error the words of the screen it happened on
// ("that department has not been synced" rather than "not found"); the
// mapper still decides its status.
type messageError struct {
	err error
	id  string
}

func (e *messageError) Error() string { return e.err.Error() }
func (e *messageError) Unwrap() error { return e.err }

// withMessage returns err shown with message id; nil stays nil.
func withMessage(err error, id string) error {
	if err == nil {
		return nil
	}
	return &messageError{err: err, id: id}
}
