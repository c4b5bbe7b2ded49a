package handlers

import (
	"net/http"

	"github.com/labstack/echo-contrib/echoprometheus"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/dingfluence/dingfluence/static"
)

// Register mounts every route and the middleware chain on e.
func (h *Handlers) Register(e *echo.Echo) {
	e.HTTPErrorHandler = h.errorHandler
	e.Use(middleware.Recover())
	e.Use(h.requestLogger())
	e.Use(echoprometheus.NewMiddlewareWithConfig(echoprometheus.MiddlewareConfig{
		Subsystem:                 "http",
		Registerer:                h.Metrics,
		DoNotUseRequestPathFor404: true,
	}))
	e.Use(securityHeaders)
	e.Use(middleware.BodyLimit("1M"))

	// Probes and assets need neither a session nor a language.
	e.GET("/healthz", h.healthz)
	e.GET("/readyz", h.readyz)
	e.GET("/metrics", echoprometheus.NewHandlerWithConfig(echoprometheus.HandlerConfig{Gatherer: h.Metrics}))
	e.GET("/static/*", echo.WrapHandler(http.StripPrefix("/static/", staticHandler(http.FS(static.FS())))))

	app := e.Group("", echo.WrapMiddleware(h.Sessions.LoadAndSave), h.csrf(), h.loadViewer)
	app.GET("/login", h.loginForm)
	app.POST("/login", h.login)
	app.POST("/language", h.setLanguage)

	signedIn := app.Group("", h.requireSignIn)
	signedIn.GET("/", h.home)
	signedIn.POST("/logout", h.logout)
	signedIn.GET("/profile", h.profile)

	admin := app.Group("/admin", h.requireSignIn, h.requireAdmin)
	admin.GET("", h.adminHome)
	admin.GET("/dingtalk/settings", h.settingsForm)
	admin.POST("/dingtalk/settings", h.saveSettings)
	admin.POST("/dingtalk/settings/test", h.testConnection)
	admin.GET("/dingtalk/departments", h.departments)
	admin.GET("/dingtalk/departments/:id/children", h.departmentChildren)
	admin.POST("/dingtalk/departments/:id/sync", h.startSync)
	admin.GET("/dingtalk/syncs", h.recentSyncs)
	admin.GET("/dingtalk/syncs/:id", h.syncRun)
	admin.GET("/dingtalk/members", h.members)
	admin.GET("/audit", h.auditLog)
}

// staticHandler serves the embedded assets with a long cache lifetime; the
// vendored files only change with a release.
func staticHandler(files http.FileSystem) http.Handler {
	fs := http.FileServer(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		fs.ServeHTTP(w, r)
	})
}
