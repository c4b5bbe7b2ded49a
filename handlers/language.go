package handlers

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/dingfluence/dingfluence/locale"
)

// setLanguage overrides the browser's Accept-Language: in a cookie for
// everybody, and on the account of a signed-in person so it follows them.
func (h *Handlers) setLanguage(c echo.Context) error {
	lang := c.FormValue("lang")
	if !locale.IsSupported(lang) {
		return echo.NewHTTPError(http.StatusBadRequest, "error.language")
	}
	c.SetCookie(&http.Cookie{
		Name: locale.CookieName, Value: lang, Path: "/", MaxAge: 365 * 24 * 3600,
		HttpOnly: true, Secure: h.SecureCookies, SameSite: http.SameSiteLaxMode,
	})
	if u := currentUser(c); u != nil {
		if err := h.Users.SetUserLocale(c.Request().Context(), u.ID, lang); err != nil {
			return fmt.Errorf("store language: %w", err)
		}
	}
	back := "/"
	if ref, err := url.Parse(c.Request().Referer()); err == nil && ref.Host == c.Request().Host {
		back = safeNext(ref.RequestURI())
	}
	return c.Redirect(http.StatusSeeOther, back)
}
