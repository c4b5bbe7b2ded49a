package confluence_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/dingfluence/dingfluence/confluence"
	"github.com/dingfluence/dingfluence/confluence/confluencetest"
)

// TestViewRestrictions: Guides is restricted to the "writers" group and svc, Install to
// alice, bob and svc; only someone passing both may view Install.
func TestViewRestrictions(t *testing.T) {
	for _, env := range []confluencetest.Envelope{confluencetest.EnvelopeLinks, confluencetest.EnvelopeCursor} {
		t.Run(fmt.Sprint("envelope ", env), func(t *testing.T) {
			tr := setupTree(t, confluencetest.Options{Envelope: env}, confluence.Config{})
			carol := tr.srv.AddUser(confluencetest.User{Username: "carol"})
			tr.srv.AddToGroup("Writers", "alice", "carol")
			tr.srv.Restrict(tr.guides, []string{"svc"}, []string{"Writers"})
			tr.srv.Restrict(tr.install, []string{"alice", "bob", "svc"}, nil)

			ct, err := tr.c.Content(t.Context(), tr.install)
			if err != nil {
				t.Fatal(err)
			}
			v, err := tr.c.ViewRestrictions(t.Context(), ct)
			if err != nil {
				t.Fatal(err)
			}
			if len(v) != 2 || v[0].ContentID != tr.guides || v[1].ContentID != tr.install {
				t.Fatalf("restrictions %+v: want Guides then Install (Home is unrestricted)", v)
			}
			if !slices.Equal(v[0].Groups, []string{"writers"}) || !slices.Equal(usernames(v[0].Users), []string{"svc"}) {
				t.Errorf("Guides restriction %+v", v[0])
			}
			if !slices.Equal(usernames(v[1].Users), []string{"alice", "bob", "svc"}) || len(v[1].Groups) != 0 {
				t.Errorf("Install restriction %+v", v[1])
			}
			if !v.Restricted() || !v.NeedsGroups() {
				t.Error("Restricted/NeedsGroups false")
			}

			for _, who := range []struct {
				name string
				key  string
			}{{"alice", tr.alice.Key}, {"bob", tr.bob.Key}, {"carol", carol.Key}} {
				groups, err := tr.c.GroupsOfUserKey(t.Context(), who.key)
				if err != nil {
					t.Fatal(err)
				}
				var names []string
				for _, g := range groups {
					names = append(names, g.Name)
				}
				// The double's own rule is the expected answer.
				if got, want := v.Permits(who.key, names), tr.srv.MayView(who.name, tr.install); got != want {
					t.Errorf("%s (groups %v): Permits %v, Confluence says %v", who.name, names, got, want)
				}
			}
			if !tr.srv.MayView("alice", tr.install) || tr.srv.MayView("bob", tr.install) || tr.srv.MayView("carol", tr.install) {
				t.Error("fixture: only alice passes both levels")
			}
			paths := map[string]bool{}
			for _, r := range tr.srv.RequestsTo("/rest/api/content/") {
				paths[r.Path] = true
			}
			for _, id := range []string{tr.home, tr.guides, tr.install} {
				if !paths["/rest/api/content/"+id+"/restriction/byOperation/read"] {
					t.Errorf("restriction of %s not asked", id)
				}
			}
		})
	}
}

func TestReadRestrictionsPage(t *testing.T) {
	tr := setupTree(t, confluencetest.Options{MaxLimit: 2}, confluence.Config{})
	users := []string{"svc", "alice", "bob"}
	for i := range 3 {
		name := fmt.Sprintf("r%d", i)
		tr.srv.AddUser(confluencetest.User{Username: name})
		users = append(users, name)
	}
	groups := []string{"g1", "g2", "g3"}
	tr.srv.Restrict(tr.home, users, groups)
	r, err := tr.c.ReadRestrictions(t.Context(), tr.home)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(usernames(r.Users), users) || !slices.Equal(r.Groups, groups) {
		t.Errorf("restriction %v / %v, want %v / %v", usernames(r.Users), r.Groups, users, groups)
	}
	var starts []string
	for _, q := range tr.srv.RequestsTo("/rest/api/content/") {
		starts = append(starts, q.Query.Get("start"))
	}
	if !slices.Equal(starts, []string{"0", "2", "4"}) {
		t.Errorf("starts %v", starts)
	}
}

