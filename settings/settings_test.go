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

var defaultTokenURL = models.DefaultSettings().TokenURL

func validInput() Input {
	d := models.DefaultSettings()
	return Input{
		AgentID: 836390886, AppKey: "dingabc", TokenURL: d.TokenURL, SendMessageURL: d.SendMessageURL,
		SubDepartmentURL: d.SubDepartmentURL, DepartmentDetailURL: d.DepartmentDetailURL,
		DepartmentUserIDsURL: d.DepartmentUserIDsURL, UserProfileURL: d.UserProfileURL,
		UserByMobileURL: d.UserByMobileURL, UserListURL: d.UserListURL,
		MatchingMethod: models.MatchEmail, Enabled: true, SyncIntervalMinutes: 60, CoalesceMinutes: 10,
	}
}

// Validate says which field is wrong and how, never in words: the screens
// choose those.
func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Input)
		want ValidationError
	}{
		{"valid", func(*Input) {}, nil},
		{"agentId missing", func(in *Input) { in.AgentID = 0 }, ValidationError{{FieldAgentID, CodeRequired}}},
		{"agentId negative", func(in *Input) { in.AgentID = -5 }, ValidationError{{FieldAgentID, CodeInvalid}}},
		{"appKey blank", func(in *Input) { in.AppKey = " " }, ValidationError{{FieldAppKey, CodeRequired}}},
		{"appKey too long", func(in *Input) { in.AppKey = strings.Repeat("键", models.SettingsAppKeyMax+1) }, ValidationError{{FieldAppKey, CodeTooLong}}},
		{"appSecret not UTF-8", func(in *Input) { in.NewSecret = "\xc3\x28" }, ValidationError{{FieldAppSecret, CodeNotUTF8}}},
		{"appSecret too long", func(in *Input) { in.NewSecret = strings.Repeat("a", models.SettingsAppSecretMaxBytes+1) }, ValidationError{{FieldAppSecret, CodeTooLong}}},
		{"relative URL", func(in *Input) { in.UserListURL = "topapi/v2/user/list" }, ValidationError{{FieldUserListURL, CodeInvalid}}},
		{"URL too long", func(in *Input) { in.TokenURL = "https://h/" + strings.Repeat("a", models.SettingsURLMax) }, ValidationError{{FieldTokenURL, CodeTooLong}}},
		{"mobile is not a global method", func(in *Input) { in.MatchingMethod = models.MatchMobile }, ValidationError{{FieldMatchingMethod, CodeInvalid}}},
		{"sync interval over a week", func(in *Input) { in.SyncIntervalMinutes = MaxSyncIntervalMinutes + 1 }, ValidationError{{FieldSyncInterval, CodeInvalid}}},
		{"coalescing off", func(in *Input) { in.CoalesceMinutes = 0 }, nil},
		{"coalescing a full day", func(in *Input) { in.CoalesceMinutes = MaxCoalesceMinutes }, nil},
		{"coalescing over a day", func(in *Input) { in.CoalesceMinutes = MaxCoalesceMinutes + 1 }, ValidationError{{FieldCoalesceMinutes, CodeInvalid}}},
		{"coalescing negative", func(in *Input) { in.CoalesceMinutes = -1 }, ValidationError{{FieldCoalesceMinutes, CodeInvalid}}},
		{"two fields", func(in *Input) { in.AgentID, in.SyncIntervalMinutes = 0, -1 }, ValidationError{{FieldAgentID, CodeRequired}, {FieldSyncInterval, CodeInvalid}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := validInput()
			tt.edit(&in)
			err := Validate(in)
			var got ValidationError
			if err != nil && !errors.As(err, &got) {
				t.Fatalf("Validate = %v, not a ValidationError", err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("Validate = %v, want %v", got, tt.want)
			}
		})
	}
}

// Save refuses what Validate refuses before the store sees it.
func TestSaveRefusesInvalidInput(t *testing.T) {
	svc := New(fakeStore{}, nil, slog.New(slog.DiscardHandler))
	in := validInput()
	in.AppKey = ""
	err := svc.Save(context.Background(), in, "admin")
	var invalid ValidationError
	if !errors.As(err, &invalid) || len(invalid) != 1 || invalid[0] != (FieldError{FieldAppKey, CodeRequired}) {
		t.Fatalf("Save = %v, want a ValidationError about appKey", err)
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
		cr    Credentials
		want  TestProblem
	}{
		{"stored secret unreadable", fakeStore{err: unreadable}, Credentials{AppKey: "dingabc", TokenURL: defaultTokenURL}, ProblemSecretUnreadable},
		{"no secret anywhere", fakeStore{set: models.DefaultSettings()}, Credentials{AppKey: "dingabc", TokenURL: defaultTokenURL}, ProblemNoSecret},
		{"relative token URL", fakeStore{}, Credentials{AppKey: "dingabc", AppSecret: "typed", TokenURL: "/gettoken"}, ProblemBadTokenURL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := New(tt.store, nil, slog.New(slog.DiscardHandler))
			got, err := svc.TestConnection(context.Background(), tt.cr, "admin")
			if err != nil || got.OK || got.Problem != tt.want {
				t.Fatalf("TestConnection = %+v, %v; want problem %s", got, err, tt.want)
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
		name        string
		tokenURL    string
		secret      string
		wantOK      bool
		wantProblem TestProblem
		wantSent    bool
	}{
		{"saved host, secret left empty", dt.Endpoints().Token, "", true, "", false},
		{"saved host, another path", dt.URL() + "/gettoken?x=1", "", true, "", false},
		{"another host, secret left empty", other.URL + "/gettoken", "", false, ProblemSecretOtherHost, false},
		{"another host, secret typed", other.URL + "/gettoken", "stored-secret", true, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			other.got.Store(false)
			var audited []models.AuditEntry
			svc := New(fakeStore{set: stored, audited: &audited}, nil, slog.New(slog.DiscardHandler))
			got, err := svc.TestConnection(context.Background(), Credentials{AppKey: "dingabc", AppSecret: tt.secret, TokenURL: tt.tokenURL}, "admin")
			if err != nil {
				t.Fatal(err)
			}
			if got.OK != tt.wantOK || got.Problem != tt.wantProblem {
				t.Fatalf("result %+v, want OK %v, problem %q", got, tt.wantOK, tt.wantProblem)
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
			got, err := svc.TestConnection(context.Background(), Credentials{AppKey: "dingabc", AppSecret: "wrong", TokenURL: tt.tokenURL}, "admin")
			if err != nil {
				t.Fatal(err)
			}
			if got.OK || got.Unreachable != tt.wantUnreachable || got.Errcode != tt.wantErrcode || got.Errmsg == "" {
				t.Fatalf("result %+v, want unreachable %v, errcode %d and a reason", got, tt.wantUnreachable, tt.wantErrcode)
			}
		})
	}
}
