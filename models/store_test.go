package models_test

import (
	"context"
	"errors"
	"testing"

	"gorm.io/gorm"

	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/models/modelstest"
)

// counts returns how many audit entries and sync runs are stored.
func counts(t *testing.T, db *gorm.DB) (audits, runs int64) {
	t.Helper()
	if err := db.Model(&models.AuditEntry{}).Count(&audits).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Model(&models.SyncRun{}).Count(&runs).Error; err != nil {
		t.Fatal(err)
	}
	return audits, runs
}

func TestInTx(t *testing.T) {
	errBoom := errors.New("boom")
	// write begins a sync run and audits it, as orgsync does when a button is pressed.
	write := func(ctx context.Context, tx *models.Store, dept int64) error {
		if _, _, err := tx.BeginSyncRun(ctx, newRun(models.SyncKindDepartmentUsers, dept, t0), t0); err != nil {
			return err
		}
		return tx.Audit(ctx, models.AuditEntry{Actor: "admin", Action: models.ActionSyncStart, Details: "department users"})
	}
	tests := []struct {
		name                string
		fn                  func(ctx context.Context, tx *models.Store) error
		wantErr             error
		wantAudits, wantRun int64
	}{
		{
			name:       "commit writes both",
			fn:         func(ctx context.Context, tx *models.Store) error { return write(ctx, tx, 4) },
			wantAudits: 1, wantRun: 1,
		},
		{
			name: "an error rolls both back",
			fn: func(ctx context.Context, tx *models.Store) error {
				if err := write(ctx, tx, 4); err != nil {
					return err
				}
				return errBoom
			},
			wantErr: errBoom,
		},
		{
			name: "a nested InTx runs in the outer transaction",
			fn: func(ctx context.Context, tx *models.Store) error {
				if err := write(ctx, tx, 4); err != nil {
					return err
				}
				return tx.InTx(ctx, func(inner *models.Store) error {
					if inner != tx {
						return errors.New("the nested InTx got a Store of its own")
					}
					// The outer transaction's uncommitted run is visible here (on SQLite a
					// second transaction would wait for the outer one's lock instead).
					if running, err := inner.RunningSyncRuns(ctx); err != nil || len(running) != 1 {
						return errors.New("the nested InTx does not see the outer writes")
					}
					return write(ctx, inner, 5)
				})
			},
			wantAudits: 2, wantRun: 2,
		},
		{
			name: "an error in a nested InTx rolls back the outer writes too",
			fn: func(ctx context.Context, tx *models.Store) error {
				if err := write(ctx, tx, 4); err != nil {
					return err
				}
				return tx.InTx(ctx, func(inner *models.Store) error {
					if err := write(ctx, inner, 5); err != nil {
						return err
					}
					return errBoom
				})
			},
			wantErr: errBoom,
		},
		{
			name: "a store call with a transaction of its own joins the outer one",
			fn: func(ctx context.Context, tx *models.Store) error {
				if err := write(ctx, tx, 4); err != nil {
					return err
				}
				if _, _, err := tx.DeleteDepartments(ctx, []int64{4}); err != nil {
					return err
				}
				return errBoom
			},
			wantErr: errBoom,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
				ctx := context.Background()
				store := newStore(t, db)
				err := store.InTx(ctx, func(tx *models.Store) error { return tt.fn(ctx, tx) })
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("InTx = %v, want %v", err, tt.wantErr)
				}
				if audits, runs := counts(t, db); audits != tt.wantAudits || runs != tt.wantRun {
					t.Errorf("%d audit entries and %d sync runs stored, want %d and %d", audits, runs, tt.wantAudits, tt.wantRun)
				}
			})
		})
	}
}
