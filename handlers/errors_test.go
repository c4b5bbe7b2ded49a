package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/orgsync"
	"github.com/dingfluence/dingfluence/settings"
)

func TestMapError(t *testing.T) {
	busy := &orgsync.BusyError{Run: models.SyncRun{ID: 7}}
	tests := []struct {
		name   string
		err    error
		status int
		msg    string
		link   string
	}{
		{"not found, wrapped", fmt.Errorf("load department 42: %w", models.ErrNotFound), http.StatusNotFound, "error.notFound", ""},
		{"not found in the screen's words", withMessage(fmt.Errorf("load department 42: %w", models.ErrNotFound), "error.departmentNotFound"), http.StatusNotFound, "error.departmentNotFound", ""},
		{"busy", fmt.Errorf("start sync: %w", busy), http.StatusConflict, "error.syncBusy", ""},
		{"busy sentinel", orgsync.ErrBusy, http.StatusConflict, "error.syncBusy", ""},
		{"not configured", fmt.Errorf("sync: %w", settings.ErrNotConfigured), http.StatusConflict, "sync.notConfigured", "/admin/dingtalk/settings"},
		{"invalid settings", fmt.Errorf("save: %w", settings.ValidationError{{Field: settings.FieldAppKey, Code: settings.CodeRequired}}), http.StatusUnprocessableEntity, "error.invalid", ""},
		{"handler's refusal", echo.NewHTTPError(http.StatusBadRequest, "error.badDepartment"), http.StatusBadRequest, "error.badDepartment", ""},
		{"refusal over a domain error", echo.NewHTTPError(http.StatusBadRequest, "error.badForm").SetInternal(models.ErrNotFound), http.StatusBadRequest, "error.badForm", ""},
		{"echo's own", echo.ErrMethodNotAllowed, http.StatusMethodNotAllowed, "Method Not Allowed", ""},
		{"anything else", errors.New("database on fire"), http.StatusInternalServerError, "error.internal", ""},
		// The screen's words never dress up an internal error as something else.
		{"anything else with words", withMessage(errors.New("database on fire"), "error.departmentNotFound"), http.StatusInternalServerError, "error.internal", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mapError(tt.err)
			if got.Status != tt.status || got.Message != tt.msg || got.Link != tt.link {
				t.Fatalf("mapError = %+v, want %d %s link %q", got, tt.status, tt.msg, tt.link)
			}
			if (got.Link == "") != (got.LinkLabel == "") {
				t.Fatalf("link %q with label %q", got.Link, got.LinkLabel)
			}
		})
	}
}

// A route without a language (probes, metrics) answers the status text, not
// a message id.
func TestErrorViewWithoutLanguage(t *testing.T) {
	c := echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/metrics", nil), httptest.NewRecorder())
	v := mapError(errors.New("registry broken")).view(c)
	if v.Message != "Internal Server Error" || v.Link != "" {
		t.Fatalf("view = %+v, want the status text alone", v)
	}
}
