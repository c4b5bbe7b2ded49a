package models_test

import (
	"context"
	"fmt"
	"testing"

	"gorm.io/gorm"

	"github.com/dingfluence/dingfluence/models/modelstest"
)

func TestRecentAudit(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		for i := range 5 {
			if err := store.Audit(ctx, "admin", "sync.start", fmt.Sprintf("run %d", i)); err != nil {
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
