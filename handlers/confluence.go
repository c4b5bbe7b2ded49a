package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/dingfluence/dingfluence/handlers/forms"
	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/settings"
	"github.com/dingfluence/dingfluence/views"
)

// recentDirectoryLimit is how many past directory syncs the Confluence screen lists.
const recentDirectoryLimit = 10

func (h *Handlers) confluenceForm(c echo.Context) error {
	set, err := h.Confluence.Load(c.Request().Context())
	// A secret sealed under another key cannot be used anyway; the rest can be shown,
	// and the admin can type the secret again.
	unreadable := errors.Is(err, models.ErrSecretUnreadable)
	if err != nil && !unreadable {
		return fmt.Errorf("load confluence settings: %w", err)
	}
	return h.renderConfluence(c, http.StatusOK, forms.ConfluenceFrom(set), nil, set, unreadable, "")
}

func (h *Handlers) saveConfluence(c echo.Context) error {
	var f forms.Confluence
	if err := c.Bind(&f); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "error.badForm").SetInternal(err)
	}
	ctx := c.Request().Context()
	in, errs := f.Validate()
	if len(errs) == 0 {
		err := h.Confluence.Save(ctx, in, currentUser(c).Username)
		if errs = forms.ConfluenceErrors(err); errs == nil && err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		stored, err := h.Confluence.Load(ctx)
		unreadable := errors.Is(err, models.ErrSecretUnreadable)
		if err != nil && !unreadable {
			return fmt.Errorf("load confluence settings: %w", err)
		}
		status := mapError(settings.ValidationError{}).Status
		return h.renderConfluence(c, status, f.WithoutSecrets(), errs, stored, unreadable, "")
	}
	h.flash(c, "confluence.saved")
	return c.Redirect(http.StatusSeeOther, "/admin/confluence")
}

// renderConfluence draws the screen with form f (never carrying a secret), what stored
// says about the secrets, the webhook (newSecret is shown only when just generated) and
// the directory syncs.
func (h *Handlers) renderConfluence(c echo.Context, status int, f forms.Confluence, errs forms.Errors, stored models.ConfluenceSettings, unreadable bool, newSecret string) error {
	ctx := c.Request().Context()
	recent, err := h.DirectorySync.RecentDirectoryRuns(ctx, recentDirectoryLimit)
	if err != nil {
		return fmt.Errorf("load recent directory syncs: %w", err)
	}
	webhook, err := h.webhookView(ctx, newSecret)
	if err != nil {
		return err
	}
	v := views.ConfluenceView{
		Form:     views.ConfluenceValues{BaseURL: f.BaseURL, AdminGroup: f.AdminGroup, UserGroup: f.UserGroup, OAuthClientID: f.OAuthClientID},
		Errors:   errs,
		HasToken: stored.HasToken, HasClientSecret: stored.HasOAuthClientSecret, SecretUnreadable: unreadable,
		RedirectURL: h.Confluence.RedirectURL(),
		Recent:      recent,
		Webhook:     webhook,
	}
	// One sync at a time, so a running one is the newest.
	if len(recent) > 0 && recent[0].Running() {
		v.Running = &recent[0]
	}
	return render(c, status, views.Confluence(h.page(c, "confluence.title", "confluence"), v))
}

// testConfluence asks Confluence about the token in the form, unsaved.
func (h *Handlers) testConfluence(c echo.Context) error {
	var f forms.Confluence
	if err := c.Bind(&f); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "error.badForm").SetInternal(err)
	}
	res, err := h.Confluence.TestConnection(c.Request().Context(), f.Check(), currentUser(c).Username)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.ConfluenceTestResult(confluenceTestView(res)))
}

// confluenceTestView words a Confluence connection test's outcome for the screen.
func confluenceTestView(r settings.ConfluenceTestResult) views.ConfluenceTestView {
	v := views.ConfluenceTestView{
		ProblemField: string(r.ProblemField),
		CurrentUser:  answerView(r.CurrentUser, true),
		Username:     r.Username, DisplayName: r.DisplayName,
		AdminGroup: r.AdminGroup, Admin: r.Admin, AdminCheck: answerView(r.AdminCheck, false),
		UserGroup: r.UserGroup, MemberList: answerView(r.MemberList, false),
	}
	switch r.Problem {
	case "":
	case settings.ConfluenceProblemBadBaseURL:
		v.Problem = "confluence.test.badBaseUrl"
	case settings.ConfluenceProblemNoToken:
		v.Problem = "confluence.test.noToken"
	case settings.ConfluenceProblemTokenUnreadable:
		v.Problem = "confluence.secretUnreadable"
	case settings.ConfluenceProblemTokenOtherOrigin:
		v.Problem = "confluence.test.tokenOtherOrigin"
	default:
		v.Problem = "error.internal"
	}
	return v
}

