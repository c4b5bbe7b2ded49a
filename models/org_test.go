package models_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/models/modelstest"
)

var (
	t0 = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	t1 = t0.Add(time.Hour)
	t2 = t0.Add(2 * time.Hour)
)

func TestUpsertDepartmentsWritesOnlyChanges(t *testing.T) {
	steps := []struct {
		name        string
		at          time.Time
		in          []models.Department
		wantWritten int
		want        []models.Department // all stored rows, by dept_id
	}{
		{
			name: "new departments are inserted", at: t0,
			in:          []models.Department{{DeptID: 2, ParentID: 1, Name: "Eng", Order: 0}, {DeptID: 3, ParentID: 1, Name: "Sales", Order: 1}},
			wantWritten: 2,
			want:        []models.Department{{DeptID: 2, ParentID: 1, Name: "Eng", Order: 0, SyncedAt: t0}, {DeptID: 3, ParentID: 1, Name: "Sales", Order: 1, SyncedAt: t0}},
		},
		{
			name: "the same data writes nothing", at: t1,
			in:          []models.Department{{DeptID: 2, ParentID: 1, Name: "Eng", Order: 0}, {DeptID: 3, ParentID: 1, Name: "Sales", Order: 1}},
			wantWritten: 0,
			want:        []models.Department{{DeptID: 2, ParentID: 1, Name: "Eng", Order: 0, SyncedAt: t0}, {DeptID: 3, ParentID: 1, Name: "Sales", Order: 1, SyncedAt: t0}},
		},
		{
			name: "a rename, a move and a reorder each write their row only", at: t2,
			in: []models.Department{
				{DeptID: 2, ParentID: 1, Name: "R&D", Order: 0}, {DeptID: 3, ParentID: 2, Name: "Sales", Order: 1},
				{DeptID: 4, ParentID: 1, Name: "Ops", Order: 2},
			},
			wantWritten: 3,
			want: []models.Department{
				{DeptID: 2, ParentID: 1, Name: "R&D", Order: 0, SyncedAt: t2}, {DeptID: 3, ParentID: 2, Name: "Sales", Order: 1, SyncedAt: t2},
				{DeptID: 4, ParentID: 1, Name: "Ops", Order: 2, SyncedAt: t2},
			},
		},
	}
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		for _, step := range steps {
			written, err := store.UpsertDepartments(ctx, step.in, step.at)
			if err != nil {
				t.Fatalf("%s: UpsertDepartments: %v", step.name, err)
			}
			if written != step.wantWritten {
				t.Errorf("%s: wrote %d rows, want %d", step.name, written, step.wantWritten)
			}
			var got []models.Department
			db.Order("dept_id").Find(&got)
			if !slices.EqualFunc(got, step.want, sameDepartment) {
				t.Errorf("%s: stored %+v, want %+v", step.name, got, step.want)
			}
		}
	})
}

func sameDepartment(a, b models.Department) bool {
	return a.DeptID == b.DeptID && a.ParentID == b.ParentID && a.Name == b.Name && a.Order == b.Order && a.SyncedAt.Equal(b.SyncedAt)
}

func TestUpsertDingTalkUsersWritesOnlyChanges(t *testing.T) {
	alice := models.DingTalkUser{UserID: "u1", UnionID: "un1", Name: "Alice", Email: "alice@example.com", JobNumber: "E1", Mobile: "138", Title: "Dev", Active: true}
	bob := models.DingTalkUser{UserID: "u2", Name: "Bob", Active: true}
	renamed := alice
	renamed.Name = "Alice Wang"
	gone := bob
	gone.Active = false
	notActivated := renamed
	notActivated.Activated = false
	alice.Activated, bob.Activated, renamed.Activated, gone.Activated = true, true, true, true
	type stamp struct{ created, updated time.Time }
	steps := []struct {
		name        string
		at          time.Time
		in          []models.DingTalkUser
		wantWritten int
		want        map[string]stamp
	}{
		{"new users are inserted", t0, []models.DingTalkUser{alice, bob}, 2, map[string]stamp{"u1": {t0, t0}, "u2": {t0, t0}}},
		{"the same data writes nothing", t1, []models.DingTalkUser{alice, bob}, 0, map[string]stamp{"u1": {t0, t0}, "u2": {t0, t0}}},
		{"a changed field writes that user only", t1, []models.DingTalkUser{renamed, bob}, 1, map[string]stamp{"u1": {t0, t1}, "u2": {t0, t0}}},
		{"a flag change counts as a change", t2, []models.DingTalkUser{gone}, 1, map[string]stamp{"u1": {t0, t1}, "u2": {t0, t2}}},
		{"a user listed twice is written once, as last listed", t2, []models.DingTalkUser{alice, renamed}, 0, map[string]stamp{"u1": {t0, t1}, "u2": {t0, t2}}},
		{"DingTalk's own active flag counts as a change", t2, []models.DingTalkUser{notActivated}, 1, map[string]stamp{"u1": {t0, t2}, "u2": {t0, t2}}},
	}
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		for _, step := range steps {
			written, err := store.UpsertDingTalkUsers(ctx, step.in, step.at)
			if err != nil {
				t.Fatalf("%s: UpsertDingTalkUsers: %v", step.name, err)
			}
			if written != step.wantWritten {
				t.Errorf("%s: wrote %d rows, want %d", step.name, written, step.wantWritten)
			}
			for id, want := range step.want {
				var got models.DingTalkUser
				if err := db.Where("userid = ?", id).Take(&got).Error; err != nil {
					t.Fatalf("%s: read %s: %v", step.name, id, err)
				}
				if !got.CreatedAt.Equal(want.created) || !got.UpdatedAt.Equal(want.updated) || !got.SyncedAt.Equal(want.updated) {
					t.Errorf("%s: %s created/updated/synced = %v/%v/%v, want %v/%v/%v", step.name, id,
						got.CreatedAt, got.UpdatedAt, got.SyncedAt, want.created, want.updated, want.updated)
				}
			}
		}
		var got models.DingTalkUser
		db.Where("userid = ?", "u1").Take(&got)
		if got.Name != "Alice Wang" || got.UnionID != "un1" || got.Email != "alice@example.com" || got.JobNumber != "E1" ||
			got.Mobile != "138" || got.Title != "Dev" || !got.Active || got.Activated {
			t.Errorf("u1 = %+v; want listed (active) but not activated", got)
		}
		var u2 models.DingTalkUser
		db.Where("userid = ?", "u2").Take(&u2)
		if u2.Active {
			t.Errorf("u2 still active after an update with Active false")
		}
	})
}

