package forms

import (
	"errors"

	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/profile"
)

// ProfileDingTalk is the Profile → DingTalk tab as submitted. It has no user id: the
// tab always belongs to the signed-in person, whatever else a request carries.
type ProfileDingTalk struct {
	MatchingMethod   string `form:"matchingMethod"`
	Mobile           string `form:"mobile"`
	Enabled          string `form:"enabled"`
	NotifyOwnChanges string `form:"notifyOwnChanges"`
}

// ProfileDingTalkFrom fills the form from a tab: the method in effect (the user's own,
// else the global one) and the stored preferences.
func ProfileDingTalkFrom(tab profile.Tab) ProfileDingTalk {
	return ProfileDingTalk{
		MatchingMethod:   string(tab.Method),
		Mobile:           tab.User.Mobile,
		Enabled:          yesNo(tab.User.NotifyEnabled),
		NotifyOwnChanges: yesNo(tab.User.NotifyOwnChanges),
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// Validate reads the form into the profile service's input and returns everything
// wrong with it at once.
func (f ProfileDingTalk) Validate() (profile.Input, Errors) {
	errs := Errors{}
	in := profile.Input{MatchingMethod: models.MatchingMethod(f.MatchingMethod), Mobile: profile.NormalizeMobile(f.Mobile)}
	for _, yn := range []struct {
		value, field string
		dst          *bool
	}{{f.Enabled, "enabled", &in.NotifyEnabled}, {f.NotifyOwnChanges, "notifyOwnChanges", &in.NotifyOwnChanges}} {
		switch yn.value {
		case "yes":
			*yn.dst = true
		case "no":
		default:
			errs[yn.field] = "profile.dingtalk.error.yesNo"
		}
	}
	for field, id := range ProfileErrors(profile.Validate(in)) {
		errs[field] = id
	}
	return in, errs
}

// ProfileErrors turns the profile service's validation error into the form's
// messages; nil or any other error gives none.
func ProfileErrors(err error) Errors {
	var invalid profile.ValidationError
	if !errors.As(err, &invalid) {
		return nil
	}
	errs := make(Errors, len(invalid))
	for _, e := range invalid {
		switch {
		case e.Field == profile.FieldMobile && e.Code == profile.CodeRequired:
			errs[string(e.Field)] = "profile.dingtalk.error.mobileRequired"
		case e.Field == profile.FieldMobile:
			errs[string(e.Field)] = "profile.dingtalk.error.mobileInvalid"
		default:
			errs[string(e.Field)] = "profile.dingtalk.error.matchingMethod"
		}
	}
	return errs
}
