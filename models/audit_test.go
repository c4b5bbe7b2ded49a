package models_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/models/modelstest"
)

func TestRecentAudit(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		for i := range 5 {
			if err := store.Audit(ctx, models.AuditEntry{Actor: "admin", Action: models.ActionSyncStart, Details: fmt.Sprintf("run %d", i)}); err != nil {
				t.Fatalf("Audit: %v", err)
			}
		}
		tests := []struct {
			limit int
			want  []string
		}{
			{limit: 2, want: []string{"run 4", "run 3"}},
			{limit: 0, want: []string{"run 4", "run 3", "run 2", "run 1", "run 0"}},
		}
		for _, tt := range tests {
			got, err := store.RecentAudit(ctx, tt.limit)
			if err != nil {
				t.Fatalf("RecentAudit(%d): %v", tt.limit, err)
			}
			var details []string
			for _, e := range got {
				details = append(details, e.Details)
				if e.Actor != "admin" || e.Action != "sync.start" || e.CreatedAt.IsZero() {
					t.Errorf("entry = %+v", e)
				}
			}
			if fmt.Sprint(details) != fmt.Sprint(tt.want) {
				t.Errorf("RecentAudit(%d) = %v, want %v", tt.limit, details, tt.want)
			}
		}
	})
}

// The audit log screen's query: newest first (by time, then by id for entries
// of the same millisecond), filtered by action, paged, with the total of all
// pages.
func TestAuditPage(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		base := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
		actions := []models.AuditAction{models.ActionSignIn, models.ActionSignInFailed, models.ActionSettingsUpdate}
		// 12 entries, 4 of each action, each a minute after the last, written
		// out of time order so the order must come from created_at.
		for _, i := range []int{5, 0, 11, 3, 8, 1, 10, 2, 7, 4, 9, 6} {
			e := models.AuditEntry{Actor: fmt.Sprintf("u%02d", i), Action: actions[i%3], Address: "203.0.113.1", Details: "method: password", CreatedAt: base.Add(time.Duration(i) * time.Minute)}
			if err := store.Audit(ctx, e); err != nil {
				t.Fatalf("Audit: %v", err)
			}
		}
		tests := []struct {
			name      string
			q         models.AuditQuery
			wantTotal int
			want      string
		}{
			{"first page of all", models.AuditQuery{Limit: 5}, 12, "[u11 u10 u09 u08 u07]"},
			{"third page of all", models.AuditQuery{Offset: 10, Limit: 5}, 12, "[u01 u00]"},
			{"past the end", models.AuditQuery{Offset: 50, Limit: 5}, 12, "[]"},
			{"one action", models.AuditQuery{Action: models.ActionSignInFailed, Limit: 3}, 4, "[u10 u07 u04]"},
			{"one action, second page", models.AuditQuery{Action: models.ActionSignInFailed, Offset: 3, Limit: 3}, 4, "[u01]"},
			{"an action with no entries", models.AuditQuery{Action: models.ActionSyncStart}, 0, "[]"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				page, err := store.AuditPage(ctx, tt.q)
				if err != nil {
					t.Fatal(err)
				}
				var actors []string
				for _, e := range page.Entries {
					actors = append(actors, e.Actor)
					if tt.q.Action != "" && e.Action != tt.q.Action {
						t.Errorf("entry of action %q in a page of %q", e.Action, tt.q.Action)
					}
					if e.Address != "203.0.113.1" {
						t.Errorf("address = %q", e.Address)
					}
				}
				if page.Total != tt.wantTotal || fmt.Sprint(actors) != tt.want {
					t.Fatalf("total %d, entries %v; want %d, %s", page.Total, actors, tt.wantTotal, tt.want)
				}
			})
		}

		// Same instant: the later write comes first.
		same := base.Add(time.Hour)
		for _, actor := range []string{"first", "second"} {
			if err := store.Audit(ctx, models.AuditEntry{Actor: actor, Action: models.ActionSyncStart, CreatedAt: same}); err != nil {
				t.Fatal(err)
			}
		}
		page, err := store.AuditPage(ctx, models.AuditQuery{Action: models.ActionSyncStart})
		if err != nil || len(page.Entries) != 2 || page.Entries[0].Actor != "second" {
			t.Fatalf("entries of one instant = %+v, %v; want the later write first", page.Entries, err)
		}
	})
}

// An attempted username longer than the column is cut, not refused by MySQL.
func TestAuditCutsOverlongValues(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		e := models.AuditEntry{Actor: strings.Repeat("名", 300), Action: models.ActionSignInFailed, Address: strings.Repeat("1", 100)}
		if err := store.Audit(ctx, e); err != nil {
			t.Fatalf("Audit: %v", err)
		}
		got, err := store.RecentAudit(ctx, 1)
		if err != nil || len(got) != 1 {
			t.Fatal(got, err)
		}
		if n := len([]rune(got[0].Actor)); n != 255 || !strings.HasSuffix(got[0].Actor, "…") {
			t.Fatalf("actor is %d characters", n)
		}
		if n := len([]rune(got[0].Address)); n > 64 {
			t.Fatalf("address is %d characters", n)
		}
	})
}
