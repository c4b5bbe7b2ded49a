package confluencetest

import (
	"net/http"
	"strings"
)

func (s *Server) routeGroups(mux *http.ServeMux) {
	mux.HandleFunc("GET /rest/api/group/{group}/member", s.groupMembers)
}

// groupMembers pages through a group's members, deactivated users included
// (CONFSERVER-95653). Only administrators may list them unless Options.OpenGroupListing.
func (s *Server) groupMembers(w http.ResponseWriter, r *http.Request) {
	c, ok := requireUser(w, r)
	if !ok {
		return
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	if !s.mayListGroups(c) {
		writeError(w, http.StatusForbidden, "Only a Confluence administrator can list the members of a group.")
		return
	}
	name := r.PathValue("group")
	g := s.st.groups[strings.ToLower(name)]
	if g == nil {
		writeError(w, http.StatusNotFound, "No group found with name: "+name)
		return
	}
	expand := expands(r)
	items := make([]any, 0, len(g.members))
	for _, key := range g.members {
		if u := s.st.users[key]; u != nil {
			items = append(items, s.userJSON(r, u, expand))
		}
	}
	s.writePage(w, r, items)
}
