package handlers

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/dingfluence/dingfluence/locale"
	"github.com/dingfluence/dingfluence/views"
)

// render writes a templ component with status.
func render(c echo.Context, status int, component templ.Component) error {
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().WriteHeader(status)
	if err := component.Render(c.Request().Context(), c.Response()); err != nil {
		return fmt.Errorf("render %s: %w", c.Path(), err)
	}
	return nil
}

// t translates id in the request's language.
func t(c echo.Context, id string, data ...map[string]any) string {
	return locale.T(c.Request().Context(), id, data...)
}

// page builds the chrome of a full page; title is a message id.
func (h *Handlers) page(c echo.Context, title, nav string) views.Page {
	p := views.Page{Title: t(c, title), Nav: nav}
	if tok, ok := c.Get(ctxCSRF).(string); ok {
		p.CSRF = tok
	}
	if u := currentUser(c); u != nil {
		p.Viewer = &views.Viewer{Username: u.Username, DisplayName: u.DisplayName}
		p.Flash = h.Sessions.PopString(c.Request().Context(), sessionFlash)
	}
	return p
}

// flash stores a one-time success message (a message id) for the next page.
func (h *Handlers) flash(c echo.Context, id string) {
	h.Sessions.Put(c.Request().Context(), sessionFlash, t(c, id))
}

// errorHandler answers every error with a status and a message a person can
// act on: a page for browsers, a fragment for htmx, plain text otherwise.
// mapError decides the status and message; an internal error's details go to
// the log, not to the visitor.
func (h *Handlers) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	answer := mapError(err)
	status := answer.Status
	if status >= 500 {
		h.Logger.ErrorContext(c.Request().Context(), "request failed", slog.String("path", c.Path()), slog.Any("error", err))
	}
	message := answer.view(c)
	switch {
	case c.Request().Method == http.MethodHead:
		err = c.NoContent(status)
	case isHTMX(c):
		err = render(c, status, views.ErrorFragment(message))
	case c.Get(ctxLocalizer) == nil:
		// No session or language on this route (probes, assets).
		err = c.String(status, message.Message)
	default:
		p := h.page(c, "error.title", "")
		err = render(c, status, views.ErrorPage(p, message))
	}
	if err != nil {
		h.Logger.ErrorContext(c.Request().Context(), "write error response", slog.Any("error", err))
	}
}
