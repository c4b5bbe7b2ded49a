package confluencetest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/dingfluence/dingfluence/confluence"
	"github.com/dingfluence/dingfluence/confluence/confluencetest"
)

// answer is a decoded response.
type answer struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

func (a answer) str(key string) string { s, _ := a.body[key].(string); return s }

func (a answer) obj(key string) map[string]any { m, _ := a.body[key].(map[string]any); return m }

// get requests path below the server's base URL with an optional Authorization header.
func get(t *testing.T, s *confluencetest.Server, path, auth string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			t.Fatalf("GET %s: body %q is not JSON: %v", path, raw, err)
		}
	}
	return a
}

// start runs a server with an admin "svc" and a plain user "alice"; it returns svc's PAT.
func start(t *testing.T, opts confluencetest.Options) (*confluencetest.Server, string) {
	t.Helper()
	s := confluencetest.Start(t, opts)
	s.AddUser(confluencetest.User{Username: "svc", Admin: true})
	s.AddUser(confluencetest.User{Username: "alice", DisplayName: "Alice Liddell", Email: "alice@example.com", Password: "alice-pw"})
	return s, "Bearer " + s.IssuePAT("svc")
}

func basic(user, pw string) string {
	req, _ := http.NewRequest(http.MethodGet, "http://x", nil)
	req.SetBasicAuth(user, pw)
	return req.Header.Get("Authorization")
}

var userKeyPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestUserResourceShape(t *testing.T) {
	s, svc := start(t, confluencetest.Options{})
	a := get(t, s, "/rest/api/user?username=alice&expand=status,details.personal", svc)
	if a.status != 200 || a.str("type") != "known" || a.str("username") != "alice" ||
		a.str("displayName") != "Alice Liddell" || a.str("status") != "current" || !userKeyPattern.MatchString(a.str("userKey")) {
		t.Fatalf("user: %d %s", a.status, a.raw)
	}
	if email := a.obj("details")["personal"].(map[string]any)["email"]; email != "alice@example.com" {
		t.Errorf("details.personal.email = %v", email)
	}
	if _, top := a.body["email"]; top {
		t.Errorf("top-level email without EmailAtTopLevel: %s", a.raw)
	}

	plain := get(t, s, "/rest/api/user?key="+a.str("userKey"), svc)
	if _, ok := plain.body["status"]; ok || plain.obj("_expandable")["status"] == nil || plain.body["details"] != nil {
		t.Errorf("without expand: %s; want status and details only as _expandable", plain.raw)
	}

	s.SetEmail("alice", "alice@example.com", true)
	hidden := get(t, s, "/rest/api/user?username=alice&expand=status,details.personal", svc)
	if strings.Contains(hidden.raw, "alice@example.com") {
		t.Errorf("hidden e-mail in /rest/api/user: %s", hidden.raw)
	}
	mobile := get(t, s, "/rest/mobile/1.0/profile/alice", svc)
	if mobile.status != 200 || mobile.str("email") != "alice@example.com" || mobile.str("fullName") != "Alice Liddell" {
		t.Errorf("mobile profile: %d %s", mobile.status, mobile.raw)
	}

	s.Deactivate("alice")
	if a := get(t, s, "/rest/api/user?username=alice&expand=status", svc); a.str("status") != "deactivated" {
		t.Errorf("deactivated status: %s", a.raw)
	}
}

func TestEmailOptions(t *testing.T) {
	s, svc := start(t, confluencetest.Options{EmailAtTopLevel: true, NoMobileProfile: true})
	a := get(t, s, "/rest/api/user?username=alice&expand=details.personal", svc)
	if a.str("email") != "alice@example.com" || strings.Count(a.raw, "alice@example.com") != 1 {
		t.Errorf("EmailAtTopLevel: %s", a.raw)
	}
	if m := get(t, s, "/rest/mobile/1.0/profile/alice", svc); m.status != 404 {
		t.Errorf("NoMobileProfile: %d %s", m.status, m.raw)
	}
}

