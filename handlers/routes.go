package handlers

import (
	"crypto/sha256"
	"crypto/subtle"
	"io/fs"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo-contrib/echoprometheus"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/dingfluence/dingfluence/static"
)

// Register mounts every route and the middleware chain on e.
func (h *Handlers) Register(e *echo.Echo) {
	e.HTTPErrorHandler = h.errorHandler
	known := routeSet{}
	e.Use(middleware.Recover())
	e.Use(h.requestLogger())
	e.Use(echoprometheus.NewMiddlewareWithConfig(echoprometheus.MiddlewareConfig{
		Subsystem:                 "http",
		Registerer:                h.Metrics,
		DoNotUseRequestPathFor404: true,
		// Every label value comes from a fixed set, never from the request
		// as sent: one series per Host header or unknown path would let
		// anybody grow /metrics without bound.
		LabelFuncs: map[string]echoprometheus.LabelValueFunc{
			"host":   func(echo.Context, error) string { return "" },
			"url":    func(c echo.Context, _ error) string { return known.label(c.Path()) },
			"method": func(c echo.Context, _ error) string { return methodLabel(c.Request().Method) },
		},
	}))
	e.Use(h.securityHeaders)
	// The webhook reads its body itself, up to its own 1 MiB, so that a refusal for
	// size is answered in its JSON and counted on the Confluence screen.
	e.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{
		Limit:   "1M",
		Skipper: func(c echo.Context) bool { return c.Path() == WebhookPath },
	}))

	// Probes and assets need neither a session nor a language.
	root := routes{e: e}
	root.get("/healthz", h.healthz)
	root.get("/readyz", h.readyz)
	root.get("/metrics", h.metrics())
	root.get("/static/*", echo.WrapHandler(http.StripPrefix("/static/", staticHandler(http.FS(static.FS())))))
	// Browsers ask for /favicon.ico on every page whatever <link rel=icon> says.
	root.get("/favicon.ico", echo.WrapHandler(favicon(http.FS(static.FS()))))
	// Confluence's webhook is a machine endpoint: no session and no CSRF token (it
	// could send neither); the HMAC signature authenticates it. It is the only POST
	// outside the session and CSRF chain below.
	if h.Inbox != nil {
		root.post(WebhookPath, h.confluenceWebhook)
	}

	// The sign-in page and the language form work signed out, so the session
	// (and its CSRF token) is there for everybody. The viewer and their
	// language are loaded before the CSRF check so its refusal is translated.
	app := root.with("", echo.WrapMiddleware(h.Sessions.LoadAndSave), h.loadViewer, noStore, h.verifyCSRF)
	app.get("/login", h.loginForm)
	app.post("/login", h.login)
	if h.ConfluenceSignIn != nil {
		app.get("/login/confluence", h.loginConfluence)
		app.get(ConfluenceCallbackPath, h.confluenceCallback)
	}
	app.post("/language", h.setLanguage)

	signedIn := app.with("", h.requireSignIn)
	signedIn.get("/", h.home)
	signedIn.post("/logout", h.logout)
	signedIn.get("/profile", h.profile)
	signedIn.get("/profile/dingtalk", h.profileDingTalk)
	signedIn.post("/profile/dingtalk", h.saveProfileDingTalk)
	signedIn.post("/profile/dingtalk/test", h.sendTestMessage)

	admin := app.with("/admin", h.requireSignIn, h.requireAdmin)
	admin.get("", h.adminHome)
	admin.get("/confluence", h.confluenceForm)
	admin.post("/confluence", h.saveConfluence)
	admin.post("/confluence/test", h.testConfluence)
	admin.post("/confluence/webhook/secret", h.regenerateWebhookSecret)
	admin.post("/confluence/directory/sync", h.startDirectorySync)
	admin.get("/confluence/directory/runs", h.recentDirectoryRuns)
	admin.get("/confluence/directory/runs/:id", h.directoryRun)
	admin.get("/dingtalk/settings", h.settingsForm)
	admin.post("/dingtalk/settings", h.saveSettings)
	admin.post("/dingtalk/settings/test", h.testConnection)
	admin.get("/dingtalk/departments", h.departments)
	admin.get("/dingtalk/departments/:id/children", h.departmentChildren)
	admin.get("/dingtalk/departments/:id/row", h.departmentRow)
	admin.post("/dingtalk/departments/:id/sync", h.startSync)
	admin.get("/dingtalk/syncs", h.recentSyncs)
	admin.get("/dingtalk/syncs/:id", h.syncRun)
	admin.get("/dingtalk/members", h.members)
	admin.get("/dingtalk/members.csv", h.membersCSV)
	admin.get("/dingtalk/members/unmatched", h.unmatched)
	admin.get("/dingtalk/deliveries", h.deliveries)
	admin.get("/dingtalk/deliveries/:id", h.deliveryEvent)
	admin.post("/dingtalk/deliveries/:id/retry", h.retryDelivery)
	// Read-only on purpose: no POST route, so only the user changes their own tab.
	admin.get("/users/:id/dingtalk", h.adminUserDingTalk)
	admin.get("/audit", h.auditLog)

	for _, r := range e.Routes() {
		known[r.Path] = true
	}
}

