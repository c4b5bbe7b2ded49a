package confluence_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dingfluence/dingfluence/confluence"
	"github.com/dingfluence/dingfluence/confluence/confluencetest"
)

// tree is space ENG with Home › Guides › Install (pages) and a blog post.
type tree struct {
	fixture
	home, guides, install, blog string
}

func setupTree(t *testing.T, opts confluencetest.Options, cfg confluence.Config) tree {
	t.Helper()
	if opts.Clock == nil {
		opts.Clock = newClock()
	}
	tr := tree{fixture: setup(t, opts, cfg)}
	s := tr.srv
	s.AddToGroup(confluencetest.DefaultUserGroup, "svc", "alice", "bob")
	s.AddSpace("ENG", "Engineering")
	tr.home = s.AddContent(confluencetest.NewContent{Space: "ENG", Title: "Engineering Home", Author: "alice"})
	tr.guides = s.AddContent(confluencetest.NewContent{Space: "ENG", Title: "Guides", Parent: tr.home, Author: "alice"})
	tr.install = s.AddContent(confluencetest.NewContent{Space: "ENG", Title: "Install guide", Parent: tr.guides, Author: "alice"})
	tr.blog = s.AddContent(confluencetest.NewContent{Type: confluence.ContentBlogPost, Space: "ENG", Title: "Sprint 42", Author: "bob"})
	return tr
}

func TestContent(t *testing.T) {
	for _, ctxPath := range []string{"", "/confluence"} {
		t.Run("context path "+ctxPath, func(t *testing.T) {
			tr := setupTree(t, confluencetest.Options{ContextPath: ctxPath}, confluence.Config{})
			if v := tr.srv.EditPage(tr.install, "bob", "Added the proxy step", false); v != 2 {
				t.Fatalf("version %d", v)
			}
			tr.srv.EditPage(tr.install, "alice", "", true)

			c, err := tr.c.Content(t.Context(), tr.install)
			if err != nil {
				t.Fatal(err)
			}
			base := tr.srv.URL()
			want := confluence.Content{
				ID: tr.install, Type: confluence.ContentPage, Status: confluence.ContentCurrent, Title: "Install guide",
				Space:       confluence.Space{Key: "ENG", Name: "Engineering"},
				WebURL:      base + "/spaces/ENG/pages/" + tr.install + "/Install+guide",
				DiffURL:     base + "/pages/diffpagesbyversion.action?pageId=" + tr.install + "&selectedPageVersions=2&selectedPageVersions=3",
				AncestorIDs: []string{tr.home, tr.guides},
			}
			if c.ID != want.ID || c.Type != want.Type || c.Status != want.Status || c.Title != want.Title ||
				c.Space != want.Space || c.WebURL != want.WebURL || c.DiffURL != want.DiffURL || !slices.Equal(c.AncestorIDs, want.AncestorIDs) {
				t.Errorf("\n got %+v\nwant %+v", c, want)
			}
			if c.Version.Number != 3 || !c.Version.MinorEdit || c.Version.Message != "" || c.Version.By.Key != tr.alice.Key ||
				c.Version.By.Username != "alice" || c.Version.When.IsZero() {
				t.Errorf("version %+v", c.Version)
			}
			if c.CreatedBy.Key != tr.alice.Key {
				t.Errorf("created by %+v", c.CreatedBy)
			}
			r := tr.srv.RequestsTo("/rest/api/content/")[0]
			if r.Path != "/rest/api/content/"+tr.install || r.Query.Get("status") != "any" ||
				r.Query.Get("expand") != "space,version,history,ancestors" || r.Auth != confluence.AuthBearer {
				t.Errorf("request %+v", r)
			}
		})
	}
}

func TestContentVersionMessageAndFirstVersion(t *testing.T) {
	tr := setupTree(t, confluencetest.Options{}, confluence.Config{})
	tr.srv.EditPage(tr.guides, "bob", "Reworded the intro", false)
	c, err := tr.c.Content(t.Context(), tr.guides)
	if err != nil {
		t.Fatal(err)
	}
	if c.Version.Message != "Reworded the intro" || c.Version.MinorEdit || c.Version.By.Key != tr.bob.Key {
		t.Errorf("version %+v", c.Version)
	}
	if !strings.Contains(c.DiffURL, "selectedPageVersions=1&selectedPageVersions=2") {
		t.Errorf("diff URL %q", c.DiffURL)
	}
	home, err := tr.c.Content(t.Context(), tr.home)
	if err != nil {
		t.Fatal(err)
	}
	if home.DiffURL != "" || len(home.AncestorIDs) != 0 || home.Version.Number != 1 {
		t.Errorf("first version of a top page: %+v", home)
	}
	blog, err := tr.c.Content(t.Context(), tr.blog)
	if err != nil {
		t.Fatal(err)
	}
	if blog.Type != confluence.ContentBlogPost || blog.Title != "Sprint 42" || !strings.Contains(blog.WebURL, "/spaces/ENG/blog/") {
		t.Errorf("blog post %+v", blog)
	}
}

