package dingtalk_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/dingfluence/dingfluence/dingtalk"
	"github.com/dingfluence/dingfluence/dingtalk/dingtalktest"
)

// IsTransient tells a sync which failures may pass if it asks again later.
func TestIsTransient(t *testing.T) {
	tests := []struct {
		name   string
		inject int // errcode DingTalk answers
		want   bool
	}{
		{"DingTalk busy", -1, true},
		{"throttled", 90018, true},
		{"no permission", 60011, false},
		{"no such department", 60003, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c, _ := setup(t, dingtalktest.Options{}, dingtalk.Config{MaxRetries: -1})
			srv.InjectError("v2/department/listsub", tt.inject, 1)
			_, err := c.ListSubDepartments(t.Context(), 1)
			if err == nil || dingtalk.IsTransient(err) != tt.want {
				t.Errorf("IsTransient(%v) = %v, want %v", err, dingtalk.IsTransient(err), tt.want)
			}
		})
	}
	t.Run("HTTP failure", func(t *testing.T) {
		down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "bad gateway", http.StatusBadGateway)
		}))
		t.Cleanup(down.Close)
		_, c, _ := setup(t, dingtalktest.Options{}, dingtalk.Config{MaxRetries: -1, Endpoints: dingtalk.EndpointsAt(down.URL)})
		if _, err := c.Token(t.Context()); !dingtalk.IsTransient(err) {
			t.Errorf("IsTransient(%v) = false, want true", err)
		}
	})
	t.Run("not a DingTalk error", func(t *testing.T) {
		if dingtalk.IsTransient(errors.New("disk full")) || dingtalk.IsTransient(nil) {
			t.Errorf("IsTransient of a non-DingTalk error is true")
		}
	})
}
