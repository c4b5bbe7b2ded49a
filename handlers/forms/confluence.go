package forms

import (
	"errors"

	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/settings"
)

// Confluence is the Confluence screen as submitted, every value exactly as typed.
type Confluence struct {
	BaseURL           string `form:"baseUrl"`
	ServiceToken      string `form:"serviceToken"`
	AdminGroup        string `form:"adminGroup"`
	UserGroup         string `form:"userGroup"`
	OAuthClientID     string `form:"oauthClientId"`
	OAuthClientSecret string `form:"oauthClientSecret"`
}

// ConfluenceFrom fills the form from the stored connection. Neither the token nor the
// client secret is ever put back into a form; the screen says whether one is stored.
func ConfluenceFrom(s models.ConfluenceSettings) Confluence {
	return Confluence{BaseURL: s.BaseURL, AdminGroup: s.AdminGroup, UserGroup: s.UserGroup, OAuthClientID: s.OAuthClientID}
}

// Input is the Confluence settings service's input for the form.
func (f Confluence) Input() settings.ConfluenceInput {
	return settings.ConfluenceInput{
		BaseURL: f.BaseURL, NewToken: f.ServiceToken, AdminGroup: f.AdminGroup, UserGroup: f.UserGroup,
		OAuthClientID: f.OAuthClientID, NewOAuthClientSecret: f.OAuthClientSecret,
	}
}

// Validate reads the form into the service's input and returns everything wrong with it.
func (f Confluence) Validate() (settings.ConfluenceInput, Errors) {
	in := f.Input()
	return in, ConfluenceErrors(settings.ValidateConfluence(in))
}

// Check is what Test connection uses: the values typed, unsaved.
func (f Confluence) Check() settings.ConfluenceCheck {
	return settings.ConfluenceCheck{BaseURL: f.BaseURL, Token: f.ServiceToken, AdminGroup: f.AdminGroup, UserGroup: f.UserGroup}
}

// WithoutSecrets is f with the token and client secret emptied, for showing it back.
func (f Confluence) WithoutSecrets() Confluence {
	f.ServiceToken, f.OAuthClientSecret = "", ""
	return f
}

// ConfluenceErrors turns the service's validation error into the form's messages; nil or
// any other error gives none.
func ConfluenceErrors(err error) Errors {
	var invalid settings.ValidationError
	if !errors.As(err, &invalid) {
		return nil
	}
	errs := make(Errors, len(invalid))
	for _, e := range invalid {
		errs[string(e.Field)] = confluenceMessage(e)
	}
	return errs
}

// confluenceMessage is the message id that explains e on the Confluence screen.
func confluenceMessage(e settings.FieldError) string {
	if e.Code == settings.CodeNotUTF8 {
		return "settings.error.notUTF8"
	}
	switch e.Field {
	case settings.FieldConfluenceBaseURL:
		switch e.Code {
		case settings.CodeRequired:
			return "confluence.error.baseUrlRequired"
		case settings.CodeTooLong:
			return "settings.error.urlTooLong"
		}
		return "confluence.error.baseUrlInvalid"
	case settings.FieldServiceToken, settings.FieldOAuthClientSecret:
		return "confluence.error.secretTooLong"
	case settings.FieldAdminGroup, settings.FieldUserGroup:
		if e.Code == settings.CodeRequired {
			return "confluence.error.groupRequired"
		}
		return "confluence.error.groupTooLong"
	case settings.FieldOAuthClientID:
		return "confluence.error.clientIdTooLong"
	}
	return "confluence.error.invalid"
}
