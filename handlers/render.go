package handlers

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/dingfluence/dingfluence/auth"
	"github.com/dingfluence/dingfluence/locale"
	"github.com/dingfluence/dingfluence/models"
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
	case "/healthz", "/readyz", "/metrics", "/static/*", "/favicon.ico", WebhookPath:
		return true
	}
	return false
}

// page builds the chrome of a full page; title is a message id. The one-time
// message is shown signed out too: the log-in page says a log-out worked.
func (h *Handlers) page(c echo.Context, title, nav string) views.Page {
	p := views.Page{Title: t(c, title), Nav: nav, CSRF: h.csrfToken(c)}
	if u := currentUser(c); u != nil {
		p.Viewer = &views.Viewer{Username: u.Username, DisplayName: displayName(c, *u), IsAdmin: u.IsAdmin}
	}
	p.Flash = h.Sessions.PopString(c.Request().Context(), sessionFlash)
	return p
}

// displayName is how u is named on screen. The local admin's stored name is
// the English word the account was created with, so it is shown in the
// reader's language instead; a Confluence user's name is theirs.
func displayName(c echo.Context, u models.User) string {
	if u.PasswordHash != "" && u.Username == auth.AdminUsername && u.DisplayName == auth.AdminDisplayName {
		return t(c, "layout.localAdmin")
	}
	return u.DisplayName
}

// errorPage is the chrome of an error page: titled with what happened, and
// with the sidebar entry of the screen it happened on selected.
func (h *Handlers) errorPage(c echo.Context, status int) views.Page {
	return h.page(c, errorTitle(status), views.NavFor(c.Request().URL.Path))
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
			return render(c, status, views.ErrorPage(h.errorPage(c, status), answer.view(c)))
		}))(c)
	default:
		err = render(c, status, views.ErrorPage(h.errorPage(c, status), message))
	}
	if err != nil {
		h.Logger.ErrorContext(c.Request().Context(), "write error response", slog.Any("error", err))
	}
}
