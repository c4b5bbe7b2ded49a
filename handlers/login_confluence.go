package handlers

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/dingfluence/dingfluence/auth"
)

// Session keys of a started "Sign in with Confluence": the one-time state, the PKCE
// verifier and where to go afterwards. They live only in the server-side session, so
// the callback can be tied to the browser that started it.
const (
	sessionOAuthState    = "oauth_state"
	sessionOAuthVerifier = "oauth_verifier"
	sessionOAuthNext     = "oauth_next"
)

// loginConfluence starts signing in through Confluence's OAuth 2.0 provider.
func (h *Handlers) loginConfluence(c echo.Context) error {
	next := safeNext(c.QueryParam("next"))
	if currentUser(c) != nil {
		return c.Redirect(http.StatusSeeOther, next)
	}
	ctx := c.Request().Context()
	start, err := h.ConfluenceSignIn.BeginOAuth(ctx)
	if err != nil {
		return h.loginFailed(c, "", next, err)
	}
	// A second start replaces the first: only the newest state is accepted.
	h.Sessions.Put(ctx, sessionOAuthState, start.State)
	h.Sessions.Put(ctx, sessionOAuthVerifier, start.Verifier)
	h.Sessions.Put(ctx, sessionOAuthNext, next)
	return c.Redirect(http.StatusFound, start.URL)
}

// confluenceCallback is where Confluence sends the browser back after consent.
func (h *Handlers) confluenceCallback(c echo.Context) error {
	ctx := c.Request().Context()
	// Taken out whatever happens next, so a state is good for one callback only.
	want := h.Sessions.PopString(ctx, sessionOAuthState)
	verifier := h.Sessions.PopString(ctx, sessionOAuthVerifier)
	next := safeNext(h.Sessions.PopString(ctx, sessionOAuthNext))
	q := c.QueryParams()
	u, err := h.ConfluenceSignIn.CompleteOAuth(ctx, auth.OAuthCallback{
		WantState: want, Verifier: verifier,
		State: q.Get("state"), Code: q.Get("code"), Error: q.Get("error"), ErrorDescription: q.Get("error_description"),
	}, c.RealIP())
	if err != nil {
		return h.loginFailed(c, "", next, err)
	}
	if err := h.startSession(ctx, u); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, next)
}

// confluenceFailureStatus is the status the sign-in page is answered with after a
// Confluence sign-in failed for each reason.
var confluenceFailureStatus = map[auth.Failure]int{
	auth.FailureNotConfigured: http.StatusConflict,
	auth.FailureState:         http.StatusBadRequest,
	auth.FailureDenied:        http.StatusForbidden,
	auth.FailureUnreachable:   http.StatusBadGateway,
	auth.FailureMisconfigured: http.StatusBadGateway,
	auth.FailureCodeRejected:  http.StatusBadRequest,
	auth.FailureDeactivated:   http.StatusForbidden,
	auth.FailureLocalAccount:  http.StatusConflict,
	auth.FailureNoUserKey:     http.StatusBadGateway,
}

// confluenceFailure is the status and message id of a failed Confluence sign-in.
func confluenceFailure(err error) (int, string, bool) {
	var ce *auth.ConfluenceError
	if !errors.As(err, &ce) {
		return 0, "", false
	}
	status, ok := confluenceFailureStatus[ce.Failure]
	if !ok {
		status = http.StatusBadGateway
	}
	return status, "login.confluence." + string(ce.Failure), true
}

// confluenceLoginURL is the address of the "Sign in with Confluence" button.
func confluenceLoginURL(next string) string {
	if next == "/" {
		return "/login/confluence"
	}
	return "/login/confluence?next=" + url.QueryEscape(next)
}
