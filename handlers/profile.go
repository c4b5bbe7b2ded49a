package handlers

import (
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/dingfluence/dingfluence/handlers/forms"
	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/profile"
	"github.com/dingfluence/dingfluence/views"
)

// profile shows the signed-in person's own account; nobody else's can be
// reached from here.
func (h *Handlers) profile(c echo.Context) error {
	u := currentUser(c)
	return render(c, http.StatusOK, views.Profile(h.page(c, "profile.title", ""), views.ProfileView{
		Username: u.Username, DisplayName: displayName(c, *u), Email: u.Email,
	}))
}

// profileDingTalk shows the signed-in person's own DingTalk tab.
func (h *Handlers) profileDingTalk(c echo.Context) error {
	tab, err := h.Profile.Tab(c.Request().Context(), currentUser(c).ID)
	if err != nil {
		return err
	}
	v := dingTalkTabView(tab, views.DingTalkTabValues(forms.ProfileDingTalkFrom(tab)), nil, views.SyncNone)
	return render(c, http.StatusOK, views.ProfileDingTalk(h.page(c, "profile.title", ""), v))
}

// saveProfileDingTalk is Save And Sync. The tab is always the signed-in person's: the
// form carries no user id, and any the request carries is ignored.
func (h *Handlers) saveProfileDingTalk(c echo.Context) error {
	var f forms.ProfileDingTalk
	if err := c.Bind(&f); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "error.badForm").SetInternal(err)
	}
	ctx := c.Request().Context()
	me := currentUser(c).ID
	in, errs := f.Validate()
	if len(errs) == 0 {
		tab, err := h.Profile.SaveAndSync(ctx, me, in)
		if errs = forms.ProfileErrors(err); errs == nil {
			if err != nil {
				return err
			}
			outcome := views.SyncUnmatched
			if tab.User.MatchStatus == models.MatchMatched {
				outcome = views.SyncMatched
			}
			v := dingTalkTabView(tab, views.DingTalkTabValues(forms.ProfileDingTalkFrom(tab)), nil, outcome)
			return render(c, http.StatusOK, views.ProfileDingTalk(h.page(c, "profile.title", ""), v))
		}
	}
	// Nothing was saved: show the form as typed, with the stored identity.
	tab, err := h.Profile.Tab(ctx, me)
	if err != nil {
		return err
	}
	v := dingTalkTabView(tab, views.DingTalkTabValues(f), errs, views.SyncInvalid)
	status := mapError(profile.ValidationError{}).Status
	return render(c, status, views.ProfileDingTalk(h.page(c, "profile.title", ""), v))
}

// sendTestMessage is Send test message. It goes to the signed-in person's own DingTalk
// account: the request names no recipient, and any id it carries is ignored. htmx gets
// the answer alone; a form posted without JavaScript gets the whole tab with it.
func (h *Handlers) sendTestMessage(c echo.Context) error {
	ctx := c.Request().Context()
	me := currentUser(c)
	res, err := h.Profile.SendTestMessage(ctx, me.ID)
	if err != nil {
		return err
	}
	result := testMessageView(res, me.IsAdmin)
	if isHTMX(c) {
		return render(c, http.StatusOK, views.TestMessageResult(result))
	}
	tab, err := h.Profile.Tab(ctx, me.ID)
	if err != nil {
		return err
	}
	v := dingTalkTabView(tab, views.DingTalkTabValues(forms.ProfileDingTalkFrom(tab)), nil, views.SyncNone)
	v.TestMessage = &result
	return render(c, http.StatusOK, views.ProfileDingTalk(h.page(c, "profile.title", ""), v))
}

// testMessageView puts a test message's answer into the view's terms.
func testMessageView(r profile.TestResult, isAdmin bool) views.TestMessageView {
	v := views.TestMessageView{UserID: r.UserID, TaskID: r.TaskID, Errcode: r.Errcode, Errmsg: r.Errmsg,
		Reason: r.Reason, IsAdmin: isAdmin}
	switch r.Outcome {
	case profile.TestSent:
		v.Outcome = views.TestMessageSent
	case profile.TestRefused:
		v.Outcome = views.TestMessageRefused
	case profile.TestOutcomeUnknown:
		v.Outcome = views.TestMessageUnknown
	case profile.TestUnreachable:
		v.Outcome = views.TestMessageUnreachable
	case profile.TestUnmatched:
		v.Outcome = views.TestMessageUnmatched
	case profile.TestNotConfigured:
		v.Outcome = views.TestMessageNotConfigured
	case profile.TestTooSoon:
		v.Outcome = views.TestMessageTooSoon
		v.Seconds = int(math.Ceil(r.RetryAfter.Seconds()))
	}
	return v
}

// adminUserDingTalk shows any user's DingTalk tab to an admin, read-only: there is no
// route to change it, only the user edits their own.
func (h *Handlers) adminUserDingTalk(c echo.Context) error {
	id, err := strconv.ParseUint(c.Param("id"), 10, 32)
	if err != nil || id == 0 {
		return echo.NewHTTPError(http.StatusBadRequest, "error.badUser")
	}
	tab, err := h.Profile.Tab(c.Request().Context(), uint(id))
	if err != nil {
		return fmt.Errorf("admin view of user %d: %w", id, err)
	}
	v := dingTalkTabView(tab, views.DingTalkTabValues(forms.ProfileDingTalkFrom(tab)), nil, views.SyncNone)
	v.ReadOnly = true
	return render(c, http.StatusOK, views.AdminUserDingTalk(h.page(c, "profile.dingtalk.adminTitle", "members"), v))
}

// dingTalkTabView puts a tab into the view's terms.
func dingTalkTabView(tab profile.Tab, f views.DingTalkTabValues, errs forms.Errors, outcome views.SyncOutcome) views.DingTalkTabView {
	u := tab.User
	v := views.DingTalkTabView{
		Username:      u.Username,
		DisplayName:   u.DisplayName,
		Form:          f,
		Errors:        errs,
		GlobalMethod:  string(tab.GlobalMethod),
		OwnMethod:     u.MatchingMethod != "",
		Status:        u.MatchStatus,
		ReasonID:      u.MatchReason.MessageID(),
		ReasonData:    u.MatchReason.TemplateData(),
		Outcome:       outcome,
		NotConfigured: !tab.Configured && u.MatchReason.Code != models.ReasonDingTalkNotConfigured,
	}
	if dt := tab.DingTalk; dt != nil {
		email := dt.Email
		if email == "" {
			email = dt.OrgEmail
		}
		v.Identity = &views.DingTalkIdentity{UserID: dt.UserID, Name: dt.Name, JobNumber: dt.JobNumber,
			Email: email, Phone: dt.Mobile, NotSynced: dt.Name == "" && !tab.Live}
	}
	return v
}
