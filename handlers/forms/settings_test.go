package forms

import (
	"strings"
	"testing"

	"github.com/dingfluence/dingfluence/models"
)

func validForm() Settings {
	d := SettingsFrom(models.DefaultSettings())
	d.AgentID = "836390886"
	d.AppKey = "dingabc"
	d.Enabled = "yes"
	return d
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(*Settings)
		wantField string
		wantMsg   string
	}{
		{"valid", func(*Settings) {}, "", ""},
		{"agentId missing", func(f *Settings) { f.AgentID = " " }, "agentId", "settings.error.agentIdRequired"},
		{"agentId not numeric", func(f *Settings) { f.AgentID = "12a" }, "agentId", "settings.error.agentIdNumeric"},
		{"agentId negative", func(f *Settings) { f.AgentID = "-5" }, "agentId", "settings.error.agentIdNumeric"},
		{"appKey missing", func(f *Settings) { f.AppKey = "" }, "appKey", "settings.error.appKeyRequired"},
		{"relative URL", func(f *Settings) { f.TokenURL = "/gettoken" }, "tokenUrl", "settings.error.urlAbsolute"},
		{"URL without scheme", func(f *Settings) { f.UserByMobileURL = "oapi.dingtalk.com/x" }, "userByMobileUrl", "settings.error.urlAbsolute"},
		{"ftp URL", func(f *Settings) { f.SendMessageURL = "ftp://oapi.dingtalk.com/x" }, "sendMessageUrl", "settings.error.urlAbsolute"},
		{"mobile is not a global method", func(f *Settings) { f.MatchingMethod = "mobile" }, "matchingMethod", "settings.error.matchingMethod"},
		{"user list URL relative", func(f *Settings) { f.UserListURL = "topapi/v2/user/list" }, "userListUrl", "settings.error.urlAbsolute"},
		{"sync interval off", func(f *Settings) { f.SyncIntervalMinutes = "0" }, "", ""},
		{"sync interval negative", func(f *Settings) { f.SyncIntervalMinutes = "-1" }, "syncIntervalMinutes", "settings.error.syncInterval"},
		{"sync interval over a week", func(f *Settings) { f.SyncIntervalMinutes = "10081" }, "syncIntervalMinutes", "settings.error.syncInterval"},
		{"sync interval not a number", func(f *Settings) { f.SyncIntervalMinutes = "hourly" }, "syncIntervalMinutes", "settings.error.syncInterval"},
		{"coalescing off", func(f *Settings) { f.CoalesceMinutes = "0" }, "", ""},
		{"coalescing a day", func(f *Settings) { f.CoalesceMinutes = " 1440 " }, "", ""},
		{"coalescing over a day", func(f *Settings) { f.CoalesceMinutes = "1441" }, "coalesceMinutes", "settings.error.coalesceMinutes"},
		{"coalescing negative", func(f *Settings) { f.CoalesceMinutes = "-1" }, "coalesceMinutes", "settings.error.coalesceMinutes"},
		{"coalescing not a whole number", func(f *Settings) { f.CoalesceMinutes = "2.5" }, "coalesceMinutes", "settings.error.coalesceMinutes"},
		{"coalescing empty", func(f *Settings) { f.CoalesceMinutes = "" }, "coalesceMinutes", "settings.error.coalesceMinutes"},
		{"enabled neither yes nor no", func(f *Settings) { f.Enabled = "" }, "enabled", "settings.error.enabled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := validForm()
			tt.edit(&f)
			in, errs := f.Validate()
			if tt.wantField == "" {
				if len(errs) != 0 {
					t.Fatalf("unexpected errors %v", errs)
				}
				if in.AgentID != 836390886 || !in.Enabled || in.TokenURL != models.DefaultSettings().TokenURL || in.UserListURL != models.DefaultSettings().UserListURL {
					t.Fatalf("parsed settings wrong: %+v", in)
				}
				return
			}
			if len(errs) != 1 || errs[tt.wantField] != tt.wantMsg {
				t.Fatalf("errors = %v, want only %s: %s", errs, tt.wantField, tt.wantMsg)
			}
		})
	}
}

func TestSettingsFromNeverCarriesTheSecret(t *testing.T) {
	s := models.DefaultSettings()
	s.AppSecret = "top-secret"
	if f := SettingsFrom(s); f.AppSecret != "" {
		t.Fatalf("form carries secret %q", f.AppSecret)
	}
}

