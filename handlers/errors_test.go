package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/dingfluence/dingfluence/locale"
	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/orgsync"
	"github.com/dingfluence/dingfluence/settings"
)

func TestErrorStatus(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantID     string
	}{
		{"HTTP error with a message id", echo.NewHTTPError(http.StatusBadRequest, "error.badForm"), http.StatusBadRequest, "error.badForm"},
		{"echo's own 405", echo.ErrMethodNotAllowed, http.StatusMethodNotAllowed, "Method Not Allowed"},
		{"wrapped not found", fmt.Errorf("load department 7: %w", models.ErrNotFound), http.StatusNotFound, "Not Found"},
		{"busy sync", fmt.Errorf("start: %w", &orgsync.BusyError{Run: models.SyncRun{ID: 3}}), http.StatusConflict, "sync.overlapping"},
		{"DingTalk not configured", fmt.Errorf("get client: %w", settings.ErrNotConfigured), http.StatusConflict, "sync.notConfigured"},
		{"unreadable secret", models.ErrSecretUnreadable, http.StatusConflict, "settings.secretUnreadable"},
		{"duplicate", models.ErrDuplicate, http.StatusConflict, "error.duplicate"},
		{"anything else", errors.New("disk full"), http.StatusInternalServerError, "error.internal"},
	}
	bundle, err := locale.NewBundle()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, id := errorStatus(tt.err)
			if status != tt.wantStatus || id != tt.wantID {
				t.Fatalf("errorStatus = %d %q, want %d %q", status, id, tt.wantStatus, tt.wantID)
			}
			// Every message the mapper picks reads as text in every language.
			for _, l := range locale.Supported() {
				ctx := locale.WithLocalizer(context.Background(), bundle.Localizer(l.Tag))
				if got := locale.T(ctx, id); got == id {
					t.Errorf("%s has no text for %q", l.Tag, id)
				}
			}
		})
	}
}
