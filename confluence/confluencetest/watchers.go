package confluencetest

import (
	"net/http"
)

func (s *Server) routeWatchers(mux *http.ServeMux) {
	mux.HandleFunc("GET /rest/api/content/{id}/watchers", s.contentWatchers)
	mux.HandleFunc("GET /rest/api/space/{key}/watchers", s.spaceWatchers)
	mux.HandleFunc("GET /json/listwatchers.action", s.listWatchers)
}

// WatchPage makes users (by username) watch content id.
func (s *Server) WatchPage(id string, usernames ...string) {
	st := &s.st
	st.mu.Lock()
	defer st.mu.Unlock()
	c := st.mustContent(id)
	for _, name := range usernames {
		c.watchers.add(st.mustUser(name).Key)
	}
}

// UnwatchPage makes username stop watching content id.
func (s *Server) UnwatchPage(id, username string) {
	st := &s.st
	st.mu.Lock()
	defer st.mu.Unlock()
	st.mustContent(id).watchers.remove(st.mustUser(username).Key)
}

// WatchSpace makes users (by username) watch the space with key.
func (s *Server) WatchSpace(key string, usernames ...string) {
	st := &s.st
	st.mu.Lock()
	defer st.mu.Unlock()
	sp := st.mustSpace(key)
	for _, name := range usernames {
		sp.watchers.add(st.mustUser(name).Key)
	}
}

// UnwatchSpace makes username stop watching the space with key.
func (s *Server) UnwatchSpace(key, username string) {
	st := &s.st
	st.mu.Lock()
	defer st.mu.Unlock()
	st.mustSpace(key).watchers.remove(st.mustUser(username).Key)
}

// WatchPageKeys makes users watch content id by userKey, without a lookup per name, for
// scale tests with thousands of watchers. Unknown keys panic.
func (s *Server) WatchPageKeys(id string, keys ...string) {
	st := &s.st
	st.mu.Lock()
	defer st.mu.Unlock()
	c := st.mustContent(id)
	for _, k := range keys {
		st.mustKey(k)
		c.watchers.add(k)
	}
}

func (st *state) mustKey(key string) *User {
	u := st.users[key]
	if u == nil {
		panic("confluencetest: unknown user key " + key)
	}
	return u
}

// mayListWatchers: "Only a Confluence Administrator or Space Administrator can perform
// this action. Forge and OAuth2 apps cannot access this REST resource." (§3.2). The
// double knows no space administrators; administrators stand for them. mu is held.
func (s *Server) mayListWatchers(w http.ResponseWriter, c caller) bool {
	if c.oauth {
		writeError(w, http.StatusForbidden, "OAuth 2.0 apps cannot access this resource.")
		return false
	}
	if u := s.st.users[c.key]; u == nil || !u.Admin {
		writeError(w, http.StatusForbidden, "Only a Confluence Administrator or Space Administrator can perform this action.")
		return false
	}
	return true
}

// noRESTWatchers answers as a Confluence older than 9.0, which has no such resource.
func (s *Server) noRESTWatchers(w http.ResponseWriter, r *http.Request) bool {
	if !s.opts.LegacyWatchers {
		return false
	}
	writeError(w, http.StatusNotFound, "null for uri: "+s.baseURL(r)+r.URL.Path)
	return true
}

// writeWatchers pages through keys as the 9.0+ resources do: users. mu is held.
func (s *Server) writeWatchers(w http.ResponseWriter, r *http.Request, keys []string) {
	s.writePageFunc(w, r, len(keys), func(i int) any {
		if u := s.st.users[keys[i]]; u != nil {
			return s.userJSON(r, u, nil)
		}
		return map[string]any{"type": "unknown", "userKey": keys[i]}
	})
}

func (s *Server) contentWatchers(w http.ResponseWriter, r *http.Request) {
	if s.noRESTWatchers(w, r) {
		return
	}
	c, ok := requireUser(w, r)
	if !ok {
		return
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	if !s.mayListWatchers(w, c) {
		return
	}
	id := r.PathValue("id")
	ct := s.st.cs.content[id]
	if ct == nil {
		writeError(w, http.StatusNotFound, "No content found with id: ContentId{id="+id+"}")
		return
	}
	s.writeWatchers(w, r, ct.watchers.order)
}

func (s *Server) spaceWatchers(w http.ResponseWriter, r *http.Request) {
	if s.noRESTWatchers(w, r) {
		return
	}
	c, ok := requireUser(w, r)
	if !ok {
		return
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	if !s.mayListWatchers(w, c) {
		return
	}
	key := r.PathValue("key")
	sp := s.st.cs.spaces[key]
	if sp == nil {
		writeError(w, http.StatusNotFound, "No space found with key: "+key)
		return
	}
	s.writeWatchers(w, r, sp.watchers.order)
}

// listWatchers is the JSON behind "Manage watchers": page and space watchers of a page,
// unpaged, in every version.
func (s *Server) listWatchers(w http.ResponseWriter, r *http.Request) {
	c, ok := requireUser(w, r)
	if !ok {
		return
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	if !s.mayListWatchers(w, c) {
		return
	}
	id := r.URL.Query().Get("pageId")
	ct := s.st.cs.content[id]
	if ct == nil {
		writeError(w, http.StatusNotFound, "No page found with id: "+id)
		return
	}
	entries := func(keys []string) []any {
		out := make([]any, 0, len(keys))
		for _, k := range keys {
			u := s.st.users[k]
			if u == nil {
				continue
			}
			out = append(out, map[string]any{
				"type": "user", "name": u.Username, "userKey": u.Key, "fullName": u.DisplayName,
				"avatarUrl": s.opts.ContextPath + "/images/icons/profilepics/default.svg",
			})
		}
		return out
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"pageWatchers":  entries(ct.watchers.order),
		"spaceWatchers": entries(ct.space.watchers.order),
	})
}