func TestContentStatusesAndFailures(t *testing.T) {
	tests := []struct {
		name       string
		prepare    func(tr tree) (id string, c *confluence.Client)
		wantStatus confluence.ContentStatus // "" → an error
		wantCode   int
	}{
		{"draft", func(tr tree) (string, *confluence.Client) {
			return tr.srv.AddContent(confluencetest.NewContent{Space: "ENG", Title: "WIP", Status: confluence.ContentDraft, Author: "alice"}), tr.c
		}, confluence.ContentDraft, 0},
		{"trashed", func(tr tree) (string, *confluence.Client) { tr.srv.Trash(tr.install); return tr.install, tr.c }, confluence.ContentTrashed, 0},
		{"purged", func(tr tree) (string, *confluence.Client) { tr.srv.Purge(tr.install); return tr.install, tr.c }, "", http.StatusNotFound},
		{"never existed", func(tr tree) (string, *confluence.Client) { return "123", tr.c }, "", http.StatusNotFound},
		{"restricted from the service account", func(tr tree) (string, *confluence.Client) {
			tr.srv.Restrict(tr.guides, []string{"alice"}, nil)
			return tr.install, tr.c
		}, "", http.StatusNotFound},
		{"revoked token", func(tr tree) (string, *confluence.Client) {
			tr.srv.RevokePAT(tr.svcPAT)
			return tr.install, tr.c
		}, "", http.StatusUnauthorized},
		{"forbidden", func(tr tree) (string, *confluence.Client) {
			tr.srv.InjectFault(confluencetest.Fault{Path: "/rest/api/content/", Status: http.StatusForbidden}, 1)
			return tr.install, tr.c
		}, "", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := setupTree(t, confluencetest.Options{}, confluence.Config{})
			id, c := tt.prepare(tr)
			got, err := c.Content(t.Context(), id)
			if tt.wantStatus != "" {
				if err != nil || got.Status != tt.wantStatus {
					t.Fatalf("status %q, %v; want %q", got.Status, err, tt.wantStatus)
				}
				return
			}
			e := asError(t, err)
			if e.Status != tt.wantCode || e.API != "content.by_id" || e.Message == "" {
				t.Errorf("error %+v", e)
			}
			if strings.Contains(err.Error(), tr.svcPAT) {
				t.Error("the token is in the error")
			}
		})
	}
}

func TestContentRefusesBadIDsWithoutACall(t *testing.T) {
	tr := setupTree(t, confluencetest.Options{}, confluence.Config{})
	for _, id := range []string{"", "0", "12a", "../user", "1 2", "-5"} {
		if _, err := tr.c.Content(t.Context(), id); err == nil {
			t.Errorf("Content(%q) succeeded", id)
		}
	}
	if n := len(tr.srv.Requests()); n != 0 {
		t.Errorf("%d requests for invalid ids", n)
	}
}

func TestSearchContentPagesThroughBothEnvelopes(t *testing.T) {
	for _, env := range []confluencetest.Envelope{confluencetest.EnvelopeLinks, confluencetest.EnvelopeCursor} {
		t.Run(map[confluencetest.Envelope]string{confluencetest.EnvelopeLinks: "links", confluencetest.EnvelopeCursor: "cursor"}[env], func(t *testing.T) {
			clock := newClock()
			tr := setupTree(t, confluencetest.Options{MaxLimit: 3, Envelope: env, Clock: clock}, confluence.Config{})
			since := clock.Now()
			clock.Advance(time.Minute)
			// Seven publishes after the checkpoint, one a minute; a draft and a trashed
			// page are not found by CQL.
			var want []string
			for i := range 7 {
				clock.Advance(time.Minute)
				if i%2 == 0 {
					tr.srv.EditPage(tr.install, "bob", "", false)
					want = slices.DeleteFunc(want, func(id string) bool { return id == tr.install })
					want = append(want, tr.install)
					continue
				}
				want = append(want, tr.srv.AddContent(confluencetest.NewContent{Space: "ENG", Title: "Page " + string(rune('A'+i)), Author: "alice"}))
			}
			tr.srv.AddContent(confluencetest.NewContent{Space: "ENG", Title: "Draft", Status: confluence.ContentDraft})
			trashed := tr.srv.AddContent(confluencetest.NewContent{Space: "ENG", Title: "Gone"})
			tr.srv.Trash(trashed)
			want = append(want, tr.blog)
			tr.srv.EditPage(tr.blog, "alice", "", false)

			cql := confluence.ChangedSinceCQL(since.Add(time.Minute))
			var got []string
			for c, err := range tr.c.SearchContent(t.Context(), cql) {
				if err != nil {
					t.Fatal(err)
				}
				if c.Version.Number == 0 || c.Space.Key != "ENG" || c.WebURL == "" {
					t.Errorf("result %+v lacks the expanded fields", c)
				}
				got = append(got, c.ID)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("found %v, want %v (oldest change first)", got, want)
			}
			reqs := tr.srv.RequestsTo("/rest/api/content/search")
			if len(reqs) != 2 {
				t.Errorf("%d search requests for 5 results at 3 a page, want 2", len(reqs))
			}
			for _, r := range reqs {
				if r.Query.Get("cql") != cql {
					t.Errorf("cql %q", r.Query.Get("cql"))
				}
			}
		})
	}
}

func TestChangedSinceCQL(t *testing.T) {
	at := time.Date(2026, 3, 2, 9, 7, 59, 0, time.FixedZone("CST", 8*3600))
	want := `type in (page,blogpost) and lastmodified >= "2026/03/02 09:07" order by lastmodified asc`
	if got := confluence.ChangedSinceCQL(at); got != want {
		t.Errorf("got %s", got)
	}
}

func TestSearchContentErrors(t *testing.T) {
	tr := setupTree(t, confluencetest.Options{}, confluence.Config{})
	err := tr.c.SearchContentPages(t.Context(), "title ~ nonsense", func([]confluence.Content) error { return nil })
	if e := asError(t, err); e.Status != http.StatusBadRequest || !strings.Contains(e.Message, "cql") {
		t.Errorf("error %+v", e)
	}
	tr.srv.FailNext(http.StatusUnauthorized, 1)
	err = tr.c.SearchContentPages(t.Context(), confluence.ChangedSinceCQL(time.Time{}), func([]confluence.Content) error { return nil })
	if !confluence.IsUnauthorized(err) {
		t.Errorf("error %v, want 401", err)
	}
}
