package handlers

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/dingfluence/dingfluence/locale"
	"github.com/dingfluence/dingfluence/models"
)

// requestLogger logs one line per request with log/slog.
func (h *Handlers) requestLogger() echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogURI: true, LogMethod: true, LogLatency: true, LogError: true,
		Skipper: func(c echo.Context) bool {
			return strings.HasPrefix(c.Path(), "/static/") || c.Path() == "/healthz"
		},
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			attrs := []slog.Attr{
				slog.String("method", v.Method), slog.String("uri", v.URI),
				slog.Int("status", v.Status), slog.Duration("latency", v.Latency),
			}
			if v.Error != nil {
				attrs = append(attrs, slog.String("error", v.Error.Error()))
			}
			h.Logger.LogAttrs(c.Request().Context(), slog.LevelInfo, "request", attrs...)
			return nil
		},
	})
}

// securityHeaders keeps pages out of frames and scripts to our own files.
func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		hd := c.Response().Header()
		// AUI and htmx set inline style attributes, so styles need
		// 'unsafe-inline'; scripts never do.
		hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Frame-Options", "DENY")
		return next(c)
	}
}

// csrf guards every state-changing request. Browsers are checked by their
// Sec-Fetch-Site header; anything else must echo the token from the cookie
// in the _csrf form field or the X-CSRF-Token header (htmx sends the
// latter, see static/app.js).
func (h *Handlers) csrf() echo.MiddlewareFunc {
	return middleware.CSRFWithConfig(middleware.CSRFConfig{
		TokenLookup:    "header:X-CSRF-Token,form:_csrf",
		CookieName:     "df_csrf",
		CookiePath:     "/",
		CookieHTTPOnly: true,
		CookieSecure:   h.SecureCookies,
		CookieSameSite: http.SameSiteLaxMode,
		ContextKey:     ctxCSRF,
		ErrorHandler: func(err error, c echo.Context) error {
			return echo.NewHTTPError(http.StatusForbidden, "error.csrf").SetInternal(err)
		},
	})
}

// loadViewer puts the signed-in user (if any) and a localizer for their
// language on the request.
func (h *Handlers) loadViewer(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		ctx := r.Context()
		preferred := locale.FromRequest(r)
		if id := h.Sessions.GetInt(ctx, sessionUserID); id > 0 {
			u, err := h.Users.UserByID(ctx, uint(id))
			switch {
			case errors.Is(err, models.ErrNotFound):
				// The account is gone; the session no longer means anything.
				_ = h.Sessions.Destroy(ctx)
			case err != nil:
				return err
			case !u.Enabled:
				_ = h.Sessions.Destroy(ctx)
			default:
				c.Set(ctxUser, &u)
				if u.Locale != "" {
					preferred = u.Locale
				}
			}
		}
		loc := h.Locales.Localizer(h.Locales.Match(preferred, r.Header.Get("Accept-Language")))
		c.Set(ctxLocalizer, loc)
		c.SetRequest(r.WithContext(locale.WithLocalizer(ctx, loc)))
		return next(c)
	}
}

// currentUser is the signed-in user, or nil.
func currentUser(c echo.Context) *models.User {
	u, _ := c.Get(ctxUser).(*models.User)
	return u
}

// requireSignIn sends signed-out browsers to the sign-in page and remembers
// where they were going.
func (h *Handlers) requireSignIn(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if currentUser(c) != nil {
			return next(c)
		}
		target := "/login"
		if c.Request().Method == http.MethodGet && c.Request().URL.Path != "/" {
			target += "?next=" + url.QueryEscape(c.Request().URL.RequestURI())
		}
		if isHTMX(c) {
			// htmx follows this header with a full page load.
			c.Response().Header().Set("HX-Redirect", target)
			return c.NoContent(http.StatusUnauthorized)
		}
		return c.Redirect(http.StatusSeeOther, target)
	}
}

// requireAdmin answers 403 to signed-in people without admin rights.
func (h *Handlers) requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if u := currentUser(c); u == nil || !u.IsAdmin {
			return echo.NewHTTPError(http.StatusForbidden, "error.forbidden")
		}
		return next(c)
	}
}

func isHTMX(c echo.Context) bool {
	return c.Request().Header.Get("HX-Request") == "true"
}

// safeNext keeps post-login redirects on this site.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}
