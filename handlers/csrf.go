package handlers

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"net/http"

	"github.com/labstack/echo/v4"
)

// The CSRF token lives in the server-side session, not in a cookie of its
// own: a page on a sibling subdomain can plant cookies for this host (so a
// double-submit cookie proves nothing), but it cannot read or write what the
// session store holds for a session id it does not know.

// csrfToken returns the session's CSRF token, creating one on first use, so
// signed-out visitors get one for the sign-in and language forms too. It is
// called while a page is built, before anything is written, so the session
// is still saved with it.
func (h *Handlers) csrfToken(c echo.Context) string {
	ctx := c.Request().Context()
	if tok := h.Sessions.GetString(ctx, sessionCSRF); tok != "" {
		return tok
	}
	tok := rand.Text()
	h.Sessions.Put(ctx, sessionCSRF, tok)
	return tok
}

// rotateCSRF gives the session a new CSRF token, so a token seen before a
// sign-in (on a shared computer, in a page someone saved) is worth nothing
// after it.
func (h *Handlers) rotateCSRF(ctx context.Context) {
	h.Sessions.Put(ctx, sessionCSRF, rand.Text())
}

// verifyCSRF refuses every state-changing request that does not echo the
// session's token in the _csrf form field or the X-CSRF-Token header (htmx
// sends the latter, see static/app.js). Browsers that say the request came
// from another site are refused even with a token: same-site is not
// same-origin, and only our own origin serves our forms.
func (h *Handlers) verifyCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
			return next(c)
		}
		switch r.Header.Get("Sec-Fetch-Site") {
		case "cross-site", "same-site":
			return csrfRefused()
		}
		sent := r.Header.Get("X-CSRF-Token")
		if sent == "" {
			sent = c.FormValue("_csrf")
		}
		want := h.Sessions.GetString(r.Context(), sessionCSRF)
		if want == "" || subtle.ConstantTimeCompare([]byte(sent), []byte(want)) != 1 {
			return csrfRefused()
		}
		return next(c)
	}
}

// csrfRefused is the answer to a forged or stale form: its message says to
// reload the page.
func csrfRefused() error {
	return echo.NewHTTPError(http.StatusForbidden, "error.csrf")
}
