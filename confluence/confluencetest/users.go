package confluencetest

import (
	"net/http"
	"net/url"
)

func (s *Server) routeUsers(mux *http.ServeMux) {
	mux.HandleFunc("GET /rest/api/user/current", s.currentUser)
	mux.HandleFunc("GET /rest/api/user", s.getUser)
	mux.HandleFunc("GET /rest/api/user/memberof", s.memberOf)
	mux.HandleFunc("GET /rest/mobile/1.0/profile/{username}", s.mobileProfile)
}

// userJSON renders u as /rest/api/user does, with the requested expansions; mu is held.
func (s *Server) userJSON(r *http.Request, u *User, expand map[string]bool) map[string]any {
	base := s.baseURL(r)
	j := map[string]any{
		"type":        "known",
		"username":    u.Username,
		"userKey":     u.Key,
		"displayName": u.DisplayName,
		"profilePicture": map[string]any{
			"path": s.opts.ContextPath + "/images/icons/profilepics/default.svg", "width": 48, "height": 48, "isDefault": true,
		},
		"_links": map[string]any{
			"base": base, "context": s.opts.ContextPath,
			"self": base + "/rest/api/user?key=" + url.QueryEscape(u.Key),
		},
	}
	visible := u.Email != "" && !u.HideEmail
	if visible && s.opts.EmailAtTopLevel {
		j["email"] = u.Email
	}
	expandable := map[string]any{}
	if expand["status"] {
		status := "current"
		if u.Deactivated {
			status = "deactivated"
		}
		j["status"] = status
	} else {
		expandable["status"] = ""
	}
	if expand["details.personal"] || expand["details"] {
		personal := map[string]any{"phone": "", "im": "", "website": ""}
		if visible && !s.opts.EmailAtTopLevel {
			personal["email"] = u.Email
		}
		j["details"] = map[string]any{"personal": personal}
	} else {
		expandable["details"] = ""
	}
	if len(expandable) > 0 {
		j["_expandable"] = expandable
	}
	return j
}

// currentUser answers the caller; without a user Data Center answers 200 with an
// anonymous user rather than 401.
func (s *Server) currentUser(w http.ResponseWriter, r *http.Request) {
	c := callerOf(r)
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	u := s.st.users[c.key]
	if c.anonymous() || u == nil {
		writeJSON(w, http.StatusOK, map[string]any{
			"type": "anonymous", "displayName": "Anonymous",
			"profilePicture": map[string]any{
				"path": s.opts.ContextPath + "/images/icons/profilepics/anonymous.svg", "width": 48, "height": 48, "isDefault": true,
			},
			"_links": map[string]any{"base": s.baseURL(r), "context": s.opts.ContextPath},
		})
		return
	}
	writeJSON(w, http.StatusOK, s.userJSON(r, u, expands(r)))
}

// lookup finds the user named by ?key= or ?username=, answering 400/404 itself; mu is held.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request) (*User, bool) {
	q := r.URL.Query()
	key, username := q.Get("key"), q.Get("username")
	var u *User
	switch {
	case key != "":
		u = s.st.users[key]
	case username != "":
		u = s.st.userByName(username)
	default:
		writeError(w, http.StatusBadRequest, "A key or username query parameter is required.")
		return nil, false
	}
	if u == nil {
		if key != "" {
			writeError(w, http.StatusNotFound, "No user found with key: "+key)
		} else {
			writeError(w, http.StatusNotFound, "No user found with username: "+username)
		}
		return nil, false
	}
	return u, true
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) {
	if _, ok := requireUser(w, r); !ok {
		return
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	u, ok := s.lookup(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, s.userJSON(r, u, expands(r)))
}

// memberOf pages through a user's groups. Asking about someone else is an administrator's
// business unless Options.OpenGroupListing.
func (s *Server) memberOf(w http.ResponseWriter, r *http.Request) {
	c, ok := requireUser(w, r)
	if !ok {
		return
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	u, ok := s.lookup(w, r)
	if !ok {
		return
	}
	if u.Key != c.key && !s.mayListGroups(c) {
		writeError(w, http.StatusForbidden, "Only a Confluence administrator can view the groups of other users.")
		return
	}
	base := s.baseURL(r)
	names := s.st.groupsOf(u.Key)
	items := make([]any, 0, len(names))
	for _, name := range names {
		items = append(items, map[string]any{
			"type": "group", "name": name,
			"_links": map[string]any{"self": base + "/rest/api/group/" + url.PathEscape(name)},
		})
	}
	s.writePage(w, r, items)
}

// mayListGroups reports whether c may see group memberships beyond their own; mu is held.
func (s *Server) mayListGroups(c caller) bool {
	if s.opts.OpenGroupListing {
		return true
	}
	u := s.st.users[c.key]
	return u != nil && u.Admin
}

// mobileProfile is the mobile plugin's profile, the one place a hidden e-mail shows.
func (s *Server) mobileProfile(w http.ResponseWriter, r *http.Request) {
	if s.opts.NoMobileProfile {
		http.NotFound(w, r)
		return
	}
	if _, ok := requireUser(w, r); !ok {
		return
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	u := s.st.userByName(r.PathValue("username"))
	if u == nil {
		writeError(w, http.StatusNotFound, "No user found with username: "+r.PathValue("username"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"username": u.Username, "fullName": u.DisplayName, "email": u.Email,
		"avatarUrl": s.opts.ContextPath + "/images/icons/profilepics/default.svg",
		"anonymous": false, "url": s.baseURL(r) + "/display/~" + url.PathEscape(u.Username),
	})
}