// routes registers handlers with their middleware on each route rather than
// on an echo.Group: a group with middleware adds catch-all routes for its
// prefix, and those answer a wrong method on an existing route with the
// group's middleware (a CSRF 403, a sign-in redirect) instead of 405 with
// Allow.
type routes struct {
	e      *echo.Echo
	prefix string
	mw     []echo.MiddlewareFunc
}

// with returns routes under prefix that run mw after the current chain.
func (r routes) with(prefix string, mw ...echo.MiddlewareFunc) routes {
	return routes{e: r.e, prefix: r.prefix + prefix, mw: append(slices.Clone(r.mw), mw...)}
}

// get registers path for GET and HEAD; echo does not answer HEAD on its own,
// and load balancers and link checkers probe with it.
func (r routes) get(path string, h echo.HandlerFunc) {
	r.e.GET(r.prefix+path, h, r.mw...)
	r.e.HEAD(r.prefix+path, h, r.mw...)
}

// post registers path for POST.
func (r routes) post(path string, h echo.HandlerFunc) {
	r.e.POST(r.prefix+path, h, r.mw...)
}

// routeSet holds the registered route templates, the only values the url
// label of the HTTP metrics takes.
type routeSet map[string]bool

// label is the metrics label for route path p: the template itself, or one
// shared value for requests no route matched.
func (s routeSet) label(p string) string {
	if s[p] {
		return p
	}
	return "unmatched"
}

// methodLabel keeps the method label to the standard methods; anything else
// a client makes up counts as "other".
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// metrics serves /metrics, behind a bearer token when one is configured.
func (h *Handlers) metrics() echo.HandlerFunc {
	serve := echoprometheus.NewHandlerWithConfig(echoprometheus.HandlerConfig{Gatherer: h.Metrics})
	if h.MetricsToken == "" {
		return serve
	}
	// Comparing digests keeps the comparison constant-time in the token's
	// length too.
	want := sha256.Sum256([]byte(h.MetricsToken))
	return func(c echo.Context) error {
		scheme, token, _ := strings.Cut(c.Request().Header.Get(echo.HeaderAuthorization), " ")
		got := sha256.Sum256([]byte(token))
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="metrics"`)
			return echo.ErrUnauthorized
		}
		return serve(c)
	}
}

// staticHandler serves the embedded assets with a long cache lifetime; the
// vendored files only change with a release. Directories are not listed.
func staticHandler(files http.FileSystem) http.Handler {
	server := http.FileServer(filesOnly{files})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		server.ServeHTTP(w, r)
	})
}

// favicon serves the embedded icon at the site's root, cached like the other
// assets.
func favicon(files http.FileSystem) http.Handler {
	server := staticHandler(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/" + static.Favicon
		server.ServeHTTP(w, r2)
	})
}

// filesOnly hides the directories of a file system, so http.FileServer
// answers 404 for them instead of listing what they hold.
type filesOnly struct{ http.FileSystem }

func (f filesOnly) Open(name string) (http.File, error) {
	file, err := f.FileSystem.Open(name)
	if err != nil {
		return nil, err
	}
	st, err := file.Stat()
	if err != nil || st.IsDir() {
		_ = file.Close()
		return nil, fs.ErrNotExist
	}
	return file, nil
}
