package handlers

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/dingfluence/dingfluence/handlers/forms"
	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/settings"
	"github.com/dingfluence/dingfluence/views"
)

func (h *Handlers) settingsForm(c echo.Context) error {
	set, err := h.Settings.Load(c.Request().Context())
	// A secret sealed under another key cannot be shown anyway; the rest of
	// the settings can, and the admin can type the secret again.
	unreadable := errors.Is(err, models.ErrSecretUnreadable)
	if err != nil && !unreadable {
		return fmt.Errorf("load settings: %w", err)
	}
	v := views.SettingsView{Form: views.SettingsValues(forms.SettingsFrom(set)), HasSecret: set.HasSecret, SecretUnreadable: unreadable}
	return render(c, http.StatusOK, views.Settings(h.page(c, "settings.title", "settings"), v))
}

func (h *Handlers) saveSettings(c echo.Context) error {
	var f forms.Settings
	if err := c.Bind(&f); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "error.badForm").SetInternal(err)
	}
	ctx := c.Request().Context()
	in, errs := f.Validate()
	if len(errs) == 0 {
		err := h.Settings.Save(ctx, in, currentUser(c).Username)
		if errs = forms.SettingsErrors(err); errs == nil && err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		stored, err := h.Settings.Load(ctx)
		if err != nil && !errors.Is(err, models.ErrSecretUnreadable) {
			return fmt.Errorf("load settings: %w", err)
		}
		f.AppSecret = "" // never echo a secret back into the page
		v := views.SettingsView{Form: views.SettingsValues(f), Errors: errs, HasSecret: stored.HasSecret}
		status := mapError(settings.ValidationError{}).Status
		return render(c, status, views.Settings(h.page(c, "settings.title", "settings"), v))
	}
	h.flash(c, "settings.saved")
	return c.Redirect(http.StatusSeeOther, "/admin/dingtalk/settings")
}

// testConnection fetches a token with the values in the form, unsaved.
func (h *Handlers) testConnection(c echo.Context) error {
	var f forms.Settings
	if err := c.Bind(&f); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "error.badForm").SetInternal(err)
	}
	res, err := h.Settings.TestConnection(c.Request().Context(), f.Credentials(), currentUser(c).Username)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.TestConnectionResult(testResultView(res)))
}

// testResultView words a connection test's outcome for the Settings screen.
func testResultView(r settings.TestResult) views.TestResultView {
	v := views.TestResultView{OK: r.OK, Unreachable: r.Unreachable, Errcode: r.Errcode, Errmsg: r.Errmsg}
	switch r.Problem {
	case "":
	case settings.ProblemBadTokenURL:
		v.Problem = "settings.testBadTokenURL"
	case settings.ProblemSecretUnreadable:
		v.Problem = "settings.secretUnreadable"
	case settings.ProblemNoSecret:
		v.Problem = "settings.testNoSecret"
	case settings.ProblemSecretOtherHost:
		v.Problem, v.ProblemField = "settings.testSecretOtherHost", "appSecret"
	default:
		v.Problem = "error.internal"
	}
	return v
}