func TestReplaceDepartmentMembers(t *testing.T) {
	steps := []struct {
		name                   string
		dept                   int64
		users                  []string
		wantAdded, wantRemoved int
	}{
		{"first listing adds all", 2, []string{"a", "b"}, 2, 0},
		{"another department is independent", 3, []string{"a"}, 1, 0},
		{"one left and one joined", 2, []string{"b", "c"}, 1, 1},
		{"the same listing changes nothing", 2, []string{"c", "b"}, 0, 0},
		{"an empty department loses everyone", 2, nil, 0, 2},
	}
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		want := map[int64][]string{}
		for _, step := range steps {
			added, removed, err := store.ReplaceDepartmentMembers(ctx, step.dept, step.users)
			if err != nil {
				t.Fatalf("%s: %v", step.name, err)
			}
			if added != step.wantAdded || removed != step.wantRemoved {
				t.Errorf("%s: added %d removed %d, want %d and %d", step.name, added, removed, step.wantAdded, step.wantRemoved)
			}
			want[step.dept] = slices.Sorted(slices.Values(step.users))
			for dept, users := range want {
				if got := members(t, db, dept); !slices.Equal(got, users) {
					t.Errorf("%s: members of %d = %v, want %v", step.name, dept, got, users)
				}
			}
		}
	})
}

func members(t *testing.T, db *gorm.DB, dept int64) []string {
	t.Helper()
	var ids []string
	if err := db.Model(&models.DepartmentMember{}).Where("dept_id = ?", dept).Order("userid").Pluck("userid", &ids).Error; err != nil {
		t.Fatalf("read members of %d: %v", dept, err)
	}
	return ids
}

// seedTree stores root 1 with children 2 Eng (order 1) and 3 Sales (order 0); below 2:
// 4 Backend and 5 Frontend; below 4: 6 Infra. Members: 2: a, b; 4: b, c; 6: d.
func seedTree(t *testing.T, store *models.Store) {
	t.Helper()
	ctx := context.Background()
	depts := []models.Department{
		{DeptID: 1, Name: "Example Corp"},
		{DeptID: 2, ParentID: 1, Name: "Eng", Order: 1},
		{DeptID: 3, ParentID: 1, Name: "Sales", Order: 0},
		{DeptID: 4, ParentID: 2, Name: "Backend", Order: 0},
		{DeptID: 5, ParentID: 2, Name: "Frontend", Order: 0},
		{DeptID: 6, ParentID: 4, Name: "Infra", Order: 0},
	}
	if _, err := store.UpsertDepartments(ctx, depts, t0); err != nil {
		t.Fatalf("seed departments: %v", err)
	}
	for dept, users := range map[int64][]string{2: {"a", "b"}, 4: {"b", "c"}, 6: {"d"}} {
		if _, _, err := store.ReplaceDepartmentMembers(ctx, dept, users); err != nil {
			t.Fatalf("seed members: %v", err)
		}
	}
}

