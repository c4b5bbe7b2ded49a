// Package forms reads the app's HTML forms: each form type keeps the values
// exactly as typed, turns them into a service's input and says, as message
// ids, what is wrong with them.
package forms

import (
	"errors"
	"strconv"
	"strings"

	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/settings"
)

// Errors maps a form field name to the message id of what is wrong with it.
type Errors map[string]string

// Settings is the DingTalk Settings screen as submitted: every value a
// string, exactly as typed, so a rejected form can be shown back unchanged.
type Settings struct {
	AgentID             string `form:"agentId"`
	AppKey              string `form:"appKey"`
	AppSecret           string `form:"appSecret"`
	TokenURL            string `form:"tokenUrl"`
	SendMessageURL      string `form:"sendMessageUrl"`
	SubDepartmentURL    string `form:"subDepartmentUrl"`
	DepartmentDetailURL string `form:"departmentDetailUrl"`
	DepartmentUsersURL  string `form:"departmentUsersUrl"`
	UserProfileURL      string `form:"userProfileUrl"`
	UserByMobileURL     string `form:"userByMobileUrl"`
	UserListURL         string `form:"userListUrl"`
	MatchingMethod      string `form:"matchingMethod"`
	Enabled             string `form:"enabled"`
	SyncIntervalMinutes string `form:"syncIntervalMinutes"`
	CoalesceMinutes     string `form:"coalesceMinutes"`
}

// SettingsFrom fills the form from stored settings. The secret is never put
// back into a form; the screen says whether one is set instead.
func SettingsFrom(s models.Settings) Settings {
	f := Settings{
		AppKey:              s.AppKey,
		TokenURL:            s.TokenURL,
		SendMessageURL:      s.SendMessageURL,
		SubDepartmentURL:    s.SubDepartmentURL,
		DepartmentDetailURL: s.DepartmentDetailURL,
		DepartmentUsersURL:  s.DepartmentUserIDsURL,
		UserProfileURL:      s.UserProfileURL,
		UserByMobileURL:     s.UserByMobileURL,
		UserListURL:         s.UserListURL,
		MatchingMethod:      string(s.MatchingMethod),
		Enabled:             "no",
		SyncIntervalMinutes: strconv.Itoa(s.SyncIntervalMinutes),
		CoalesceMinutes:     strconv.Itoa(s.CoalesceMinutes),
	}
	if s.AgentID != 0 {
		f.AgentID = strconv.FormatInt(s.AgentID, 10)
	}
	if s.Enabled {
		f.Enabled = "yes"
	}
	return f
}

// Validate reads the form into the settings service's input and returns
// everything wrong with it at once: what cannot be read (a non-numeric
// agentId) and what the service would refuse (settings.Validate).
func (f Settings) Validate() (settings.Input, Errors) {
	errs := Errors{}
	in := settings.Input{
		AppKey:               strings.TrimSpace(f.AppKey),
		NewSecret:            f.AppSecret,
		TokenURL:             strings.TrimSpace(f.TokenURL),
		SendMessageURL:       strings.TrimSpace(f.SendMessageURL),
		SubDepartmentURL:     strings.TrimSpace(f.SubDepartmentURL),
		DepartmentDetailURL:  strings.TrimSpace(f.DepartmentDetailURL),
		DepartmentUserIDsURL: strings.TrimSpace(f.DepartmentUsersURL),
		UserProfileURL:       strings.TrimSpace(f.UserProfileURL),
		UserByMobileURL:      strings.TrimSpace(f.UserByMobileURL),
		UserListURL:          strings.TrimSpace(f.UserListURL),
		MatchingMethod:       models.MatchingMethod(f.MatchingMethod),
	}
	// An empty agentId stays 0, which the service calls missing.
	if v := strings.TrimSpace(f.AgentID); v != "" {
		if id, err := strconv.ParseInt(v, 10, 64); err != nil {
			errs[string(settings.FieldAgentID)] = "settings.error.agentIdNumeric"
		} else {
			in.AgentID = id
		}
	}
	if n, err := strconv.Atoi(strings.TrimSpace(f.SyncIntervalMinutes)); err != nil {
		errs[string(settings.FieldSyncInterval)] = "settings.error.syncInterval"
	} else {
		in.SyncIntervalMinutes = n
	}
	if n, err := strconv.Atoi(strings.TrimSpace(f.CoalesceMinutes)); err != nil {
		errs[string(settings.FieldCoalesceMinutes)] = "settings.error.coalesceMinutes"
	} else {
		in.CoalesceMinutes = n
	}
	switch f.Enabled {
	case "yes":
		in.Enabled = true
	case "no":
	default:
		errs[string(settings.FieldEnabled)] = "settings.error.enabled"
	}
	for field, id := range SettingsErrors(settings.Validate(in)) {
		if _, ok := errs[field]; !ok {
			errs[field] = id
		}
	}
	return in, errs
}

// Credentials are the values a connection test uses, whatever else the form
// holds.
func (f Settings) Credentials() settings.Credentials {
	return settings.Credentials{AppKey: strings.TrimSpace(f.AppKey), AppSecret: f.AppSecret, TokenURL: f.TokenURL}
}

// SettingsErrors turns the settings service's validation error into the
// form's messages; nil or any other error gives none.
func SettingsErrors(err error) Errors {
	var invalid settings.ValidationError
	if !errors.As(err, &invalid) {
		return nil
	}
	errs := make(Errors, len(invalid))
	for _, e := range invalid {
		errs[string(e.Field)] = settingsMessage(e)
	}
	return errs
}

// settingsMessage is the message id that explains e on the Settings screen.
func settingsMessage(e settings.FieldError) string {
	if e.Code == settings.CodeNotUTF8 {
		return "settings.error.notUTF8"
	}
	switch e.Field {
	case settings.FieldAgentID:
		if e.Code == settings.CodeRequired {
			return "settings.error.agentIdRequired"
		}
		return "settings.error.agentIdNumeric"
	case settings.FieldAppKey:
		if e.Code == settings.CodeRequired {
			return "settings.error.appKeyRequired"
		}
		return "settings.error.appKeyTooLong"
	case settings.FieldAppSecret:
		return "settings.error.appSecretTooLong"
	case settings.FieldMatchingMethod:
		return "settings.error.matchingMethod"
	case settings.FieldSyncInterval:
		return "settings.error.syncInterval"
	case settings.FieldCoalesceMinutes:
		return "settings.error.coalesceMinutes"
	case settings.FieldEnabled:
		return "settings.error.enabled"
	}
	// One of the DingTalk API addresses.
	if e.Code == settings.CodeTooLong {
		return "settings.error.urlTooLong"
	}
	return "settings.error.urlAbsolute"
}
