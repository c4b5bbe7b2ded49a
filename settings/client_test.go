package settings

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/dingfluence/dingfluence/dingtalk"
	"github.com/dingfluence/dingfluence/models"
)

// countingTransport counts the requests a client would send, and sends none.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	c.n.Add(1)
	return nil, errors.New("no request may leave in this test")
}

// Without an appKey and appSecret there is no client: one would only send DingTalk's
// public host an empty appKey.
func TestClientNeedsAppKeyAndSecret(t *testing.T) {
	configured := models.DefaultSettings()
	configured.AppKey, configured.AppSecret = "dingabc", "secret"
	noSecret := configured
	noSecret.AppSecret = ""
	blankKey := configured
	blankKey.AppKey = "  "
	tests := []struct {
		name    string
		set     models.Settings
		wantErr error
	}{
		{"nothing saved", models.DefaultSettings(), ErrNotConfigured},
		{"appKey without a secret", noSecret, ErrNotConfigured},
		{"blank appKey", blankKey, ErrNotConfigured},
		{"configured", configured, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			transport := &countingTransport{}
			svc := New(fakeStore{set: tt.set}, func(c *dingtalk.Config) {
				c.HTTPClient = &http.Client{Transport: transport}
			}, slog.New(slog.DiscardHandler))
			client, err := svc.Client(context.Background())
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (client != nil) {
				t.Fatalf("Client = %v, %v; want error %v", client, err, tt.wantErr)
			}
			if n := transport.n.Load(); n != 0 {
				t.Errorf("%d requests sent", n)
			}
			// The Departments screen asks Configured before any sync; it must agree.
			if ok, err := svc.Configured(context.Background()); err != nil || ok != (tt.wantErr == nil) {
				t.Errorf("Configured = %v, %v; want %v", ok, err, tt.wantErr == nil)
			}
		})
	}
}
