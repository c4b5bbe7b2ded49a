package confluencetest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/dingfluence/dingfluence/confluence"
	"github.com/dingfluence/dingfluence/confluence/confluencetest"
)

// startSpace is start plus space ENG with Home › Child, both by alice.
func startSpace(t *testing.T, opts confluencetest.Options) (s *confluencetest.Server, auth, home, child string) {
	t.Helper()
	s, auth = start(t, opts)
	s.AddToGroup(confluencetest.DefaultUserGroup, "svc", "alice")
	s.AddSpace("ENG", "Engineering")
	home = s.AddContent(confluencetest.NewContent{Space: "ENG", Title: "Home", Author: "alice"})
	child = s.AddContent(confluencetest.NewContent{Space: "ENG", Title: "Child page", Parent: home, Author: "alice"})
	return s, auth, home, child
}

func TestContentResourceShape(t *testing.T) {
	s, auth, home, child := startSpace(t, confluencetest.Options{ContextPath: "/wiki"})
	s.EditPage(child, "svc", "second", true)

	a := get(t, s, "/rest/api/content/"+child+"?status=any&expand=space,version,history,ancestors", auth)
	if a.status != http.StatusOK {
		t.Fatalf("status %d: %s", a.status, a.raw)
	}
	if a.str("id") != child || a.str("type") != "page" || a.str("status") != "current" || a.str("title") != "Child page" {
		t.Errorf("content %s", a.raw)
	}
	if sp := a.obj("space"); sp["key"] != "ENG" || sp["name"] != "Engineering" {
		t.Errorf("space %v", sp)
	}
	v := a.obj("version")
	by, _ := v["by"].(map[string]any)
	if v["number"] != 2.0 || v["message"] != "second" || v["minorEdit"] != true || by["username"] != "svc" || !userKeyPattern.MatchString(by["userKey"].(string)) {
		t.Errorf("version %v", v)
	}
	if h := a.obj("history"); h["createdBy"].(map[string]any)["username"] != "alice" {
		t.Errorf("history %v", h)
	}
	anc, _ := a.body["ancestors"].([]any)
	if len(anc) != 1 || anc[0].(map[string]any)["id"] != home {
		t.Errorf("ancestors %v", anc)
	}
	links := a.obj("_links")
	if links["base"] != s.URL() || links["webui"] != "/spaces/ENG/pages/"+child+"/Child+page" || links["context"] != "/wiki" {
		t.Errorf("links %v", links)
	}

	// Without expand, the parts are only announced, as Confluence does.
	a = get(t, s, "/rest/api/content/"+child, auth)
	if a.body["version"] != nil || a.body["space"] != nil || a.obj("_expandable")["version"] == nil {
		t.Errorf("unexpanded content %s", a.raw)
	}
}

func TestContentStatusParameter(t *testing.T) {
	s, auth, _, child := startSpace(t, confluencetest.Options{})
	draft := s.AddContent(confluencetest.NewContent{Space: "ENG", Title: "Draft", Status: confluence.ContentDraft})
	s.Trash(child)
	tests := []struct {
		id, status string
		want       int
	}{
		{child, "", http.StatusNotFound}, // current only by default
		{child, "trashed", http.StatusOK},
		{child, "any", http.StatusOK},
		{child, "current,trashed", http.StatusOK},
		{draft, "", http.StatusNotFound},
		{draft, "draft", http.StatusOK},
		{draft, "any", http.StatusOK},
		{"999999", "any", http.StatusNotFound},
	}
	for _, tt := range tests {
		a := get(t, s, "/rest/api/content/"+tt.id+"?status="+tt.status, auth)
		if a.status != tt.want {
			t.Errorf("%s status=%q: %d, want %d", tt.id, tt.status, a.status, tt.want)
		}
	}
	s.Purge(child)
	if a := get(t, s, "/rest/api/content/"+child+"?status=any", auth); a.status != http.StatusNotFound || !strings.Contains(a.str("message"), child) {
		t.Errorf("purged: %d %s", a.status, a.raw)
	}
	if a := get(t, s, "/rest/api/content/"+draft, ""); a.status != http.StatusUnauthorized {
		t.Errorf("anonymous: %d", a.status)
	}
}

