package profile

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/dingfluence/dingfluence/dingtalk"
	"github.com/dingfluence/dingfluence/locale"
	"github.com/dingfluence/dingfluence/models"
)

// memStore holds one user and the audit entries written.
type memStore struct {
	user  models.User
	audit []models.AuditEntry
}

func (m *memStore) UserByID(context.Context, uint) (models.User, error) { return m.user, nil }
func (m *memStore) LoadSettings(context.Context) (models.Settings, error) {
	return models.DefaultSettings(), nil
}
func (m *memStore) SetDingTalkPreferences(context.Context, uint, models.DingTalkPreferences) error {
	return nil
}
func (m *memStore) DingTalkUserByID(context.Context, string) (models.DingTalkUser, error) {
	return models.DingTalkUser{}, models.ErrNotFound
}
func (m *memStore) Audit(_ context.Context, e models.AuditEntry) error {
	m.audit = append(m.audit, e)
	return nil
}

type fixedClient struct{ c *dingtalk.Client }

func (f fixedClient) Client(context.Context) (*dingtalk.Client, error) { return f.c, nil }

// A DingTalk that cannot be reached is reported as such, with the network's words, and
// nothing is claimed about DingTalk's answer.
func TestSendTestMessageUnreachable(t *testing.T) {
	// A port that was just free: connecting to it is refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	client := dingtalk.New(dingtalk.Config{AppKey: "k", AppSecret: "s", AgentID: 1,
		Endpoints: dingtalk.EndpointsAt("http://" + addr), MaxRetries: -1})
	bundle, err := locale.NewBundle()
	if err != nil {
		t.Fatal(err)
	}
	store := &memStore{user: models.User{ID: 7, Username: "zs", DingTalkUserID: "zhangsan",
		ConfluenceIdentity: models.ConfluenceIdentity{MatchStatus: models.MatchMatched}}}
	svc := New(store, nil, fixedClient{client}, Options{Locales: bundle, Clock: clockwork.NewFakeClockAt(time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC))})

	res, err := svc.SendTestMessage(t.Context(), 7)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != TestUnreachable || res.Reason == "" || res.Errcode != 0 || res.TaskID != 0 {
		t.Errorf("result %+v, want unreachable with the network's reason", res)
	}
	if strings.Contains(res.Reason, "appsecret") || strings.Contains(res.Reason, "access_token") {
		t.Errorf("the reason shows a credential: %s", res.Reason)
	}
	if len(store.audit) != 1 || store.audit[0].Actor != "zs" || store.audit[0].Details != "not sent to zhangsan: DingTalk unreachable" {
		t.Errorf("audit %+v", store.audit)
	}
}
