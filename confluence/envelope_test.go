package confluence_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"

	"github.com/dingfluence/dingfluence/confluence"
)

// Shapes confluencetest does not serve but Data Center may: space permissions in a
// paged envelope, and restriction lists without any _links.
func TestAlternativeEnvelopes(t *testing.T) {
	var starts []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		start, _ := strconv.Atoi(r.URL.Query().Get("start"))
		starts = append(starts, r.URL.Path+"@"+r.URL.Query().Get("start"))
		switch r.URL.Path {
		case "/rest/api/space/ENG/permissions":
			if start == 0 {
				_, _ = w.Write([]byte(`{"results":[{"operation":{"targetType":"space","operationKey":"read"},"subject":{"type":"group","name":"Confluence-Users"}},
					{"operation":{"targetType":"page","operationKey":"create"},"subject":{"type":"user","userKey":"k9"}}],
					"start":0,"limit":2,"size":2,"_links":{"next":"/rest/api/space/ENG/permissions?start=2"}}`))
				return
			}
			_, _ = w.Write([]byte(`{"results":[{"operation":{"targetType":"space","operationKey":"read"},"subject":{"type":"user","userKey":"k1"}}],"start":2,"limit":2,"size":1,"_links":{}}`))
		case "/rest/api/content/5/restriction/byOperation/read":
			// limit 1 applied by the server, no links: a full list means "ask again".
			users := map[int]string{0: `[{"type":"known","username":"a","userKey":"ka"}]`, 1: `[{"type":"known","username":"b","userKey":"kb"}]`}[start]
			if users == "" {
				users = "[]"
			}
			groups := map[int]string{0: `[{"type":"group","name":"G"}]`}[start]
			if groups == "" {
				groups = "[]"
			}
			_, _ = w.Write([]byte(`{"operation":"read","restrictions":{"user":{"results":` + users + `,"start":` + strconv.Itoa(start) +
				`,"limit":1,"size":1},"group":{"results":` + groups + `,"start":0,"limit":1,"size":1}}}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	c, err := confluence.New(confluence.Config{BaseURL: srv.URL, Credential: confluence.BearerToken("t"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}

	v, err := c.SpaceViewPermission(t.Context(), "ENG")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(v.Groups, []string{"confluence-users"}) || !slices.Equal(v.UserKeys, []string{"k1"}) {
		t.Errorf("viewers %+v (only read-space grants, across pages)", v)
	}

	r, err := c.ReadRestrictions(t.Context(), "5")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(usernames(r.Users), []string{"a", "b"}) || !slices.Equal(r.Groups, []string{"g"}) {
		t.Errorf("restriction %+v", r)
	}
	want := []string{"/rest/api/space/ENG/permissions@0", "/rest/api/space/ENG/permissions@2",
		"/rest/api/content/5/restriction/byOperation/read@0", "/rest/api/content/5/restriction/byOperation/read@1",
		"/rest/api/content/5/restriction/byOperation/read@2"}
	if !slices.Equal(starts, want) {
		t.Errorf("requests %v, want %v", starts, want)
	}
}