func TestReadRestrictionPermits(t *testing.T) {
	r := confluence.ReadRestriction{Users: []confluence.User{{Key: "k1"}}, Groups: []string{"writers"}}
	tests := []struct {
		name   string
		r      confluence.ReadRestriction
		key    string
		groups []string
		want   bool
	}{
		{"unrestricted", confluence.ReadRestriction{}, "anyone", nil, true},
		{"listed user", r, "k1", nil, true},
		{"member of a listed group, any case", r, "k2", []string{"Writers"}, true},
		{"neither", r, "k2", []string{"readers"}, false},
		{"empty key is nobody", confluence.ReadRestriction{Users: []confluence.User{{Key: ""}}}, "", nil, false},
	}
	for _, tt := range tests {
		if got := tt.r.Permits(tt.key, tt.groups); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
	if !(confluence.ViewRestrictions{}).Permits("k", nil) {
		t.Error("no restrictions must permit")
	}
}

func TestViewRestrictionsFailClosed(t *testing.T) {
	tests := []struct {
		name     string
		prepare  func(tr tree)
		wantCode int
	}{
		{"ancestor restricted from the service account", func(tr tree) { tr.srv.Restrict(tr.home, []string{"alice"}, nil) }, http.StatusNotFound},
		{"Confluence fails", func(tr tree) {
			tr.srv.InjectFault(confluencetest.Fault{Path: "/rest/api/content/" + tr.guides + "/restriction", Status: http.StatusInternalServerError}, 1)
		}, http.StatusInternalServerError},
		{"forbidden", func(tr tree) {
			tr.srv.InjectFault(confluencetest.Fault{Path: "/rest/api/content/" + tr.install + "/restriction", Status: http.StatusForbidden}, 1)
		}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := setupTree(t, confluencetest.Options{}, confluence.Config{})
			ct, err := tr.c.Content(t.Context(), tr.install)
			if err != nil {
				t.Fatal(err)
			}
			tt.prepare(tr)
			v, err := tr.c.ViewRestrictions(t.Context(), ct)
			if e := asError(t, err); e.Status != tt.wantCode || e.API != "content.restriction.read" || v != nil {
				t.Errorf("got %v, %+v", v, e)
			}
		})
	}
}

func TestSpaceViewPermission(t *testing.T) {
	tr := setupTree(t, confluencetest.Options{}, confluence.Config{})
	v, err := tr.c.SpaceViewPermission(t.Context(), "ENG")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(v.Groups, []string{confluencetest.DefaultUserGroup}) || len(v.UserKeys) != 0 || v.Anonymous {
		t.Errorf("default viewers %+v", v)
	}
	if !v.Permits(tr.bob.Key, []string{"confluence-users"}) || v.Permits(tr.bob.Key, nil) {
		t.Error("Permits by group")
	}

	tr.srv.SetSpaceViewers("ENG", []string{"bob"}, []string{"Managers"}, false)
	v, err = tr.c.SpaceViewPermission(t.Context(), "ENG")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(v.UserKeys, []string{tr.bob.Key}) || !slices.Equal(v.Groups, []string{"managers"}) {
		t.Errorf("viewers %+v", v)
	}
	if !v.Permits(tr.bob.Key, nil) || v.Permits(tr.alice.Key, []string{"confluence-users"}) || !v.Permits(tr.alice.Key, []string{"managers"}) {
		t.Error("Permits")
	}
	if tr.srv.MayView("alice", tr.install) {
		t.Error("alice may still view a page of a space she lost")
	}
	tr.srv.SetSpaceViewers("ENG", nil, nil, true)
	if v, err = tr.c.SpaceViewPermission(t.Context(), "ENG"); err != nil || !v.Anonymous || !v.Permits("", nil) {
		t.Errorf("anonymous space: %+v, %v", v, err)
	}

	tests := []struct {
		name     string
		opts     confluencetest.Options
		cred     func(tr tree) confluence.Credential
		key      string
		wantCode int
	}{
		{"before 9.1", confluencetest.Options{NoSpacePermissions: true}, nil, "ENG", http.StatusNotFound},
		{"unknown space", confluencetest.Options{}, nil, "NOPE", http.StatusNotFound},
		{"not an administrator", confluencetest.Options{}, func(tr tree) confluence.Credential { return confluence.BasicAuth("bob", bobPassword) }, "ENG", http.StatusForbidden},
		{"bad password", confluencetest.Options{}, func(tr tree) confluence.Credential { return confluence.BasicAuth("bob", "wrong") }, "ENG", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := setupTree(t, tt.opts, confluence.Config{})
			c := tr.c
			if tt.cred != nil {
				c = c.WithCredential(tt.cred(tr))
			}
			_, err := c.SpaceViewPermission(t.Context(), tt.key)
			if e := asError(t, err); e.Status != tt.wantCode || e.API != "space.permissions" {
				t.Errorf("error %+v", e)
			}
		})
	}
}
