package forms

import (
	"strings"
	"testing"

	"github.com/dingfluence/dingfluence/models"
)

func TestConfluenceFromNeverCarriesSecrets(t *testing.T) {
	s := models.DefaultConfluenceSettings()
	s.BaseURL, s.Token, s.OAuthClientID, s.OAuthClientSecret = "https://wiki.example.com", "pat", "client", "client-secret"
	f := ConfluenceFrom(s)
	if f.ServiceToken != "" || f.OAuthClientSecret != "" || f.BaseURL != s.BaseURL || f.OAuthClientID != "client" || f.AdminGroup != models.DefaultConfluenceAdminGroup {
		t.Fatalf("form = %+v", f)
	}
	typed := Confluence{ServiceToken: "typed", OAuthClientSecret: "typed", BaseURL: "x"}.WithoutSecrets()
	if typed.ServiceToken != "" || typed.OAuthClientSecret != "" || typed.BaseURL != "x" {
		t.Fatalf("WithoutSecrets = %+v", typed)
	}
}

func TestConfluenceValidate(t *testing.T) {
	valid := func() Confluence {
		return Confluence{BaseURL: "https://wiki.example.com/confluence/", AdminGroup: "confluence-administrators", UserGroup: "confluence-users"}
	}
	tests := []struct {
		name, field, want string
		edit              func(*Confluence)
	}{
		{"valid", "", "", func(*Confluence) {}},
		{"secrets may stay empty", "", "", func(f *Confluence) { f.ServiceToken, f.OAuthClientSecret = "", "" }},
		{"base URL missing", "baseUrl", "confluence.error.baseUrlRequired", func(f *Confluence) { f.BaseURL = "  " }},
		{"base URL relative", "baseUrl", "confluence.error.baseUrlInvalid", func(f *Confluence) { f.BaseURL = "/confluence" }},
		{"base URL with a fragment", "baseUrl", "confluence.error.baseUrlInvalid", func(f *Confluence) { f.BaseURL = "https://wiki.example.com/#x" }},
		{"base URL too long", "baseUrl", "settings.error.urlTooLong", func(f *Confluence) {
			f.BaseURL = "https://w.example/" + strings.Repeat("a", models.ConfluenceBaseURLMax)
		}},
		{"token not UTF-8", "serviceToken", "settings.error.notUTF8", func(f *Confluence) { f.ServiceToken = "\xff" }},
		{"token too long", "serviceToken", "confluence.error.secretTooLong", func(f *Confluence) { f.ServiceToken = strings.Repeat("t", models.ConfluenceSecretMaxBytes+1) }},
		{"admin group missing", "adminGroup", "confluence.error.groupRequired", func(f *Confluence) { f.AdminGroup = "" }},
		{"user group too long", "userGroup", "confluence.error.groupTooLong", func(f *Confluence) { f.UserGroup = strings.Repeat("g", models.ConfluenceGroupMax+1) }},
		{"client id too long", "oauthClientId", "confluence.error.clientIdTooLong", func(f *Confluence) { f.OAuthClientID = strings.Repeat("c", models.ConfluenceClientIDMax+1) }},
		{"client secret too long", "oauthClientSecret", "confluence.error.secretTooLong", func(f *Confluence) {
			f.OAuthClientSecret = strings.Repeat("s", models.ConfluenceSecretMaxBytes+1)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := valid()
			tt.edit(&f)
			_, errs := f.Validate()
			if tt.field == "" {
				if len(errs) != 0 {
					t.Fatalf("unexpected errors %v", errs)
				}
				return
			}
			if len(errs) != 1 || errs[tt.field] != tt.want {
				t.Fatalf("errors = %v, want only %s: %s", errs, tt.field, tt.want)
			}
		})
	}
}
