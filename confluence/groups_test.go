package confluence_test

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"

	"github.com/dingfluence/dingfluence/confluence"
	"github.com/dingfluence/dingfluence/confluence/confluencetest"
)

// addMembers adds n users u01…un to group and returns their usernames in order.
func addMembers(f fixture, group string, n int) []string {
	var names []string
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("u%02d", i)
		f.srv.AddUser(confluencetest.User{Username: name, Email: name + "@example.com"})
		names = append(names, name)
	}
	f.srv.AddToGroup(group, names...)
	return names
}

func TestGroupMembersPagesThroughBothEnvelopes(t *testing.T) {
	tests := []struct {
		name       string
		opts       confluencetest.Options
		pageSize   int
		wantStarts []string
		wantLimit  string
	}{
		{"_links envelope, server caps limit at 3", confluencetest.Options{MaxLimit: 3}, 0, []string{"0", "3", "6", "9"}, "200"},
		{"cursor envelope, server caps limit at 3", confluencetest.Options{MaxLimit: 3, Envelope: confluencetest.EnvelopeCursor}, 0, []string{"0", "3", "6", "9"}, "200"},
		{"_links envelope, client asks for 4", confluencetest.Options{}, 4, []string{"0", "4", "8"}, "4"},
		{"cursor envelope, client asks for 4", confluencetest.Options{Envelope: confluencetest.EnvelopeCursor}, 4, []string{"0", "4", "8"}, "4"},
		{"cursor envelope below a context path", confluencetest.Options{MaxLimit: 2, Envelope: confluencetest.EnvelopeCursor, ContextPath: "/confluence"}, 0, []string{"0", "2", "4", "6", "8"}, "200"},
		{"_links envelope below a context path", confluencetest.Options{MaxLimit: 5, ContextPath: "/confluence"}, 0, []string{"0", "5"}, "200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, tt.opts, confluence.Config{PageSize: tt.pageSize})
			want := addMembers(f, "confluence-users", 10)
			f.srv.Deactivate("u03")

			var got []string
			for u, err := range f.c.GroupMembers(t.Context(), "confluence-users") {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, u.Username)
				if u.Key == "" || u.Email != u.Username+"@example.com" {
					t.Errorf("member %+v: want key and the listed e-mail", u)
				}
				if u.Active != (u.Username != "u03") {
					t.Errorf("member %s: Active %v, status %q", u.Username, u.Active, u.Status)
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("members %v, want %v", got, want)
			}
			var starts []string
			for _, r := range f.srv.Requests() {
				// The client never follows the documented ".../paginate" next link.
				if r.Path != "/rest/api/group/confluence-users/member" {
					t.Errorf("request to %s", r.Path)
				}
				if r.Query.Get("limit") != tt.wantLimit {
					t.Errorf("limit=%s, want %s", r.Query.Get("limit"), tt.wantLimit)
				}
				starts = append(starts, r.Query.Get("start"))
			}
			if !slices.Equal(starts, tt.wantStarts) {
				t.Errorf("starts %v, want %v", starts, tt.wantStarts)
			}
		})
	}
}

func TestGroupMembersStreamsLazily(t *testing.T) {
	f := setup(t, confluencetest.Options{MaxLimit: 3}, confluence.Config{})
	addMembers(f, "big", 30)
	n := 0
	for _, err := range f.c.GroupMembers(t.Context(), "big") {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 4 {
			break
		}
	}
	if got := len(f.srv.Requests()); got != 2 {
		t.Errorf("breaking after 4 members made %d requests, want 2 pages", got)
	}
}

func TestGroupMemberPagesCallback(t *testing.T) {
	f := setup(t, confluencetest.Options{MaxLimit: 4}, confluence.Config{})
	addMembers(f, "team", 10)
	var sizes []int
	err := f.c.GroupMemberPages(t.Context(), "team", func(page []confluence.User) error {
		sizes = append(sizes, len(page))
		return nil
	})
	if err != nil || !slices.Equal(sizes, []int{4, 4, 2}) {
		t.Fatalf("pages %v, %v; want 4, 4, 2", sizes, err)
	}

	stop := errors.New("enough")
	calls := 0
	err = f.c.GroupMemberPages(t.Context(), "team", func([]confluence.User) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("callback error: got %v after %d pages, want it returned after 1", err, calls)
	}
}

