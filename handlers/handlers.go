// Package handlers turns HTTP requests into service calls and rendered
// views. Handlers stay thin: bind, validate, call one service, render.
package handlers

import (
	"context"
	"log/slog"

	"github.com/alexedwards/scs/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dingfluence/dingfluence/auth"
	"github.com/dingfluence/dingfluence/locale"
	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/profile"
	"github.com/dingfluence/dingfluence/settings"
)

// UserStore is what the handlers read and write about the people using the app.
type UserStore interface {
	UserByID(ctx context.Context, id uint) (models.User, error)
	SetUserLocale(ctx context.Context, id uint, locale string) error
}

// Pinger reports whether the database answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Directory answers questions about the synced DingTalk org.
type Directory interface {
	// DepartmentTree, DepartmentTreeNode and DepartmentTreeShowing load departments
	// with their counts, opened (sub-departments loaded) as a screen shows them.
	DepartmentTree(ctx context.Context, parentID int64, open map[int64]bool) ([]models.DepartmentNode, error)
	DepartmentTreeNode(ctx context.Context, deptID int64, open map[int64]bool) (models.DepartmentNode, error)
	DepartmentTreeShowing(ctx context.Context, deptIDs []int64) ([]models.DepartmentNode, error)
	Department(ctx context.Context, deptID int64) (models.Department, error)
	SearchMembers(ctx context.Context, q models.MemberQuery) (models.MemberPage, error)
	// ExportMembers hands every member matching q to fn, in q's order, a batch at a time.
	ExportMembers(ctx context.Context, q models.MemberQuery, fn func([]models.MemberRow) error) error
}

// OrgSync starts the department and user syncs and tells how they stand (a run whose
// server died shows as interrupted, which only the service's clock can judge).
type OrgSync interface {
	// Start returns a *orgsync.BusyError with the running run when one covers the
	// same departments.
	Start(ctx context.Context, kind models.SyncKind, deptID int64, trigger models.SyncTrigger, actor string) (models.SyncRun, error)
	SyncRun(ctx context.Context, id uint) (models.SyncRun, error)
	RecentSyncRuns(ctx context.Context, limit int) ([]models.SyncRun, error)
	RunningSyncRuns(ctx context.Context) ([]models.SyncRun, error)
}

// DirectorySync starts the Confluence user directory sync and tells how its runs stand
// (*directory.Service implements it).
type DirectorySync interface {
	// Start returns the running run with started false when one is running, and
	// settings.ErrConfluenceNotConfigured, with no run, before Confluence is set up.
	Start(ctx context.Context, trigger models.DirectoryTrigger, actor string) (run models.DirectoryRun, started bool, err error)
	DirectoryRun(ctx context.Context, id uint) (models.DirectoryRun, error)
	RecentDirectoryRuns(ctx context.Context, limit int) ([]models.DirectoryRun, error)
}

// Profile serves the Profile → DingTalk tab (profile.Service).
type Profile interface {
	Tab(ctx context.Context, userID uint) (profile.Tab, error)
	// SaveAndSync returns a profile.ValidationError for an invalid input.
	SaveAndSync(ctx context.Context, userID uint, in profile.Input) (profile.Tab, error)
	// SendTestMessage sends a sample card to the user's own matched DingTalk userid.
	SendTestMessage(ctx context.Context, userID uint) (profile.TestResult, error)
}

// Identities answers questions about the Confluence users' DingTalk matches.
type Identities interface {
	UsersWithoutDingTalkMatch(ctx context.Context, q models.UnmatchedUserQuery) (models.UnmatchedUserPage, error)
}

// AuditLog reads the audit log.
type AuditLog interface {
	AuditPage(ctx context.Context, q models.AuditQuery) (models.AuditPage, error)
}

// Deps are the services the handlers call.
type Deps struct {
	Users     UserStore
	DB        Pinger
	Directory Directory
	OrgSync   OrgSync
	Audit     AuditLog
	Auth      *auth.Service
	// ConfluenceSignIn signs Confluence accounts in through OAuth 2.0; nil offers none.
	ConfluenceSignIn *auth.Confluence
	Settings         *settings.Service
	// Confluence is the Confluence connection: its screen, sign-in and clients.
	Confluence *settings.Confluence
	// DirectorySync syncs the Confluence users.
	DirectorySync DirectorySync
	Sessions      *scs.SessionManager
	Locales       *locale.Bundle
	Logger        *slog.Logger
	// Metrics receives the HTTP metrics and is served on /metrics.
	Metrics *prometheus.Registry
	// SecureCookies marks cookies Secure and turns on HSTS; on when the app is
	// served over https.
	SecureCookies bool
	// MetricsToken, when set, is the bearer token /metrics requires.
	MetricsToken string

	// Profile serves the Profile → DingTalk tab; Identities the unmatched-users list.
	Profile    Profile
	Identities Identities

	// Inbox receives the Confluence webhook; nil mounts no webhook endpoint.
	Inbox Inbox
	// WebhookURL is the webhook address the Confluence screen tells admins to paste
	// into Confluence: DINGFLUENCE_BASE_URL + WebhookPath.
	WebhookURL string
	// Deliveries serves the Deliveries screen.
	Deliveries Deliveries
}

// Handlers serves every screen of the app.
type Handlers struct {
	Deps
}

// New builds the handlers.
func New(d Deps) *Handlers {
	return &Handlers{Deps: d}
}

// session keys
const (
	sessionUserID = "user_id"
	sessionFlash  = "flash"
	// sessionEpoch is the user's SessionEpoch at sign-in; a password change
	// moves the user's on, which ends the session.
	sessionEpoch = "session_epoch"
	// sessionCSRF is the token every state-changing request must echo.
	sessionCSRF = "csrf_token"
)

// contextKey names values the middleware puts on the echo context.
const (
	ctxUser      = "df.user"
	ctxLocalizer = "df.localizer"
)