func TestRestrictionsHideContent(t *testing.T) {
	s, auth, home, child := startSpace(t, confluencetest.Options{})
	s.AddUser(confluencetest.User{Username: "bob", Password: "bob-pw"})
	s.AddToGroup(confluencetest.DefaultUserGroup, "bob")
	s.Restrict(home, nil, []string{"Team"})
	s.AddToGroup("team", "alice")
	tests := []struct {
		who  string
		auth string
		want int
	}{
		{"svc, an administrator outside the restriction", auth, http.StatusNotFound},
		{"alice, via the group", basic("alice", "alice-pw"), http.StatusOK},
		{"bob", basic("bob", "bob-pw"), http.StatusNotFound},
	}
	for _, tt := range tests {
		// The restriction on Home binds Child too.
		if a := get(t, s, "/rest/api/content/"+child, tt.auth); a.status != tt.want {
			t.Errorf("%s: %d, want %d", tt.who, a.status, tt.want)
		}
	}
	a := get(t, s, "/rest/api/content/"+home+"/restriction/byOperation/read", basic("alice", "alice-pw"))
	groups := a.obj("restrictions")["group"].(map[string]any)["results"].([]any)
	if a.str("operation") != "read" || len(groups) != 1 || groups[0].(map[string]any)["name"] != "team" {
		t.Errorf("restriction %s", a.raw)
	}
	if a := get(t, s, "/rest/api/content/"+home+"/restriction/byOperation/delete", auth); a.status != http.StatusBadRequest {
		t.Errorf("unknown operation: %d", a.status)
	}
}

func TestRestrictionListsPage(t *testing.T) {
	s, auth, home, _ := startSpace(t, confluencetest.Options{MaxLimit: 2})
	s.AddUser(confluencetest.User{Username: "bob"})
	s.Restrict(home, []string{"svc", "alice", "bob"}, []string{"g1"})
	a := get(t, s, "/rest/api/content/"+home+"/restriction/byOperation/read?start=0&limit=50", auth)
	users := a.obj("restrictions")["user"].(map[string]any)
	groups := a.obj("restrictions")["group"].(map[string]any)
	if users["limit"] != 2.0 || len(users["results"].([]any)) != 2 || users["_links"].(map[string]any)["next"] == nil {
		t.Errorf("users %v", users)
	}
	if len(groups["results"].([]any)) != 1 || groups["_links"].(map[string]any)["next"] != nil {
		t.Errorf("groups %v", groups)
	}
	a = get(t, s, "/rest/api/content/"+home+"/restriction/byOperation/read?start=2", auth)
	if u := a.obj("restrictions")["user"].(map[string]any)["results"].([]any); len(u) != 1 || u[0].(map[string]any)["username"] != "bob" {
		t.Errorf("second page %v", u)
	}
}

