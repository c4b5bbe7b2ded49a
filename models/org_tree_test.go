package models_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/models/modelstest"
)

// shape writes nodes as "id[children]" with the open ones' children inside, e.g.
// "1[2[4 5] 3]", so a test compares the whole shown tree at once.
func shape(nodes []models.DepartmentNode) string {
	parts := make([]string, len(nodes))
	for i, n := range nodes {
		parts[i] = fmt.Sprint(n.DeptID)
		if n.Open {
			parts[i] += "[" + shape(n.Children) + "]"
		}
	}
	return strings.Join(parts, " ")
}

func TestDepartmentTreeOpensTheAskedDepartments(t *testing.T) {
	tests := []struct {
		name string
		open []int64
		want string
	}{
		{"nothing open", nil, "1"},
		{"the root", []int64{1}, "1[2 3]"},
		{"down to Backend", []int64{1, 2, 4}, "1[2[4[7] 5] 3]"},
		// A department below a closed one is not shown, open or not.
		{"open below a closed one", []int64{4}, "1"},
		// A department without sub-departments has nothing to open.
		{"a leaf", []int64{1, 3, 6}, "1[2 3[6]]"},
	}
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		store := newStore(t, db)
		orgTree(t, store)
		for _, tt := range tests {
			open := map[int64]bool{}
			for _, id := range tt.open {
				open[id] = true
			}
			nodes, err := store.DepartmentTree(context.Background(), 0, open)
			if err != nil {
				t.Fatal(err)
			}
			if got := shape(nodes); got != tt.want {
				t.Errorf("%s: tree %q, want %q", tt.name, got, tt.want)
			}
		}
	})
}

func TestDepartmentTreeShowingOpensTheAncestors(t *testing.T) {
	tests := []struct {
		name  string
		depts []int64
		want  string
	}{
		{"none", nil, "1"},
		{"the root itself", []int64{1}, "1"},
		{"Storage: its ancestors open", []int64{7}, "1[2[4[7] 5] 3]"},
		{"Backend: its ancestors open, not itself", []int64{4}, "1[2[4 5] 3]"},
		{"two branches", []int64{5, 6}, "1[2[4 5] 3[6]]"},
		// Not stored: somewhere below the root, where no row can show it.
		{"an unknown department", []int64{99}, "1"},
	}
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		store := newStore(t, db)
		orgTree(t, store)
		for _, tt := range tests {
			nodes, err := store.DepartmentTreeShowing(context.Background(), tt.depts)
			if err != nil {
				t.Fatal(err)
			}
			if got := shape(nodes); got != tt.want {
				t.Errorf("%s: tree %q, want %q", tt.name, got, tt.want)
			}
		}
	})
}

func TestDepartmentTreeNode(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		if _, err := store.DepartmentTreeNode(ctx, 1, nil); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("root before a sync: %v, want ErrNotFound", err)
		}
		orgTree(t, store)
		if _, _, err := store.ReplaceDepartmentMembers(ctx, 2, []string{"a", "b"}); err != nil {
			t.Fatal(err)
		}
		n, err := store.DepartmentTreeNode(ctx, 2, map[int64]bool{2: true})
		if err != nil {
			t.Fatal(err)
		}
		if n.Name != "Eng" || n.ChildCount != 2 || n.MemberCount != 2 || shape([]models.DepartmentNode{n}) != "2[4 5]" {
			t.Errorf("Eng = %+v", n)
		}
		n, err = store.DepartmentTreeNode(ctx, 2, nil)
		if err != nil || n.Open || n.Children != nil {
			t.Errorf("closed Eng = %+v, %v", n, err)
		}
	})
}

// Runs name their department as it is stored when they are read; one not stored yet
// has no name.
func TestSyncRunsNameTheirDepartment(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		before, _, err := store.BeginSyncRun(ctx, newRun(models.SyncKindFull, 1, t0), t0.Add(-1))
		if err != nil || before.DeptName != "" {
			t.Fatalf("run before the first sync = %+v, %v; want no name", before, err)
		}
		orgTree(t, store)
		busy, started, err := store.BeginSyncRun(ctx, newRun(models.SyncKindDepartmentUsers, 4, t0), t0.Add(-1))
		if err != nil || started || busy.DeptName != "Corp" {
			t.Fatalf("refused begin = %+v, %v, %v; want the full sync, named Corp", busy, started, err)
		}
		before.Status, before.FinishedAt = models.SyncStatusSucceeded, &t1
		if err := store.FinishSyncRun(ctx, before); err != nil {
			t.Fatal(err)
		}
		backend, _, err := store.BeginSyncRun(ctx, newRun(models.SyncKindDepartmentUsers, 4, t1), t0)
		if err != nil || backend.DeptName != "Backend" {
			t.Fatalf("begin of Backend = %+v, %v", backend, err)
		}
		one, err := store.SyncRun(ctx, before.ID)
		if err != nil || one.DeptName != "Corp" {
			t.Errorf("SyncRun = %q, %v; want Corp", one.DeptName, err)
		}
		recent, err := store.RecentSyncRuns(ctx, 10)
		if err != nil || len(recent) != 2 || recent[0].DeptName != "Backend" || recent[1].DeptName != "Corp" {
			t.Errorf("RecentSyncRuns = %+v, %v", recent, err)
		}
		running, err := store.RunningSyncRuns(ctx)
		if err != nil || len(running) != 1 || running[0].DeptName != "Backend" {
			t.Errorf("RunningSyncRuns = %+v, %v", running, err)
		}
	})
}