func TestAuthentication(t *testing.T) {
	s, svc := start(t, confluencetest.Options{})
	alicePAT := s.IssuePAT("alice")
	tests := []struct {
		name       string
		auth       string
		wantStatus int
		wantUser   string // from /rest/api/user/current; "" for anonymous
	}{
		{"service PAT", svc, 200, "svc"},
		{"user PAT as Bearer", "Bearer " + alicePAT, 200, "alice"},
		{"password", basic("alice", "alice-pw"), 200, "alice"},
		{"PAT as Basic password (Bearer only)", basic("alice", alicePAT), 401, ""},
		{"wrong password", basic("alice", "nope"), 401, ""},
		{"another user's PAT as Basic password", basic("svc", alicePAT), 401, ""},
		{"unknown token", "Bearer nope", 401, ""},
		{"unknown scheme", "Digest x", 401, ""},
		{"anonymous", "", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := get(t, s, "/rest/api/user/current", tt.auth)
			if a.status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", a.status, tt.wantStatus, a.raw)
			}
			switch {
			case tt.wantStatus == 401:
				if a.body["statusCode"] != float64(401) || a.str("message") == "" || a.str("reason") != "Unauthorized" {
					t.Errorf("401 body %s: want Confluence's {statusCode, message, reason}", a.raw)
				}
				if strings.HasPrefix(tt.auth, "Basic") && a.header.Get("X-Seraph-LoginReason") != "AUTHENTICATED_FAILED" {
					t.Errorf("refused Basic without X-Seraph-LoginReason")
				}
			case tt.wantUser == "":
				if a.str("type") != "anonymous" {
					t.Errorf("anonymous current user: %s", a.raw)
				}
			default:
				if a.str("username") != tt.wantUser {
					t.Errorf("current user %s, want %s", a.raw, tt.wantUser)
				}
			}
		})
	}
	if a := get(t, s, "/rest/api/user?username=alice", ""); a.status != 401 {
		t.Errorf("anonymous user lookup: %d, want 401", a.status)
	}
	s.Deactivate("alice")
	if a := get(t, s, "/rest/api/user/current", "Bearer "+alicePAT); a.status != 401 {
		t.Errorf("deactivated user's PAT: %d, want 401", a.status)
	}
}

func TestAdminOnlyAndNotFound(t *testing.T) {
	s, svc := start(t, confluencetest.Options{})
	s.AddToGroup("Confluence-Users", "alice", "svc")
	asAlice := basic("alice", "alice-pw")
	tests := []struct {
		path, auth string
		want       int
	}{
		{"/rest/api/group/confluence-users/member", svc, 200},
		{"/rest/api/group/CONFLUENCE-USERS/member", svc, 200}, // group names are case-insensitive
		{"/rest/api/group/confluence-users/member", asAlice, 403},
		{"/rest/api/group/nope/member", svc, 404},
		{"/rest/api/user/memberof?username=alice", asAlice, 200},
		{"/rest/api/user/memberof?username=svc", asAlice, 403},
		{"/rest/api/user/memberof?username=nobody", svc, 404},
		{"/rest/api/user?username=nobody", svc, 404},
		{"/rest/api/user", svc, 400},
		{"/rest/mobile/1.0/profile/nobody", svc, 404},
	}
	for _, tt := range tests {
		a := get(t, s, tt.path, tt.auth)
		if a.status != tt.want {
			t.Errorf("GET %s: %d, want %d (%s)", tt.path, a.status, tt.want, a.raw)
		}
		if tt.want >= 400 && (a.body["statusCode"] != float64(tt.want) || a.str("message") == "") {
			t.Errorf("GET %s: error body %s", tt.path, a.raw)
		}
	}
	open, _ := start(t, confluencetest.Options{OpenGroupListing: true})
	open.AddToGroup("confluence-users", "alice")
	if a := get(t, open, "/rest/api/group/confluence-users/member", asAlice); a.status != 200 {
		t.Errorf("OpenGroupListing: %d", a.status)
	}
}