func TestWatcherResources(t *testing.T) {
	s, auth, home, _ := startSpace(t, confluencetest.Options{})
	s.WatchSpace("ENG", "svc")
	a := get(t, s, "/rest/api/content/"+home+"/watchers", auth)
	res, _ := a.body["results"].([]any)
	if a.status != http.StatusOK || len(res) != 1 || res[0].(map[string]any)["username"] != "alice" || a.obj("_links") == nil {
		t.Errorf("page watchers %d %s", a.status, a.raw)
	}
	a = get(t, s, "/rest/api/space/ENG/watchers", auth)
	if res, _ := a.body["results"].([]any); len(res) != 1 || res[0].(map[string]any)["username"] != "svc" {
		t.Errorf("space watchers %s", a.raw)
	}
	a = get(t, s, "/json/listwatchers.action?pageId="+home, auth)
	pw, _ := a.body["pageWatchers"].([]any)
	sw, _ := a.body["spaceWatchers"].([]any)
	if len(pw) != 1 || len(sw) != 1 {
		t.Fatalf("listwatchers %s", a.raw)
	}
	if e := pw[0].(map[string]any); e["name"] != "alice" || e["fullName"] != "Alice Liddell" || !userKeyPattern.MatchString(e["userKey"].(string)) {
		t.Errorf("listwatchers entry %v", e)
	}
	s.UnwatchPage(home, "alice")
	s.UnwatchSpace("ENG", "svc")
	if a := get(t, s, "/json/listwatchers.action?pageId="+home, auth); len(a.body["pageWatchers"].([]any)) != 0 || len(a.body["spaceWatchers"].([]any)) != 0 {
		t.Errorf("after unwatching %s", a.raw)
	}
	if a := get(t, s, "/rest/api/content/"+home+"/watchers", basic("alice", "alice-pw")); a.status != http.StatusForbidden {
		t.Errorf("non-admin: %d", a.status)
	}

	old, oldAuth, oldHome, _ := startSpace(t, confluencetest.Options{LegacyWatchers: true})
	for _, p := range []string{"/rest/api/content/" + oldHome + "/watchers", "/rest/api/space/ENG/watchers"} {
		if a := get(t, old, p, oldAuth); a.status != http.StatusNotFound {
			t.Errorf("old version %s: %d", p, a.status)
		}
	}
	if a := get(t, old, "/json/listwatchers.action?pageId="+oldHome, oldAuth); a.status != http.StatusOK {
		t.Errorf("old version listwatchers: %d", a.status)
	}
}

func TestSpacePermissionsShape(t *testing.T) {
	s, auth, _, _ := startSpace(t, confluencetest.Options{})
	s.SetSpaceViewers("ENG", []string{"alice"}, []string{"confluence-users"}, false)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL()+"/rest/api/space/ENG/permissions", nil)
	req.Header.Set("Authorization", auth)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var grants []struct {
		Operation struct{ TargetType, OperationKey string }
		Subject   struct{ Type, Name, UserKey string }
		SpaceKey  string
	}
	if err := json.NewDecoder(resp.Body).Decode(&grants); err != nil {
		t.Fatal(err)
	}
	alice, _ := s.User("alice")
	if len(grants) != 2 || grants[0].Subject.Name != "confluence-users" || grants[1].Subject.UserKey != alice.Key ||
		grants[1].Operation.OperationKey != "read" || grants[1].Operation.TargetType != "space" || grants[0].SpaceKey != "ENG" {
		t.Errorf("grants %+v", grants)
	}
	if a := get(t, s, "/rest/api/space/ENG/permissions", basic("alice", "alice-pw")); a.status != http.StatusForbidden {
		t.Errorf("non-admin: %d", a.status)
	}
}

func TestCQLSearch(t *testing.T) {
	s, auth, _, _ := startSpace(t, confluencetest.Options{})
	s.AddSpace("OPS", "Operations")
	s.AddBlogPost("OPS", "Oncall notes")
	tests := []struct {
		cql    string
		status int
		n      int
	}{
		{`type in (page,blogpost) and lastmodified >= "2000/01/01 00:00" order by lastmodified asc`, http.StatusOK, 3},
		{`type = blogpost`, http.StatusOK, 1},
		{`space = "ENG" and type = page`, http.StatusOK, 2},
		{`space in (OPS, "ENG")`, http.StatusOK, 3},
		{`lastmodified > "2999-01-01"`, http.StatusOK, 0},
		{`lastmodified < "2999-01-01" order by lastmodified desc`, http.StatusOK, 3},
		{`title ~ "x"`, http.StatusBadRequest, 0},
		{`lastmodified >= "yesterday"`, http.StatusBadRequest, 0},
		{``, http.StatusBadRequest, 0},
	}
	for _, tt := range tests {
		a := get(t, s, "/rest/api/content/search?cql="+url.QueryEscape(tt.cql), auth)
		res, _ := a.body["results"].([]any)
		if a.status != tt.status || len(res) != tt.n {
			t.Errorf("%s: %d with %d results, want %d with %d", tt.cql, a.status, len(res), tt.status, tt.n)
		}
	}
}