// answerView shows one refused call; for the token's own check (who am I) the status
// says what to fix, for the later ones it is about the account's rights.
func answerView(a settings.ConfluenceAnswer, tokenCheck bool) views.ConfluenceAnswerView {
	v := views.ConfluenceAnswerView{Failed: a.Failed(), Unreachable: a.Unreachable, Status: a.Status, Message: a.Message}
	switch {
	case !v.Failed || a.Unreachable:
	case a.Status == http.StatusUnauthorized:
		v.Hint = "confluence.test.unauthorized"
	case a.Status == http.StatusForbidden && tokenCheck:
		v.Hint = "confluence.test.forbidden"
	case a.Status == http.StatusForbidden:
		v.Hint = "confluence.test.notAdmin"
	case a.Status == http.StatusNotFound && tokenCheck:
		v.Hint = "confluence.test.notFound"
	case a.Status == http.StatusNotFound:
		v.Hint = "confluence.test.groupNotFound"
	default:
		v.Hint = "confluence.test.refused"
	}
	return v
}

// startDirectorySync starts Sync users now, or shows the sync already running. Not
// configured and busy are answered with a panel (2xx), since the button's htmx swaps
// only 2xx answers into the page.
func (h *Handlers) startDirectorySync(c echo.Context) error {
	run, started, err := h.DirectorySync.Start(c.Request().Context(), models.DirectoryTriggerUser, currentUser(c).Username)
	switch {
	case errors.Is(err, settings.ErrConfluenceNotConfigured):
		return render(c, http.StatusOK, views.DirectoryNotConfigured())
	case err != nil:
		return fmt.Errorf("start directory sync: %w", err)
	case !started:
		return render(c, http.StatusOK, views.DirectoryRunStatus(run, t(c, "directory.alreadyRunning")))
	}
	return render(c, http.StatusAccepted, views.DirectoryRunStatus(run, ""))
}

// directoryRun is polled by a running sync's panel; once the run has ended (or its
// server is gone) it answers the final state, without polling, and tells the recent
// list to refresh.
func (h *Handlers) directoryRun(c echo.Context) error {
	id, err := strconv.ParseUint(c.Param("id"), 10, 64)
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound, "error.syncNotFound")
	}
	run, err := h.DirectorySync.DirectoryRun(c.Request().Context(), uint(id))
	if err != nil {
		return withMessage(fmt.Errorf("load directory run %d: %w", id, err), "error.syncNotFound")
	}
	if !run.Running() {
		c.Response().Header().Set("HX-Trigger", "directory-sync-finished")
	}
	return render(c, http.StatusOK, views.DirectoryRunStatus(run, ""))
}

func (h *Handlers) recentDirectoryRuns(c echo.Context) error {
	recent, err := h.DirectorySync.RecentDirectoryRuns(c.Request().Context(), recentDirectoryLimit)
	if err != nil {
		return fmt.Errorf("load recent directory syncs: %w", err)
	}
	return render(c, http.StatusOK, views.RecentDirectoryRuns(recent))
}

// regenerateWebhookSecret generates a new webhook secret and answers the screen with it,
// the only time it is shown.
func (h *Handlers) regenerateWebhookSecret(c echo.Context) error {
	ctx := c.Request().Context()
	secret, err := h.Confluence.RegenerateWebhookSecret(ctx, currentUser(c).Username)
	if err != nil {
		return err
	}
	set, err := h.Confluence.Load(ctx)
	unreadable := errors.Is(err, models.ErrSecretUnreadable)
	if err != nil && !unreadable {
		return fmt.Errorf("load confluence settings: %w", err)
	}
	return h.renderConfluence(c, http.StatusOK, forms.ConfluenceFrom(set), nil, set, unreadable, secret)
}

// webhookView is the Webhook section: its URL, whether (and since when) a secret is
// set, and its health.
func (h *Handlers) webhookView(ctx context.Context, newSecret string) (views.WebhookView, error) {
	v := views.WebhookView{URL: h.WebhookURL, NewSecret: newSecret}
	secret, err := h.Confluence.WebhookSecret(ctx)
	v.SecretUnreadable = errors.Is(err, models.ErrSecretUnreadable)
	if err != nil && !v.SecretUnreadable {
		return v, fmt.Errorf("load webhook secret: %w", err)
	}
	v.SetAt = secret.SetAt
	if h.Inbox == nil {
		return v, nil
	}
	health, err := h.Inbox.Health(ctx)
	if err != nil {
		return v, err
	}
	v.LastArrival, v.RefusedTotal = health.LastArrival, health.Total
	for _, r := range models.WebhookRefusals() {
		if n := health.Refused[r]; n > 0 {
			v.Refused = append(v.Refused, views.WebhookRefusalCount{Reason: string(r), Count: n})
		}
	}
	return v, nil
}
