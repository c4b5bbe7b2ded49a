package confluencetest

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

func (s *Server) routeRestrictions(mux *http.ServeMux) {
	mux.HandleFunc("GET /rest/api/content/{id}/restriction/byOperation/{op}", s.restrictionByOperation)
	mux.HandleFunc("GET /rest/api/space/{key}/permissions", s.spacePermissions)
}

// Restrict sets the read ("view") restriction of content id to users (usernames) and
// groups, replacing the one before; both empty lifts it. As in Confluence it applies to
// the content and everything below it, and to administrators too: a service account
// that must still read the page has to be among those permitted.
func (s *Server) Restrict(id string, usernames, groups []string) {
	st := &s.st
	st.mu.Lock()
	defer st.mu.Unlock()
	c := st.mustContent(id)
	c.readUsers, c.readGroups = nil, nil
	for _, name := range usernames {
		c.readUsers = append(c.readUsers, st.mustUser(name).Key)
	}
	for _, g := range groups {
		c.readGroups = append(c.readGroups, st.addGroup(g).name)
	}
}

// SetSpaceViewers replaces who holds "View space" on the space with key: users
// (usernames), groups, and anonymous access.
func (s *Server) SetSpaceViewers(key string, usernames, groups []string, anonymous bool) {
	st := &s.st
	st.mu.Lock()
	defer st.mu.Unlock()
	sp := st.mustSpace(key)
	sp.viewUsers, sp.viewGroups, sp.anonymous = nil, nil, anonymous
	for _, name := range usernames {
		sp.viewUsers = append(sp.viewUsers, st.mustUser(name).Key)
	}
	for _, g := range groups {
		sp.viewGroups = append(sp.viewGroups, st.addGroup(g).name)
	}
}

// restrictionByOperation answers GET /rest/api/content/{id}/restriction/byOperation/{op}
// for read and update (update restrictions are not modelled: always empty). start and
// limit page the user and group lists together.
func (s *Server) restrictionByOperation(w http.ResponseWriter, r *http.Request) {
	c, ok := requireUser(w, r)
	if !ok {
		return
	}
	op := r.PathValue("op")
	if op != "read" && op != "update" {
		writeError(w, http.StatusBadRequest, "Unknown operation: "+op)
		return
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	ct, ok := s.visible(w, r.PathValue("id"), c, "any")
	if !ok {
		return
	}
	q := r.URL.Query()
	start, _ := strconv.Atoi(q.Get("start"))
	start = max(start, 0)
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil || limit <= 0 || limit > s.opts.MaxLimit {
		limit = s.opts.MaxLimit
	}
	var userKeys, groups []string
	if op == "read" {
		userKeys, groups = ct.readUsers, ct.readGroups
	}
	base := s.baseURL(r)
	self := base + "/rest/api/content/" + ct.id + "/restriction/byOperation/" + op
	list := func(n int, item func(i int) any) map[string]any {
		from, to := min(start, n), min(start+limit, n)
		results := make([]any, 0, to-from)
		for i := from; i < to; i++ {
			results = append(results, item(i))
		}
		links := map[string]any{}
		if to < n {
			links["next"] = s.opts.ContextPath + "/rest/api/content/" + ct.id + "/restriction/byOperation/" + op +
				"?start=" + strconv.Itoa(to) + "&limit=" + strconv.Itoa(limit)
		}
		return map[string]any{"results": results, "start": start, "limit": limit, "size": len(results), "_links": links}
	}
	expand := expands(r)
	restrictions := map[string]any{"_expandable": map[string]any{}}
	// Both lists are expanded by default, as documented.
	if len(expand) == 0 || expand["restrictions.user"] {
		restrictions["user"] = list(len(userKeys), func(i int) any {
			if u := s.st.users[userKeys[i]]; u != nil {
				return s.userJSON(r, u, nil)
			}
			return map[string]any{"type": "unknown", "userKey": userKeys[i]}
		})
	}
	if len(expand) == 0 || expand["restrictions.group"] {
		restrictions["group"] = list(len(groups), func(i int) any {
			return map[string]any{"type": "group", "name": groups[i],
				"_links": map[string]any{"self": base + "/rest/api/group/" + url.PathEscape(groups[i])}}
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"operation":    op,
		"restrictions": restrictions,
		"_expandable":  map[string]any{"content": "/rest/api/content/" + ct.id},
		"_links":       map[string]any{"base": base, "context": s.opts.ContextPath, "self": self},
	})
}

// spacePermissions answers the 9.1+ space permission resource (administrators only) with
// the documented bare array of grants; only "read space" is modelled. Options.
// NoSpacePermissions answers 404 as versions before 9.1 do.
func (s *Server) spacePermissions(w http.ResponseWriter, r *http.Request) {
	if s.opts.NoSpacePermissions {
		writeError(w, http.StatusNotFound, "null for uri: "+s.baseURL(r)+r.URL.Path)
		return
	}
	c, ok := requireUser(w, r)
	if !ok {
		return
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	if u := s.st.users[c.key]; u == nil || !u.Admin {
		writeError(w, http.StatusForbidden, "Only a Confluence Administrator or Space Administrator can view space permissions.")
		return
	}
	key := r.PathValue("key")
	sp := s.st.cs.spaces[key]
	if sp == nil {
		writeError(w, http.StatusNotFound, "No space found with key: "+key)
		return
	}
	grant := func(subject map[string]any) map[string]any {
		return map[string]any{
			"operation": map[string]any{"targetType": "space", "operationKey": "read"},
			"subject":   subject, "spaceKey": sp.key, "spaceId": sp.id,
		}
	}
	out := []any{}
	for _, g := range sp.viewGroups {
		out = append(out, grant(map[string]any{"type": "group", "name": strings.ToLower(g)}))
	}
	for _, k := range sp.viewUsers {
		out = append(out, grant(map[string]any{"type": "user", "userKey": k}))
	}
	if sp.anonymous {
		out = append(out, grant(map[string]any{"type": "anonymous"}))
	}
	writeJSON(w, http.StatusOK, out)
}