func TestWebhookRequest(t *testing.T) {
	s, _, home, _ := startSpace(t, confluencetest.Options{})
	alice, _ := s.User("alice")
	req := s.WebhookRequest("http://app.example/webhooks/confluence", "secret",
		confluencetest.Webhook{Event: confluence.EventPageUpdated, ContentID: home, UpdateTrigger: confluence.TriggerLinkRefactoring})
	body, _ := io.ReadAll(req.Body)
	want := `{"timestamp":` // Confluence's key order
	if !strings.HasPrefix(string(body), want) || !strings.Contains(string(body), `"page":{"id":`+home+`}`) ||
		!strings.HasSuffix(string(body), `"updateTrigger":"link_refactoring"}`) || !strings.Contains(string(body), `"userKey":"`+alice.Key+`"`) {
		t.Errorf("body %s", body)
	}
	if req.Method != http.MethodPost || req.Header.Get("X-Event-Key") != "page_updated" || req.Header.Get("X-Request-Id") == "" ||
		req.Header.Get("X-Hub-Signature") != confluencetest.Sign("secret", body) || !strings.HasPrefix(req.Header.Get("Content-Type"), "application/json") {
		t.Errorf("headers %v", req.Header)
	}
	if err := confluence.VerifySignature("secret", body, req.Header.Get("X-Hub-Signature")); err != nil {
		t.Error(err)
	}
	second := s.WebhookRequest("http://app.example/", "", confluencetest.Webhook{Event: confluence.EventPageCreated, ContentID: home})
	if second.Header.Get("X-Request-Id") == req.Header.Get("X-Request-Id") || second.Header.Get("X-Hub-Signature") != "" {
		t.Errorf("second request headers %v", second.Header)
	}
	b2, _ := io.ReadAll(second.Body)
	if strings.Contains(string(b2), "updateTrigger") {
		t.Errorf("page_created with a trigger: %s", b2)
	}

	legacy := s.WebhookPayload(confluencetest.Webhook{Event: confluence.EventPageCreated, ContentID: home, Payload: confluence.PayloadLegacy})
	var j struct {
		Page map[string]any `json:"page"`
	}
	if err := json.Unmarshal(legacy, &j); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "title", "contentType", "creatorKey", "lastModifierKey", "creationDate", "modificationDate", "version", "self", "spaceKey"} {
		if _, ok := j.Page[k]; !ok {
			t.Errorf("legacy page lacks %q: %s", k, legacy)
		}
	}
}

func TestContentRequestsAndFaults(t *testing.T) {
	s, auth, home, _ := startSpace(t, confluencetest.Options{})
	s.InjectFault(confluencetest.Fault{Path: "/rest/api/content/" + home + "/watchers", Status: http.StatusServiceUnavailable, RetryAfter: "1"}, 1)
	if a := get(t, s, "/rest/api/content/"+home+"/watchers", auth); a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") != "1" {
		t.Errorf("fault: %d", a.status)
	}
	if a := get(t, s, "/rest/api/content/"+home+"/watchers", auth); a.status != http.StatusOK {
		t.Errorf("after the fault: %d", a.status)
	}
	reqs := s.RequestsTo("/rest/api/content/")
	if len(reqs) != 2 || reqs[0].Status != http.StatusServiceUnavailable || reqs[1].Status != http.StatusOK || reqs[1].Username != "svc" {
		t.Errorf("requests %+v", reqs)
	}
}