func TestPagingEnvelopes(t *testing.T) {
	for _, env := range []confluencetest.Envelope{confluencetest.EnvelopeLinks, confluencetest.EnvelopeCursor} {
		s, svc := start(t, confluencetest.Options{MaxLimit: 3, Envelope: env})
		for _, n := range []string{"u1", "u2", "u3", "u4", "u5", "u6", "u7"} {
			s.AddUser(confluencetest.User{Username: n})
			s.AddToGroup("g", n)
		}
		first := get(t, s, "/rest/api/group/g/member?limit=500", svc)
		last := get(t, s, "/rest/api/group/g/member?start=6&limit=500", svc)
		if n := len(first.body["results"].([]any)); n != 3 || first.body["limit"] != float64(3) || first.body["start"] != float64(0) {
			t.Errorf("envelope %d first page: %s; want 3 results, limit capped at 3", env, first.raw)
		}
		if n := len(last.body["results"].([]any)); n != 1 {
			t.Errorf("envelope %d last page: %s", env, last.raw)
		}
		switch env {
		case confluencetest.EnvelopeLinks:
			next, _ := first.obj("_links")["next"].(string)
			if !strings.HasPrefix(next, "/rest/api/group/g/member?") || !strings.Contains(next, "start=3") || first.body["size"] != float64(3) {
				t.Errorf("_links envelope: %s", first.raw)
			}
			if _, ok := last.obj("_links")["next"]; ok {
				t.Errorf("last page has a next link: %s", last.raw)
			}
		case confluencetest.EnvelopeCursor:
			if !strings.HasSuffix(first.str("next"), "/rest/api/latest/../paginate?limit=3&start=3") ||
				first.body["pageRequest"] == nil || first.body["nextCursor"] == nil || first.body["_links"] != nil {
				t.Errorf("cursor envelope: %s", first.raw)
			}
			if _, ok := last.body["next"]; ok {
				t.Errorf("last page has a next link: %s", last.raw)
			}
		}
	}
}

func TestRequestsAreRecorded(t *testing.T) {
	s, svc := start(t, confluencetest.Options{ContextPath: "/confluence"})
	get(t, s, "/rest/api/user?username=alice&expand=status", svc)
	get(t, s, "/rest/api/user/current", basic("alice", "wrong-pw"))
	reqs := s.Requests()
	if len(reqs) != 2 {
		t.Fatalf("requests: %+v", reqs)
	}
	r := reqs[0]
	if r.Method != "GET" || r.Path != "/rest/api/user" || r.Query.Get("username") != "alice" || r.Query.Get("expand") != "status" ||
		r.Auth != confluence.AuthBearer || r.Username != "svc" || "Bearer "+r.Secret != svc || !r.Authenticated || r.Status != 200 {
		t.Errorf("first request recorded as %+v", r)
	}
	r = reqs[1]
	if r.Auth != confluence.AuthBasic || r.Username != "alice" || r.Secret != "wrong-pw" || r.Authenticated || r.Status != 401 {
		t.Errorf("refused request recorded as %+v", r)
	}
	if got := s.RequestsTo("/rest/api/user/current"); len(got) != 1 {
		t.Errorf("RequestsTo: %+v", got)
	}
	// Requests returns copies.
	reqs[0].Query.Set("username", "changed")
	if s.Requests()[0].Query.Get("username") != "alice" {
		t.Error("Requests shares its maps with the server")
	}
	s.ResetRequests()
	if len(s.Requests()) != 0 {
		t.Error("ResetRequests kept requests")
	}
	if a := get(t, s, "/../rest/api/user/current", svc); a.status != 404 {
		// Outside the context path nothing is served.
		t.Errorf("outside the context path: %d", a.status)
	}
}