func TestGroupMembersPermissionsAndErrors(t *testing.T) {
	tests := []struct {
		name       string
		opts       confluencetest.Options
		cred       confluence.Credential // zero: the admin service account
		group      string
		wantStatus int
	}{
		{"admin lists members", confluencetest.Options{}, confluence.Credential{}, "confluence-users", 0},
		{"non-admin is refused", confluencetest.Options{}, confluence.BasicAuth("bob", bobPassword), "confluence-users", 403},
		{"non-admin where listing is open", confluencetest.Options{OpenGroupListing: true}, confluence.BasicAuth("bob", bobPassword), "confluence-users", 0},
		{"unknown group", confluencetest.Options{}, confluence.Credential{}, "no-such-group", 404},
		{"refused credential", confluencetest.Options{}, confluence.BasicAuth("bob", "wrong"), "confluence-users", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, tt.opts, confluence.Config{})
			addMembers(f, "confluence-users", 2)
			c := f.c
			if tt.cred.Kind() != confluence.AuthNone {
				c = c.WithCredential(tt.cred)
			}
			var n int
			var err error
			for _, e := range c.GroupMembers(t.Context(), tt.group) {
				if e != nil {
					err = e
					break
				}
				n++
			}
			if tt.wantStatus == 0 && (err != nil || n != 2) {
				t.Fatalf("got %d members, %v; want 2", n, err)
			}
			if tt.wantStatus != 0 && (confluence.StatusCode(err) != tt.wantStatus || n != 0) {
				t.Fatalf("got %d members, %v; want HTTP %d", n, err, tt.wantStatus)
			}
		})
	}
}

func TestGroupsOfUserAndIsMemberOf(t *testing.T) {
	f := setup(t, confluencetest.Options{MaxLimit: 2}, confluence.Config{})
	var want []confluence.Group
	for i := range 5 {
		name := "team-" + strconv.Itoa(i)
		f.srv.AddToGroup(name, "alice")
		want = append(want, confluence.Group{Name: name})
	}
	f.srv.AddToGroup("Confluence-Administrators", "svc")

	got, err := f.c.GroupsOfUser(t.Context(), "alice")
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("GroupsOfUser = %v, %v; want %v", got, err, want)
	}
	if n := len(f.srv.RequestsTo("/rest/api/user/memberof")); n != 3 {
		t.Errorf("memberof requests = %d, want 3 pages", n)
	}
	if got, err := f.c.GroupsOfUserKey(t.Context(), f.alice.Key); err != nil || !slices.Equal(got, want) {
		t.Errorf("GroupsOfUserKey = %v, %v", got, err)
	}

	member := []struct {
		user, group string
		want        bool
	}{
		{"alice", "team-3", true},
		{"alice", "TEAM-3", true}, // group names are case-insensitive
		{"alice", "confluence-administrators", false},
		{"svc", "confluence-administrators", true},
		{"bob", "team-0", false},
	}
	for _, m := range member {
		if got, err := f.c.IsMemberOf(t.Context(), m.user, m.group); err != nil || got != m.want {
			t.Errorf("IsMemberOf(%s, %s) = %v, %v; want %v", m.user, m.group, got, err, m.want)
		}
	}

	// A user may read their own groups, but not someone else's.
	asBob := f.c.WithCredential(confluence.BasicAuth("bob", bobPassword))
	if _, err := asBob.GroupsOfUser(t.Context(), "bob"); err != nil {
		t.Errorf("bob's own groups: %v", err)
	}
	if _, err := asBob.IsMemberOf(t.Context(), "alice", "team-0"); !confluence.IsForbidden(err) {
		t.Errorf("bob asking about alice: %v, want 403", err)
	}
	if _, err := f.c.GroupsOfUser(t.Context(), "nobody"); !confluence.IsNotFound(err) {
		t.Errorf("unknown user: %v, want 404", err)
	}
}

func TestRenamedUserKeepsGroups(t *testing.T) {
	f := setup(t, confluencetest.Options{}, confluence.Config{})
	f.srv.AddToGroup("writers", "alice")
	f.srv.RenameUser("alice", "alice2")
	if ok, err := f.c.IsMemberOf(t.Context(), "alice2", "writers"); err != nil || !ok {
		t.Errorf("renamed alice in writers: %v, %v", ok, err)
	}
	var got []confluence.User
	for u, err := range f.c.GroupMembers(t.Context(), "writers") {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, u)
	}
	if len(got) != 1 || got[0].Key != f.alice.Key || got[0].Username != "alice2" {
		t.Errorf("members after rename: %+v", got)
	}
}
