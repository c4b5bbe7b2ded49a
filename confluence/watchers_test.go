package confluence_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/dingfluence/dingfluence/confluence"
	"github.com/dingfluence/dingfluence/confluence/confluencetest"
)

func usernames(users []confluence.User) []string {
	out := make([]string, len(users))
	for i, u := range users {
		out[i] = u.Username
	}
	return out
}

func TestWatchers(t *testing.T) {
	tests := []struct {
		name       string
		opts       confluencetest.Options
		wantSource confluence.WatcherSource
		wantPaths  []string
	}{
		{"9.0+ resources, _links envelope", confluencetest.Options{MaxLimit: 2}, confluence.WatchersREST, []string{
			"/rest/api/content/{page}/watchers", "/rest/api/content/{page}/watchers",
			"/rest/api/space/ENG/watchers", "/rest/api/space/ENG/watchers",
		}},
		{"9.0+ resources, cursor envelope", confluencetest.Options{MaxLimit: 2, Envelope: confluencetest.EnvelopeCursor}, confluence.WatchersREST, []string{
			"/rest/api/content/{page}/watchers", "/rest/api/content/{page}/watchers",
			"/rest/api/space/ENG/watchers", "/rest/api/space/ENG/watchers",
		}},
		{"older Confluence: listwatchers.action", confluencetest.Options{MaxLimit: 2, LegacyWatchers: true}, confluence.WatchersLegacy, []string{
			"/rest/api/content/{page}/watchers", "/json/listwatchers.action",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := setupTree(t, tt.opts, confluence.Config{})
			tr.srv.AddUser(confluencetest.User{Username: "carol"})
			tr.srv.AddUser(confluencetest.User{Username: "dave"})
			// alice watches the install guide by autowatch (she created it).
			tr.srv.WatchPage(tr.install, "bob", "carol")
			tr.srv.WatchSpace("ENG", "carol", "dave", "svc")

			w, err := tr.c.Watchers(t.Context(), tr.install, "ENG")
			if err != nil {
				t.Fatal(err)
			}
			if w.Source != tt.wantSource {
				t.Errorf("source %q, want %q", w.Source, tt.wantSource)
			}
			if got := usernames(w.Page); !slices.Equal(got, []string{"alice", "bob", "carol"}) {
				t.Errorf("page watchers %v", got)
			}
			if got := usernames(w.Space); !slices.Equal(got, []string{"carol", "dave", "svc"}) {
				t.Errorf("space watchers %v", got)
			}
			carol, _ := tr.srv.User("carol")
			dave, _ := tr.srv.User("dave")
			svc, _ := tr.srv.User("svc")
			if got, want := w.UserKeys(), []string{tr.alice.Key, tr.bob.Key, carol.Key, dave.Key, svc.Key}; !slices.Equal(got, want) {
				t.Errorf("user keys %v, want %v (each once)", got, want)
			}
			for _, u := range append(w.Page, w.Space...) {
				if u.DisplayName == "" || !u.Active {
					t.Errorf("watcher %+v", u)
				}
			}
			var paths []string
			for _, r := range tr.srv.Requests() {
				paths = append(paths, r.Path)
				if r.Query.Get("limit") == "" && r.Path != "/json/listwatchers.action" {
					t.Errorf("%s without a limit", r.Path)
				}
			}
			want := slices.Clone(tt.wantPaths)
			for i := range want {
				want[i] = replacePage(want[i], tr.install)
			}
			if !slices.Equal(paths, want) {
				t.Errorf("requests %v, want %v", paths, want)
			}
		})
	}
}

func replacePage(p, id string) string {
	if p == "/rest/api/content/{page}/watchers" {
		return "/rest/api/content/" + id + "/watchers"
	}
	return p
}

func TestWatchersWithoutSpace(t *testing.T) {
	tr := setupTree(t, confluencetest.Options{}, confluence.Config{})
	tr.srv.WatchSpace("ENG", "bob")
	w, err := tr.c.Watchers(t.Context(), tr.install, "")
	if err != nil || len(w.Space) != 0 || !slices.Equal(usernames(w.Page), []string{"alice"}) {
		t.Errorf("watchers %+v, %v", w, err)
	}
	if n := len(tr.srv.RequestsTo("/rest/api/space/")); n != 0 {
		t.Errorf("%d space requests without a space key", n)
	}
}