func TestFaults(t *testing.T) {
	t.Run("status for the next N matching requests", func(t *testing.T) {
		s, svc := start(t, confluencetest.Options{})
		s.InjectFault(confluencetest.Fault{Path: "/rest/api/group", Status: 503, RetryAfter: "12"}, 2)
		if a := get(t, s, "/rest/api/user/current", svc); a.status != 200 {
			t.Errorf("other path hit by the fault: %d", a.status)
		}
		for range 2 {
			a := get(t, s, "/rest/api/group/g/member", svc)
			if a.status != 503 || a.header.Get("Retry-After") != "12" || a.body["statusCode"] != float64(503) {
				t.Errorf("faulted: %d %v %s", a.status, a.header, a.raw)
			}
		}
		if a := get(t, s, "/rest/api/group/g/member", svc); a.status != 404 {
			t.Errorf("after the fault ran out: %d, want the real 404", a.status)
		}
	})

	t.Run("custom body", func(t *testing.T) {
		s, svc := start(t, confluencetest.Options{})
		s.InjectFault(confluencetest.Fault{Status: 403, Body: "XSRF check failed"}, 1)
		if a := get(t, s, "/rest/api/user/current", svc); a.status != 403 || a.raw != "XSRF check failed" ||
			!strings.HasPrefix(a.header.Get("Content-Type"), "text/plain") {
			t.Errorf("custom body: %d %q", a.status, a.raw)
		}
	})

	t.Run("delay on the server clock", func(t *testing.T) {
		clock := clockwork.NewFakeClock()
		s, svc := start(t, confluencetest.Options{Clock: clock})
		s.InjectFault(confluencetest.Fault{Delay: time.Minute}, 1)
		done := make(chan answer, 1)
		go func() { done <- get(t, s, "/rest/api/user/current", svc) }()
		if err := clock.BlockUntilContext(t.Context(), 1); err != nil {
			t.Fatal(err)
		}
		if r := s.Requests(); len(r) != 1 || r[0].Status != 0 {
			t.Fatalf("while delayed: %+v", r)
		}
		clock.Advance(time.Minute)
		if a := <-done; a.status != 200 || a.str("username") != "svc" {
			t.Errorf("after the delay: %d %s", a.status, a.raw)
		}
	})

	t.Run("drop", func(t *testing.T) {
		s, svc := start(t, confluencetest.Options{})
		get(t, s, "/rest/api/user/current", svc) // leaves a connection to reuse
		s.InjectFault(confluencetest.Fault{Drop: true}, 1)
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL()+"/rest/api/user/current", nil)
		req.Header.Set("Authorization", svc)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if err == nil {
			t.Fatal("a dropped connection read fine")
		}
		if r := s.Requests(); r[len(r)-1].Status != 0 {
			t.Errorf("dropped request recorded with status %d", r[len(r)-1].Status)
		}
	})

	t.Run("stall until the client gives up", func(t *testing.T) {
		s, svc := start(t, confluencetest.Options{})
		reached := make(chan struct{}, 1)
		s.InjectFault(confluencetest.Fault{Stall: true, Reached: reached}, 1)
		ctx, cancel := context.WithCancel(t.Context())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/rest/api/user/current", nil)
		req.Header.Set("Authorization", svc)
		done := make(chan error, 1)
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			done <- err
		}()
		select {
		case <-reached:
		case err := <-done:
			t.Fatalf("request finished before it stalled: %v", err)
		}
		cancel()
		if err := <-done; err == nil {
			t.Error("stalled request answered")
		}
	})

	t.Run("close releases stalled requests", func(t *testing.T) {
		s := confluencetest.NewServer(confluencetest.Options{})
		s.AddUser(confluencetest.User{Username: "svc"})
		auth := "Bearer " + s.IssuePAT("svc")
		reached := make(chan struct{}, 1)
		s.InjectFault(confluencetest.Fault{Stall: true, Reached: reached}, 1)
		done := make(chan struct{})
		go func() {
			defer close(done)
			req, _ := http.NewRequest(http.MethodGet, s.URL()+"/rest/api/user/current", nil)
			req.Header.Set("Authorization", auth)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
		<-reached
		s.Close() // must not hang on the stalled request
		<-done
	})
}

func TestUserMutators(t *testing.T) {
	s := confluencetest.New(t)
	a := s.AddUser(confluencetest.User{Username: "a"})
	b := s.AddUser(confluencetest.User{Username: "b"})
	if !userKeyPattern.MatchString(a.Key) || a.Key == b.Key || a.DisplayName != "a" {
		t.Errorf("generated users %+v %+v", a, b)
	}
	again := s.AddUser(confluencetest.User{Username: "A", DisplayName: "Replaced"})
	if again.Key != a.Key {
		t.Errorf("replacing a user changed its key: %s → %s", a.Key, again.Key)
	}
	s.RenameUser("a", "a2")
	if u, ok := s.User("a2"); !ok || u.Key != a.Key || u.DisplayName != "Replaced" {
		t.Errorf("renamed: %+v %v", u, ok)
	}
	if _, ok := s.User("a"); ok {
		t.Error("old username still resolves")
	}
	for name, f := range map[string]func(){
		"IssuePAT":   func() { s.IssuePAT("ghost") },
		"AddToGroup": func() { s.AddToGroup("g", "ghost") },
		"Deactivate": func() { s.Deactivate("ghost") },
		"RenameUser": func() { s.RenameUser("a2", "b") }, // taken
		"AddUser":    func() { s.AddUser(confluencetest.User{}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			f()
		}()
	}
}
