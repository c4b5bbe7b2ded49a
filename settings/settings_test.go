package settings

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dingfluence/dingfluence/dingtalk/dingtalktest"
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

// fakeStore serves one stored settings row (or an error) for the service and
// keeps what it is asked to audit.
type fakeStore struct {
	set     models.Settings
	err     error
	audited *[]models.AuditEntry
}

func (f fakeStore) LoadSettings(context.Context) (models.Settings, error) { return f.set, f.err }
func (f fakeStore) SaveSettings(context.Context, models.Settings, string) error {
	return errors.New("not used")
}
func (f fakeStore) Audit(_ context.Context, e models.AuditEntry) error {
	if f.audited != nil {
		*f.audited = append(*f.audited, e)
	}
	return nil
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
			got, err := svc.TestConnection(context.Background(), f, "admin")
			if err != nil || got.OK || got.Problem != tt.want {
				t.Fatalf("TestConnection = %+v, %v; want problem %s", got, err, tt.want)
			}
		})
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
		set   func(*Form, string)
	}{
		{"tokenUrl", func(f *Form, v string) { f.TokenURL = v }},
		{"sendMessageUrl", func(f *Form, v string) { f.SendMessageURL = v }},
		{"subDepartmentUrl", func(f *Form, v string) { f.SubDepartmentURL = v }},
		{"departmentDetailUrl", func(f *Form, v string) { f.DepartmentDetailURL = v }},
		{"departmentUsersUrl", func(f *Form, v string) { f.DepartmentUsersURL = v }},
		{"userProfileUrl", func(f *Form, v string) { f.UserProfileURL = v }},
		{"userByMobileUrl", func(f *Form, v string) { f.UserByMobileURL = v }},
		{"userListUrl", func(f *Form, v string) { f.UserListURL = v }},
	}
	type tc struct {
		name, field, want string
		edit              func(*Form)
	}
	tests := []tc{
		{"appKey at its column size", "", "", func(f *Form) { f.AppKey = strings.Repeat("键", models.SettingsAppKeyMax) }},
		{"appKey too long", "appKey", "settings.error.appKeyTooLong", func(f *Form) { f.AppKey = long(100_000) }},
		{"appKey one too long", "appKey", "settings.error.appKeyTooLong", func(f *Form) { f.AppKey = strings.Repeat("键", models.SettingsAppKeyMax+1) }},
		{"appKey invalid UTF-8", "appKey", "settings.error.notUTF8", func(f *Form) { f.AppKey = "ding\xff" }},
		{"appSecret at the sealed column size", "", "", func(f *Form) { f.AppSecret = long(models.SettingsAppSecretMaxBytes) }},
		{"appSecret too long", "appSecret", "settings.error.appSecretTooLong", func(f *Form) { f.AppSecret = long(models.SettingsAppSecretMaxBytes + 1) }},
		{"appSecret invalid UTF-8", "appSecret", "settings.error.notUTF8", func(f *Form) { f.AppSecret = "\xc3\x28" }},
		{"agentId too long", "agentId", "settings.error.agentIdNumeric", func(f *Form) { f.AgentID = strings.Repeat("9", 100_000) }},
		{"agentId invalid UTF-8", "agentId", "settings.error.agentIdNumeric", func(f *Form) { f.AgentID = "12\xff" }},
		{"matchingMethod too long", "matchingMethod", "settings.error.matchingMethod", func(f *Form) { f.MatchingMethod = long(100_000) }},
		{"matchingMethod invalid UTF-8", "matchingMethod", "settings.error.matchingMethod", func(f *Form) { f.MatchingMethod = "email\xff" }},
		{"enabled too long", "enabled", "settings.error.enabled", func(f *Form) { f.Enabled = long(100_000) }},
		{"enabled invalid UTF-8", "enabled", "settings.error.enabled", func(f *Form) { f.Enabled = "yes\xff" }},
		{"syncIntervalMinutes too long", "syncIntervalMinutes", "settings.error.syncInterval", func(f *Form) { f.SyncIntervalMinutes = strings.Repeat("1", 100_000) }},
		{"syncIntervalMinutes invalid UTF-8", "syncIntervalMinutes", "settings.error.syncInterval", func(f *Form) { f.SyncIntervalMinutes = "6\xff" }},
	}
	for _, u := range setters {
		tests = append(tests,
			tc{u.field + " at its column size", "", "", func(f *Form) { u.set(f, url(models.SettingsURLMax)) }},
			tc{u.field + " too long", u.field, "settings.error.urlTooLong", func(f *Form) { u.set(f, url(models.SettingsURLMax+1)) }},
			tc{u.field + " invalid UTF-8", u.field, "settings.error.notUTF8", func(f *Form) { u.set(f, "https://oapi.dingtalk.com/\xff") }},
		)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := validForm()
			tt.edit(&f)
			_, errs := Validate(f)
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

// secretCatcher is a server that is not DingTalk: it records whether a
// request brought the stored secret.
type secretCatcher struct {
	*httptest.Server
	got atomic.Bool
}

func startSecretCatcher(t *testing.T, secret string) *secretCatcher {
	t.Helper()
	c := &secretCatcher{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.RawQuery, secret) {
			c.got.Store(true)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"errcode":0,"access_token":"t","expires_in":7200}`))
	}))
	t.Cleanup(c.Close)
	return c
}

// The stored secret goes only to the saved Get Token URL's scheme, host and
// port; for anything else the admin must type it.
func TestTestConnectionSendsTheStoredSecretOnlyToItsHost(t *testing.T) {
	dt := dingtalktest.Start(t, dingtalktest.Options{AppKey: "dingabc", AppSecret: "stored-secret", AgentID: 1})
	other := startSecretCatcher(t, "stored-secret")
	stored := models.DefaultSettings()
	stored.AppKey, stored.AppSecret, stored.HasSecret = "dingabc", "stored-secret", true
	stored.TokenURL = dt.Endpoints().Token

	tests := []struct {
		name      string
		tokenURL  string
		secret    string
		wantOK    bool
		wantField string
		wantSent  bool
	}{
		{"saved host, secret left empty", dt.Endpoints().Token, "", true, "", false},
		{"saved host, another path", dt.URL() + "/gettoken?x=1", "", true, "", false},
		{"another host, secret left empty", other.URL + "/gettoken", "", false, "appSecret", false},
		{"another host, secret typed", other.URL + "/gettoken", "stored-secret", true, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			other.got.Store(false)
			var audited []models.AuditEntry
			svc := New(fakeStore{set: stored, audited: &audited}, nil, slog.New(slog.DiscardHandler))
			f := validForm()
			f.AppKey, f.AppSecret, f.TokenURL = "dingabc", tt.secret, tt.tokenURL
			got, err := svc.TestConnection(context.Background(), f, "admin")
			if err != nil {
				t.Fatal(err)
			}
			if got.OK != tt.wantOK || got.Field != tt.wantField {
				t.Fatalf("result %+v, want OK %v, field %q", got, tt.wantOK, tt.wantField)
			}
			if tt.wantField != "" && got.Problem != "settings.testSecretOtherHost" {
				t.Fatalf("problem %q, want settings.testSecretOtherHost", got.Problem)
			}
			if other.got.Load() != tt.wantSent {
				t.Fatalf("the other host received the secret: %v, want %v", other.got.Load(), tt.wantSent)
			}
			if len(audited) != 1 || audited[0].Actor != "admin" || audited[0].Action != models.ActionSettingsTest || strings.Contains(audited[0].Details, "stored-secret") {
				t.Fatalf("audited %+v, want one settings.test entry by admin without the secret", audited)
			}
		})
	}
}

func TestSameOrigin(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"https://oapi.dingtalk.com/gettoken", "https://OAPI.dingtalk.com:443/other", true},
		{"http://h/gettoken", "http://h:80/", true},
		{"https://h/gettoken", "http://h/gettoken", false},
		{"https://h:8443/gettoken", "https://h/gettoken", false},
		{"https://h.evil.example/gettoken", "https://h/gettoken", false},
		{"https://h@evil.example/gettoken", "https://h/gettoken", false},
	}
	for _, tt := range tests {
		if got := sameOrigin(tt.a, tt.b); got != tt.want {
			t.Errorf("sameOrigin(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// A network failure is not dressed up as a DingTalk errcode (-1 is DingTalk's
// "system busy"); DingTalk's own refusals keep their errcode.
func TestTestConnectionTellsUnreachableFromRefused(t *testing.T) {
	dt := dingtalktest.Start(t, dingtalktest.Options{AppKey: "dingabc", AppSecret: "right", AgentID: 1})
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // nothing listens there any more: connection refused
	tests := []struct {
		name            string
		tokenURL        string
		wantUnreachable bool
		wantErrcode     int
	}{
		{"connection refused", closed.URL + "/gettoken", true, 0},
		{"no such host", "http://no-such-host.invalid/gettoken", true, 0},
		{"DingTalk refuses the secret", dt.Endpoints().Token, false, 40096},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := New(fakeStore{set: models.DefaultSettings()}, nil, slog.New(slog.DiscardHandler))
			f := validForm()
			f.AppSecret, f.TokenURL = "wrong", tt.tokenURL
			got, err := svc.TestConnection(context.Background(), f, "admin")
			if err != nil {
				t.Fatal(err)
			}
			if got.OK || got.Unreachable != tt.wantUnreachable || got.Errcode != tt.wantErrcode || got.Errmsg == "" {
				t.Fatalf("result %+v, want unreachable %v, errcode %d and a reason", got, tt.wantUnreachable, tt.wantErrcode)
			}
		})
	}
}