func TestWatchersFailures(t *testing.T) {
	tests := []struct {
		name     string
		opts     confluencetest.Options
		prepare  func(tr tree) (*confluence.Client, string, string)
		wantCode int
		wantAPI  string
	}{
		{"not an administrator", confluencetest.Options{}, func(tr tree) (*confluence.Client, string, string) {
			return tr.c.WithCredential(confluence.BearerToken(tr.srv.IssuePAT("bob"))), tr.install, "ENG"
		}, http.StatusForbidden, "content.watchers"},
		{"not an administrator, old version", confluencetest.Options{LegacyWatchers: true}, func(tr tree) (*confluence.Client, string, string) {
			return tr.c.WithCredential(confluence.BasicAuth("bob", bobPassword)), tr.install, "ENG"
		}, http.StatusForbidden, "json.listwatchers"},
		{"bad token", confluencetest.Options{}, func(tr tree) (*confluence.Client, string, string) {
			return tr.c.WithCredential(confluence.BearerToken("not-a-token")), tr.install, "ENG"
		}, http.StatusUnauthorized, "content.watchers"},
		{"purged page", confluencetest.Options{}, func(tr tree) (*confluence.Client, string, string) {
			tr.srv.Purge(tr.install)
			return tr.c, tr.install, "ENG"
		}, http.StatusNotFound, "json.listwatchers"},
		{"purged page, old version", confluencetest.Options{LegacyWatchers: true}, func(tr tree) (*confluence.Client, string, string) {
			tr.srv.Purge(tr.install)
			return tr.c, tr.install, "ENG"
		}, http.StatusNotFound, "json.listwatchers"},
		{"unknown space", confluencetest.Options{}, func(tr tree) (*confluence.Client, string, string) {
			return tr.c, tr.install, "NOPE"
		}, http.StatusNotFound, "space.watchers"},
		{"space listing fails", confluencetest.Options{}, func(tr tree) (*confluence.Client, string, string) {
			tr.srv.InjectFault(confluencetest.Fault{Path: "/rest/api/space/", Status: http.StatusForbidden}, 1)
			return tr.c, tr.install, "ENG"
		}, http.StatusForbidden, "space.watchers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := setupTree(t, tt.opts, confluence.Config{})
			c, id, key := tt.prepare(tr)
			_, err := c.Watchers(t.Context(), id, key)
			e := asError(t, err)
			if e.Status != tt.wantCode || e.API != tt.wantAPI || e.Message == "" {
				t.Errorf("error %+v, want %d from %s", e, tt.wantCode, tt.wantAPI)
			}
		})
	}
}

// A 404 after some pages were read is a failure, not a sign of an old Confluence.
func TestWatchersNoFallbackMidway(t *testing.T) {
	tr := setupTree(t, confluencetest.Options{MaxLimit: 1}, confluence.Config{})
	tr.srv.WatchPage(tr.install, "bob")
	got := 0
	err := tr.c.PageWatcherPages(t.Context(), tr.install, func(p []confluence.User) error {
		got += len(p)
		if got == 1 {
			tr.srv.InjectFault(confluencetest.Fault{Path: "/rest/api/content/", Status: http.StatusNotFound}, 1)
		}
		return nil
	})
	if !confluence.IsNotFound(err) {
		t.Fatalf("error %v", err)
	}
	if n := len(tr.srv.RequestsTo("/json/")); n != 0 {
		t.Errorf("fell back to listwatchers.action after a page was read (%d requests)", n)
	}
}

func TestTenThousandWatchers(t *testing.T) {
	tr := setupTree(t, confluencetest.Options{}, confluence.Config{})
	const n = 10000
	keys := make([]string, n)
	for i := range n {
		keys[i] = tr.srv.AddUser(confluencetest.User{Username: fmt.Sprintf("w%05d", i)}).Key
	}
	tr.srv.WatchPageKeys(tr.install, keys...)
	w, err := tr.c.Watchers(t.Context(), tr.install, "")
	if err != nil {
		t.Fatal(err)
	}
	got := w.UserKeys()
	if len(got) != n+1 || got[0] != tr.alice.Key || !slices.Equal(got[1:], keys) {
		t.Fatalf("%d watchers, want %d in order", len(got), n+1)
	}
	// 10,001 watchers at 200 a page: 51 requests, no more.
	if reqs := tr.srv.RequestsTo("/rest/api/content/"); len(reqs) != 51 {
		t.Errorf("%d requests, want 51", len(reqs))
	}
}
