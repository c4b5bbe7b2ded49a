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

// machineRoute reports whether route (a route template) serves programs
// rather than people: probes, metrics and assets answer errors in plain text.
func machineRoute(route string) bool {
	switch route {
	case "/healthz", "/readyz", "/metrics", "/static/*":
		return true
	}
	return false
}

// page builds the chrome of a full page; title is a message id.
func (h *Handlers) page(c echo.Context, title, nav string) views.Page {
	p := views.Page{Title: t(c, title), Nav: nav, CSRF: h.csrfToken(c)}
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
	case c.Get(ctxLocalizer) == nil && machineRoute(c.Path()):
		err = c.String(status, message.Message)
	case c.Get(ctxLocalizer) == nil:
		// No route matched, or not with this method, so the session and the
		// viewer were never loaded: load them now, so a person still gets the
		// page in their language, with their menu.
		err = echo.WrapMiddleware(h.Sessions.LoadAndSave)(h.loadViewer(func(c echo.Context) error {
			return render(c, status, views.ErrorPage(h.page(c, "error.title", ""), answer.view(c)))
		}))(c)
	default:
		p := h.page(c, "error.title", "")
		err = render(c, status, views.ErrorPage(p, message))
	}
	if err != nil {
		h.Logger.ErrorContext(c.Request().Context(), "write error response", slog.Any("error", err))
	}
}