// Every text field is valid UTF-8 and fits its MySQL column; anything else is
// refused with that field's message (a 100,000-character appKey would only
// fail at the INSERT on MySQL).
func TestValidateLengthAndEncoding(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	url := func(n int) string { return "https://oapi.dingtalk.com/" + long(n-len("https://oapi.dingtalk.com/")) }
	setters := []struct {
		field string
		set   func(*Settings, string)
	}{
		{"tokenUrl", func(f *Settings, v string) { f.TokenURL = v }},
		{"sendMessageUrl", func(f *Settings, v string) { f.SendMessageURL = v }},
		{"subDepartmentUrl", func(f *Settings, v string) { f.SubDepartmentURL = v }},
		{"departmentDetailUrl", func(f *Settings, v string) { f.DepartmentDetailURL = v }},
		{"departmentUsersUrl", func(f *Settings, v string) { f.DepartmentUsersURL = v }},
		{"userProfileUrl", func(f *Settings, v string) { f.UserProfileURL = v }},
		{"userByMobileUrl", func(f *Settings, v string) { f.UserByMobileURL = v }},
		{"userListUrl", func(f *Settings, v string) { f.UserListURL = v }},
	}
	type tc struct {
		name, field, want string
		edit              func(*Settings)
	}
	tests := []tc{
		{"appKey at its column size", "", "", func(f *Settings) { f.AppKey = strings.Repeat("键", models.SettingsAppKeyMax) }},
		{"appKey too long", "appKey", "settings.error.appKeyTooLong", func(f *Settings) { f.AppKey = long(100_000) }},
		{"appKey one too long", "appKey", "settings.error.appKeyTooLong", func(f *Settings) { f.AppKey = strings.Repeat("键", models.SettingsAppKeyMax+1) }},
		{"appKey invalid UTF-8", "appKey", "settings.error.notUTF8", func(f *Settings) { f.AppKey = "ding\xff" }},
		{"appSecret at the sealed column size", "", "", func(f *Settings) { f.AppSecret = long(models.SettingsAppSecretMaxBytes) }},
		{"appSecret too long", "appSecret", "settings.error.appSecretTooLong", func(f *Settings) { f.AppSecret = long(models.SettingsAppSecretMaxBytes + 1) }},
		{"appSecret invalid UTF-8", "appSecret", "settings.error.notUTF8", func(f *Settings) { f.AppSecret = "\xc3\x28" }},
		{"agentId too long", "agentId", "settings.error.agentIdNumeric", func(f *Settings) { f.AgentID = strings.Repeat("9", 100_000) }},
		{"agentId invalid UTF-8", "agentId", "settings.error.agentIdNumeric", func(f *Settings) { f.AgentID = "12\xff" }},
		{"matchingMethod too long", "matchingMethod", "settings.error.matchingMethod", func(f *Settings) { f.MatchingMethod = long(100_000) }},
		{"matchingMethod invalid UTF-8", "matchingMethod", "settings.error.matchingMethod", func(f *Settings) { f.MatchingMethod = "email\xff" }},
		{"enabled too long", "enabled", "settings.error.enabled", func(f *Settings) { f.Enabled = long(100_000) }},
		{"enabled invalid UTF-8", "enabled", "settings.error.enabled", func(f *Settings) { f.Enabled = "yes\xff" }},
		{"syncIntervalMinutes too long", "syncIntervalMinutes", "settings.error.syncInterval", func(f *Settings) { f.SyncIntervalMinutes = strings.Repeat("1", 100_000) }},
		{"syncIntervalMinutes invalid UTF-8", "syncIntervalMinutes", "settings.error.syncInterval", func(f *Settings) { f.SyncIntervalMinutes = "6\xff" }},
		{"coalesceMinutes too long", "coalesceMinutes", "settings.error.coalesceMinutes", func(f *Settings) { f.CoalesceMinutes = strings.Repeat("1", 100_000) }},
		{"coalesceMinutes invalid UTF-8", "coalesceMinutes", "settings.error.coalesceMinutes", func(f *Settings) { f.CoalesceMinutes = "6\xff" }},
	}
	for _, u := range setters {
		tests = append(tests,
			tc{u.field + " at its column size", "", "", func(f *Settings) { u.set(f, url(models.SettingsURLMax)) }},
			tc{u.field + " too long", u.field, "settings.error.urlTooLong", func(f *Settings) { u.set(f, url(models.SettingsURLMax+1)) }},
			tc{u.field + " invalid UTF-8", u.field, "settings.error.notUTF8", func(f *Settings) { u.set(f, "https://oapi.dingtalk.com/\xff") }},
		)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := validForm()
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