func TestDepartmentTree(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		seedTree(t, store)

		nodes, err := store.DepartmentChildren(ctx, 1)
		if err != nil {
			t.Fatalf("DepartmentChildren(1): %v", err)
		}
		type node struct {
			id              int64
			children, users int
		}
		var got []node
		for _, n := range nodes {
			got = append(got, node{n.DeptID, n.ChildCount, n.MemberCount})
		}
		if want := []node{{3, 0, 0}, {2, 2, 2}}; !slices.Equal(got, want) {
			t.Errorf("children of 1 (id, children, members) = %v, want %v (by order, then name)", got, want)
		}
		nodes, _ = store.DepartmentChildren(ctx, 2)
		if len(nodes) != 2 || nodes[0].Name != "Backend" || nodes[1].Name != "Frontend" || nodes[0].ChildCount != 1 || nodes[0].MemberCount != 2 {
			t.Errorf("children of 2 = %+v, want Backend (1 child, 2 members), Frontend (same order, by name)", nodes)
		}

		if d, err := store.Department(ctx, 4); err != nil || d.Name != "Backend" || d.ParentID != 2 {
			t.Errorf("Department(4) = %+v, %v", d, err)
		}
		if _, err := store.Department(ctx, 99); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("Department(99) error = %v, want ErrNotFound", err)
		}

		subtrees := []struct {
			root int64
			want []int64
		}{{1, []int64{1, 2, 3, 4, 5, 6}}, {2, []int64{2, 4, 5, 6}}, {6, []int64{6}}, {99, []int64{99}}}
		for _, st := range subtrees {
			got, err := store.SubtreeDepartmentIDs(ctx, st.root)
			if err != nil {
				t.Fatalf("SubtreeDepartmentIDs(%d): %v", st.root, err)
			}
			if slices.Sort(got); !slices.Equal(got, st.want) {
				t.Errorf("SubtreeDepartmentIDs(%d) = %v, want %v", st.root, got, st.want)
			}
		}
		if got, _ := store.ChildDepartmentIDs(ctx, 2); !slices.Equal(got, []int64{4, 5}) {
			t.Errorf("ChildDepartmentIDs(2) = %v, want [4 5]", got)
		}

		depts, memberRows, err := store.DeleteDepartments(ctx, []int64{4, 6})
		if err != nil || depts != 2 || memberRows != 3 {
			t.Errorf("DeleteDepartments(4, 6) = %d, %d, %v; want 2 departments and 3 member rows", depts, memberRows, err)
		}
		if got, _ := store.SubtreeDepartmentIDs(ctx, 2); !slices.Equal(got, []int64{2, 5}) {
			t.Errorf("subtree of 2 after delete = %v, want [2 5]", got)
		}
		if got := members(t, db, 2); !slices.Equal(got, []string{"a", "b"}) {
			t.Errorf("members of 2 after deleting 4 = %v, want untouched", got)
		}
	})
}

func TestDeactivateDingTalkUsersNotIn(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := newStore(t, db)
		users := []models.DingTalkUser{{UserID: "a", Active: true}, {UserID: "b", Active: true}, {UserID: "c", Active: false}}
		if _, err := store.UpsertDingTalkUsers(ctx, users, t0); err != nil {
			t.Fatal(err)
		}
		n, err := store.DeactivateDingTalkUsersNotIn(ctx, map[string]struct{}{"a": {}}, t1)
		if err != nil || n != 1 {
			t.Fatalf("DeactivateDingTalkUsersNotIn = %d, %v; want 1 (b; c already inactive)", n, err)
		}
		want := map[string]struct {
			active  bool
			updated time.Time
		}{"a": {true, t0}, "b": {false, t1}, "c": {false, t0}}
		for id, w := range want {
			var got models.DingTalkUser
			if err := db.Where("userid = ?", id).Take(&got).Error; err != nil {
				t.Fatalf("user %s was deleted: %v", id, err)
			}
			if got.Active != w.active || !got.UpdatedAt.Equal(w.updated) {
				t.Errorf("user %s active=%v updated=%v, want %v %v", id, got.Active, got.UpdatedAt, w.active, w.updated)
			}
		}
		if n, _ := store.DeactivateDingTalkUsersNotIn(ctx, map[string]struct{}{"a": {}}, t2); n != 0 {
			t.Errorf("second DeactivateDingTalkUsersNotIn = %d, want 0", n)
		}
	})
}

func TestDingTalkUserStatus(t *testing.T) {
	tests := []struct {
		active, activated bool
		want              models.MemberStatus
	}{
		{true, true, models.MemberActive},
		{true, false, models.MemberNotActivated},
		{false, true, models.MemberLeft},
		{false, false, models.MemberLeft}, // having left outweighs never having activated
	}
	for _, tt := range tests {
		u := models.DingTalkUser{Active: tt.active, Activated: tt.activated}
		if got := u.Status(); got != tt.want {
			t.Errorf("Status of active=%v activated=%v = %s, want %s", tt.active, tt.activated, got, tt.want)
		}
	}
}
