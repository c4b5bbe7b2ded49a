package handlers

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/dingfluence/dingfluence/auth"
	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/views"
)

func (h *Handlers) loginForm(c echo.Context) error {
	next := safeNext(c.QueryParam("next"))
	if currentUser(c) != nil {
		return c.Redirect(http.StatusSeeOther, next)
	}
	return h.renderLogin(c, http.StatusOK, "", next, "")
}

func (h *Handlers) login(c echo.Context) error {
	username, password := c.FormValue("username"), c.FormValue("password")
	next := safeNext(c.FormValue("next"))
	ctx := c.Request().Context()
	u, err := h.Auth.Authenticate(ctx, username, password, c.RealIP())
	if err != nil {
		return h.loginFailed(c, username, next, err)
	}
	if err := h.startSession(ctx, u); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, next)
}

// loginFailed answers a refused sign-in, of any kind, with the sign-in page and a
// message that says why; errors that are nobody's doing at sign-in go to the error page.
func (h *Handlers) loginFailed(c echo.Context, username, next string, err error) error {
	var throttled *auth.ThrottledError
	switch {
	case errors.As(err, &throttled):
		seconds := int(math.Ceil(throttled.RetryAfter.Seconds()))
		c.Response().Header().Set("Retry-After", fmt.Sprint(seconds))
		return h.renderLogin(c, http.StatusTooManyRequests, username, next, t(c, "login.throttled", map[string]any{"Seconds": seconds}))
	case errors.Is(err, auth.ErrUsernameTooLong):
		return h.renderLogin(c, http.StatusUnprocessableEntity, username, next, t(c, "login.error.usernameTooLong"))
	case errors.Is(err, auth.ErrUsernameNotUTF8):
		return h.renderLogin(c, http.StatusUnprocessableEntity, username, next, t(c, "login.error.usernameNotUTF8"))
	case errors.Is(err, auth.ErrInvalidCredentials):
		return h.renderLogin(c, http.StatusUnauthorized, username, next, t(c, "login.invalid"))
	}
	if status, id, ok := confluenceFailure(err); ok {
		return h.renderLogin(c, status, username, next, t(c, id))
	}
	return fmt.Errorf("sign in: %w", err)
}

// renderLogin renders the sign-in page with the Confluence sign-ins that are set up.
func (h *Handlers) renderLogin(c echo.Context, status int, username, next, msg string) error {
	v := views.LoginView{Username: username, Next: next, Error: msg}
	if h.ConfluenceSignIn != nil {
		offered := h.ConfluenceSignIn.Offered(c.Request().Context())
		v.ConfluencePassword = offered.Password
		if offered.OAuth {
			v.ConfluenceOAuthURL = confluenceLoginURL(next)
		}
	}
	return render(c, status, views.Login(h.page(c, "login.title", ""), v))
}

// startSession signs u in on this request's session. Every way of signing in
// goes through here, so each gets the same guarantees.
func (h *Handlers) startSession(ctx context.Context, u models.User) error {
	// A new session id on sign-in, so an id planted before cannot be
	// carried into the signed-in session.
	if err := h.Sessions.RenewToken(ctx); err != nil {
		return fmt.Errorf("renew session: %w", err)
	}
	h.Sessions.Put(ctx, sessionUserID, int(u.ID))
	// loadViewer ends the session once the user's epoch moves on (a
	// password reset).
	h.Sessions.Put(ctx, sessionEpoch, u.SessionEpoch)
	h.rotateCSRF(ctx)
	return nil
}

func (h *Handlers) logout(c echo.Context) error {
	ctx := c.Request().Context()
	if err := h.Sessions.Destroy(ctx); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	// The signed-out visitor starts over with a token of their own, and the
	// log-in page they land on says the log-out worked.
	h.rotateCSRF(ctx)
	h.flash(c, "login.loggedOut")
	return c.Redirect(http.StatusSeeOther, "/login")
}

// home sends admins to the console and everybody else to their profile.
func (h *Handlers) home(c echo.Context) error {
	if u := currentUser(c); u != nil && u.IsAdmin {
		return c.Redirect(http.StatusSeeOther, "/admin")
	}
	return c.Redirect(http.StatusSeeOther, "/profile")
}

func (h *Handlers) adminHome(c echo.Context) error {
	return c.Redirect(http.StatusSeeOther, "/admin/dingtalk/settings")
}
