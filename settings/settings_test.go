package settings

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/dingfluence/dingfluence/models"
)

func validForm() Form {
	d := FormFrom(models.DefaultSettings())
	d.AgentID = "836390886"
	d.AppKey = "dingabc"
	d.Enabled = "yes"
	return d
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(*Form)
		wantField string
		wantMsg   string
	}{
		{"valid", func(*Form) {}, "", ""},
		{"agentId missing", func(f *Form) { f.AgentID = " " }, "agentId", "settings.error.agentIdRequired"},
		{"agentId not numeric", func(f *Form) { f.AgentID = "12a" }, "agentId", "settings.error.agentIdNumeric"},
		{"agentId negative", func(f *Form) { f.AgentID = "-5" }, "agentId", "settings.error.agentIdNumeric"},
		{"appKey missing", func(f *Form) { f.AppKey = "" }, "appKey", "settings.error.appKeyRequired"},
		{"relative URL", func(f *Form) { f.TokenURL = "/gettoken" }, "tokenUrl", "settings.error.urlAbsolute"},
		{"URL without scheme", func(f *Form) { f.UserByMobileURL = "oapi.dingtalk.com/x" }, "userByMobileUrl", "settings.error.urlAbsolute"},
		{"ftp URL", func(f *Form) { f.SendMessageURL = "ftp://oapi.dingtalk.com/x" }, "sendMessageUrl", "settings.error.urlAbsolute"},
		{"mobile is not a global method", func(f *Form) { f.MatchingMethod = "mobile" }, "matchingMethod", "settings.error.matchingMethod"},
		{"user list URL relative", func(f *Form) { f.UserListURL = "topapi/v2/user/list" }, "userListUrl", "settings.error.urlAbsolute"},
		{"sync interval off", func(f *Form) { f.SyncIntervalMinutes = "0" }, "", ""},
		{"sync interval negative", func(f *Form) { f.SyncIntervalMinutes = "-1" }, "syncIntervalMinutes", "settings.error.syncInterval"},
		{"sync interval over a week", func(f *Form) { f.SyncIntervalMinutes = "10081" }, "syncIntervalMinutes", "settings.error.syncInterval"},
		{"sync interval not a number", func(f *Form) { f.SyncIntervalMinutes = "hourly" }, "syncIntervalMinutes", "settings.error.syncInterval"},
		{"enabled neither yes nor no", func(f *Form) { f.Enabled = "" }, "enabled", "settings.error.enabled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := validForm()
			tt.edit(&f)
			set, errs := Validate(f)
			if tt.wantField == "" {
				if len(errs) != 0 {
					t.Fatalf("unexpected errors %v", errs)
				}
				if set.AgentID != 836390886 || !set.Enabled || set.TokenURL != models.DefaultSettings().TokenURL || set.UserListURL != models.DefaultSettings().UserListURL {
					t.Fatalf("parsed settings wrong: %+v", set)
				}
				return
			}
			if len(errs) != 1 || errs[tt.wantField] != tt.wantMsg {
				t.Fatalf("errors = %v, want only %s: %s", errs, tt.wantField, tt.wantMsg)
			}
		})
	}
}

func TestFormFromNeverCarriesTheSecret(t *testing.T) {
	s := models.DefaultSettings()
	s.AppSecret = "top-secret"
	if f := FormFrom(s); f.AppSecret != "" {
		t.Fatalf("form carries secret %q", f.AppSecret)
	}
}

// fakeStore serves one stored settings row (or an error) for the service.
type fakeStore struct {
	set models.Settings
	err error
}

func (f fakeStore) LoadSettings(context.Context) (models.Settings, error) { return f.set, f.err }
func (f fakeStore) SaveSettings(context.Context, models.Settings, string) error {
	return errors.New("not used")
}

// Problems found before DingTalk is asked are reported, not raised as errors.
func TestTestConnectionProblems(t *testing.T) {
	unreadable := fmt.Errorf("load settings: %w", models.ErrSecretUnreadable)
	tests := []struct {
		name  string
		store fakeStore
		edit  func(*Form)
		want  string
	}{
		{"stored secret unreadable", fakeStore{err: unreadable}, func(f *Form) { f.AppSecret = "" }, "settings.secretUnreadable"},
		{"no secret anywhere", fakeStore{set: models.DefaultSettings()}, func(f *Form) { f.AppSecret = "" }, "settings.testNoSecret"},
		{"relative token URL", fakeStore{}, func(f *Form) { f.AppSecret = "typed"; f.TokenURL = "/gettoken" }, "settings.testBadTokenURL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := validForm()
			tt.edit(&f)
			svc := New(tt.store, nil, slog.New(slog.DiscardHandler))
			got, err := svc.TestConnection(context.Background(), f)
			if err != nil || got.OK || got.Problem != tt.want {
				t.Fatalf("TestConnection = %+v, %v; want problem %s", got, err, tt.want)
			}
		})
	}
}
