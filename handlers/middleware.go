package handlers

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

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

// securityHeaders keeps pages out of frames and scripts to our own files,
// and, when the app is served over https, tells browsers to never use plain
// http for it again.
func (h *Handlers) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		hd := c.Response().Header()
		// AUI and htmx set inline style attributes, so styles need
		// 'unsafe-inline'; scripts never do.
		hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Frame-Options", "DENY")
		if h.SecureCookies {
			// One year; no includeSubDomains, since sibling hosts are not ours
			// to commit to https.
			hd.Set("Strict-Transport-Security", "max-age=31536000")
		}
		return next(c)
	}
}

// noStore keeps pages built from a session (names, settings, CSRF tokens)
// out of browser and proxy caches, so the back button on a shared computer
// does not show them after sign-out.
func noStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-store")
		return next(c)
	}
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
			case h.Sessions.GetInt64(ctx, sessionEpoch) != u.SessionEpoch:
				// The password changed since this session signed in (a
				// break-glass reset): whoever held it must sign in again.
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

// safeNext keeps post-login redirects on this site: it returns next only if
// it is a path on this origin, else "/". Browsers are lenient with Location
// (they drop tabs and newlines, read a backslash as a slash), so anything
// that could turn into "//host" after such clean-up is refused, in its raw
// and its percent-decoded form.
func safeNext(next string) string {
	if !isLocalPath(next) {
		return "/"
	}
	if decoded, err := url.PathUnescape(next); err != nil || !isLocalPath(decoded) {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return "/"
	}
	return next
}

// isLocalPath reports whether p starts with exactly one slash and holds no
// control character or backslash.
func isLocalPath(p string) bool {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") {
		return false
	}
	for _, r := range p {
		if r == '\\' || unicode.IsControl(r) || r == utf8.RuneError {
			return false
		}
	}
	return true
}
