package confluencetest

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dingfluence/dingfluence/confluence"
)

// DefaultUserGroup is the group a new space grants "View space" to, as a fresh
// Confluence grants it to confluence-users.
const DefaultUserGroup = "confluence-users"

// firstContentID is where content ids start; real ids are large longs.
const firstContentID = 98304

// contentState is the content model: spaces, pages and blog posts with their versions,
// watchers and view restrictions. It lives in state and is guarded by state.mu.
type contentState struct {
	spaces   map[string]*space   // by key as given (Confluence keys are upper case)
	content  map[string]*content // by id
	spaceSeq int64
	idSeq    int64
}

func newContentState() contentState {
	return contentState{spaces: map[string]*space{}, content: map[string]*content{}, spaceSeq: 65536, idSeq: firstContentID}
}

type space struct {
	id       int64
	key      string
	name     string
	homeID   string
	watchers keySet
	// View space permission: userKeys, lower-case group names, anonymous access.
	viewUsers  []string
	viewGroups []string
	anonymous  bool
}

type content struct {
	id       string
	typ      confluence.ContentType
	status   confluence.ContentStatus
	title    string
	space    *space
	parentID string
	versions []version
	created  time.Time
	watchers keySet
	// Read restriction set directly on this content: userKeys and lower-case group names.
	readUsers  []string
	readGroups []string
}

type version struct {
	number  int
	message string
	minor   bool
	when    time.Time
	by      string // userKey; "" when added without an author
}

func (c *content) latest() version { return c.versions[len(c.versions)-1] }

// keySet is an insertion-ordered set of userKeys with O(1) add and lookup, so 10,000
// watchers stay cheap to add and to page through.
type keySet struct {
	order []string
	index map[string]struct{}
}

func (k *keySet) add(key string) {
	if k.index == nil {
		k.index = map[string]struct{}{}
	}
	if _, ok := k.index[key]; ok {
		return
	}
	k.index[key] = struct{}{}
	k.order = append(k.order, key)
}

func (k *keySet) remove(key string) {
	if _, ok := k.index[key]; !ok {
		return
	}
	delete(k.index, key)
	k.order = slices.DeleteFunc(k.order, func(s string) bool { return s == key })
}

// NewContent describes a page or blog post for AddContent.
type NewContent struct {
	Type   confluence.ContentType // "" → page
	Space  string                 // space key; the space must exist
	Title  string
	Parent string // id of the parent page; "" for a top-level page
	// Author is the username of the creator and first editor; "" leaves them out.
	Author string
	Status confluence.ContentStatus // "" → current
	// Message is the first version's change comment.
	Message string
}

// AddSpace creates a space whose "View space" permission goes to DefaultUserGroup.
// Adding an existing key renames it.
func (s *Server) AddSpace(key, name string) {
	st := &s.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if sp := st.cs.spaces[key]; sp != nil {
		sp.name = name
		return
	}
	st.cs.spaceSeq++
	st.cs.spaces[key] = &space{id: st.cs.spaceSeq, key: key, name: name, viewGroups: []string{DefaultUserGroup}}
}

// AddContent adds a page or blog post at version 1 and returns its id. It panics on an
// unknown space, parent or author, or a parent in another space.
func (s *Server) AddContent(n NewContent) string {
	st := &s.st
	st.mu.Lock()
	defer st.mu.Unlock()
	sp := st.cs.spaces[n.Space]
	if sp == nil {
		panic(fmt.Sprintf("confluencetest: unknown space %q", n.Space))
	}
	if n.Type == "" {
		n.Type = confluence.ContentPage
	}
	if n.Status == "" {
		n.Status = confluence.ContentCurrent
	}
	if n.Parent != "" {
		p := st.cs.content[n.Parent]
		switch {
		case p == nil:
			panic(fmt.Sprintf("confluencetest: unknown parent %q", n.Parent))
		case p.space != sp || p.typ != confluence.ContentPage || n.Type != confluence.ContentPage:
			panic("confluencetest: a parent must be a page in the same space, of a page")
		}
	}
	var by string
	if n.Author != "" {
		by = st.mustUser(n.Author).Key
	}
	st.cs.idSeq++
	id := strconv.FormatInt(st.cs.idSeq, 10)
	now := s.clock.Now().UTC()
	c := &content{
		id: id, typ: n.Type, status: n.Status, title: n.Title, space: sp, parentID: n.Parent, created: now,
		versions: []version{{number: 1, message: n.Message, when: now, by: by}},
	}
	if by != "" {
		// Autowatch: Confluence makes creators watch what they create (§3.4).
		c.watchers.add(by)
	}
	st.cs.content[id] = c
	if sp.homeID == "" && n.Type == confluence.ContentPage && n.Parent == "" {
		sp.homeID = id
	}
	return id
}

// AddPage adds a current page without an author to space, below parent[0] if given,
// and returns its id.
func (s *Server) AddPage(spaceKey, title string, parent ...string) string {
	n := NewContent{Space: spaceKey, Title: title}
	if len(parent) > 0 {
		n.Parent = parent[0]
	}
	return s.AddContent(n)
}

// AddBlogPost adds a current blog post without an author to space and returns its id.
func (s *Server) AddBlogPost(spaceKey, title string) string {
	return s.AddContent(NewContent{Type: confluence.ContentBlogPost, Space: spaceKey, Title: title})
}

// EditPage publishes a new version of content id by editor (a username; "" for none)
// with a change message and the minor-edit flag, and returns the new version number.
// The editor starts watching, as Confluence's autowatch does.
func (s *Server) EditPage(id, editor, message string, minorEdit bool) int {
	st := &s.st
	st.mu.Lock()
	defer st.mu.Unlock()
	c := st.mustContent(id)
	var by string
	if editor != "" {
		by = st.mustUser(editor).Key
		c.watchers.add(by)
	}
	n := c.latest().number + 1
	c.versions = append(c.versions, version{number: n, message: message, minor: minorEdit, when: s.clock.Now().UTC(), by: by})
	return n
}

// RenamePage changes a page's title without a new version (enough for tests of titles).
func (s *Server) RenamePage(id, title string) {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	s.st.mustContent(id).title = title
}

// SetStatus sets content's status: trashed (moved to the trash), draft, or current.
func (s *Server) SetStatus(id string, status confluence.ContentStatus) {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	s.st.mustContent(id).status = status
}

// Trash moves content to the trash; it can still be fetched with status=any or trashed.
func (s *Server) Trash(id string) { s.SetStatus(id, confluence.ContentTrashed) }

// Purge removes content for good: every request about it answers 404 afterwards.
func (s *Server) Purge(id string) {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	s.st.mustContent(id)
	delete(s.st.cs.content, id)
}

// Version returns content's latest version number.
func (s *Server) Version(id string) int {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	return s.st.mustContent(id).latest().number
}

func (st *state) mustContent(id string) *content {
	c := st.cs.content[id]
	if c == nil {
		panic(fmt.Sprintf("confluencetest: unknown content %q", id))
	}
	return c
}

func (st *state) mustSpace(key string) *space {
	sp := st.cs.spaces[key]
	if sp == nil {
		panic(fmt.Sprintf("confluencetest: unknown space %q", key))
	}
	return sp
}

// ancestors returns c's parent pages, the top one first; mu is held.
func (st *state) ancestors(c *content) []*content {
	var out []*content
	for id := c.parentID; id != ""; {
		p := st.cs.content[id]
		if p == nil {
			break
		}
		out = append(out, p)
		id = p.parentID
	}
	slices.Reverse(out)
	return out
}

// inGroups reports whether key is in any of groups (lower-case names); mu is held.
func (st *state) inGroups(key string, groups []string) bool {
	for _, name := range groups {
		if g := st.groups[name]; g != nil && slices.Contains(g.members, key) {
			return true
		}
	}
	return false
}

// passes reports whether key passes the read restriction set on c; mu is held.
func (st *state) passes(key string, c *content) bool {
	if len(c.readUsers) == 0 && len(c.readGroups) == 0 {
		return true
	}
	return key != "" && (slices.Contains(c.readUsers, key) || st.inGroups(key, c.readGroups))
}

// mayViewSpace reports whether key may view sp; administrators are treated as space
// administrators of every space. mu is held.
func (st *state) mayViewSpace(key string, sp *space) bool {
	if sp.anonymous {
		return true
	}
	if u := st.users[key]; u != nil && u.Admin {
		return true
	}
	return key != "" && (slices.Contains(sp.viewUsers, key) || st.inGroups(key, sp.viewGroups))
}

// mayView reports whether key may see c: the space permission, then the view
// restrictions of c and every ancestor. As in Confluence, restrictions bind
// administrators too. mu is held.
func (st *state) mayView(key string, c *content) bool {
	if !st.mayViewSpace(key, c.space) || !st.passes(key, c) {
		return false
	}
	for _, a := range st.ancestors(c) {
		if !st.passes(key, a) {
			return false
		}
	}
	return true
}

// MayView reports whether username may view content id, by the same rules the server
// applies to requests; tests use it as the expected answer of a permission check.
func (s *Server) MayView(username, id string) bool {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	return s.st.mayView(s.st.mustUser(username).Key, s.st.mustContent(id))
}

func (s *Server) routeContent(mux *http.ServeMux) {
	mux.HandleFunc("GET /rest/api/content/{id}", s.getContent)
	mux.HandleFunc("GET /rest/api/content/search", s.searchContent)
	s.routeWatchers(mux)
	s.routeRestrictions(mux)
}

// webUI is the content's path below the base URL, as DC 8+ spells it.
func webUI(c *content) string {
	slug := url.PathEscape(strings.ReplaceAll(c.title, " ", "+"))
	if c.typ == confluence.ContentBlogPost {
		return fmt.Sprintf("/spaces/%s/blog/%s/%s/%s", url.PathEscape(c.space.key), c.created.Format("2006/01/02"), c.id, slug)
	}
	return fmt.Sprintf("/spaces/%s/pages/%s/%s", url.PathEscape(c.space.key), c.id, slug)
}

// byJSON renders a version's author as the REST API embeds users; mu is held.
func (s *Server) byJSON(r *http.Request, key string) map[string]any {
	if u := s.st.users[key]; u != nil {
		return s.userJSON(r, u, nil)
	}
	return map[string]any{"type": "anonymous", "displayName": "Anonymous"}
}

// contentJSON renders c as /rest/api/content does, with the requested expansions; mu is held.
func (s *Server) contentJSON(r *http.Request, c *content, expand map[string]bool) map[string]any {
	base := s.baseURL(r)
	self := base + "/rest/api/content/" + c.id
	j := map[string]any{
		"id": c.id, "type": string(c.typ), "status": string(c.status), "title": c.title,
		"_links": map[string]any{
			"base": base, "context": s.opts.ContextPath, "self": self,
			"webui": webUI(c), "tinyui": "/x/" + c.id, "edit": "/pages/resumedraft.action?draftId=" + c.id,
		},
	}
	expandable := map[string]any{
		"relevantViewRestrictions": "/rest/api/content/" + c.id + "/restriction/relevantViewRestrictions",
		"restrictions":             "/rest/api/content/" + c.id + "/restriction/byOperation",
	}
	v := c.latest()
	if expand["space"] {
		j["space"] = map[string]any{
			"id": c.space.id, "key": c.space.key, "name": c.space.name, "type": "global",
			"_links": map[string]any{"webui": "/display/" + url.PathEscape(c.space.key), "self": base + "/rest/api/space/" + url.PathEscape(c.space.key)},
		}
	} else {
		expandable["space"] = "/rest/api/space/" + url.PathEscape(c.space.key)
	}
	if expand["version"] {
		j["version"] = map[string]any{
			"by": s.byJSON(r, v.by), "when": v.when.Format("2006-01-02T15:04:05.000Z07:00"),
			"message": v.message, "number": v.number, "minorEdit": v.minor, "hidden": false,
			"_links": map[string]any{"self": base + "/rest/experimental/content/" + c.id + "/version/" + strconv.Itoa(v.number)},
		}
	} else {
		expandable["version"] = ""
	}
	if expand["history"] {
		first := c.versions[0]
		j["history"] = map[string]any{
			"latest": true, "createdBy": s.byJSON(r, first.by), "createdDate": first.when.Format("2006-01-02T15:04:05.000Z07:00"),
			"_links": map[string]any{"self": self + "/history"},
		}
	} else {
		expandable["history"] = self + "/history"
	}
	if expand["ancestors"] {
		anc := []any{}
		for _, a := range s.st.ancestors(c) {
			anc = append(anc, map[string]any{
				"id": a.id, "type": string(a.typ), "status": string(a.status), "title": a.title,
				"_links": map[string]any{"webui": webUI(a), "self": base + "/rest/api/content/" + a.id},
			})
		}
		j["ancestors"] = anc
	} else {
		expandable["ancestors"] = ""
	}
	j["_expandable"] = expandable
	return j
}

// statusMatches applies the status= parameter: a comma list, "any" for every status,
// current when absent.
func statusMatches(param string, st confluence.ContentStatus) bool {
	if param == "" {
		param = string(confluence.ContentCurrent)
	}
	for _, p := range strings.Split(param, ",") {
		p = strings.TrimSpace(p)
		if p == "any" || p == string(st) {
			return true
		}
	}
	return false
}

// visible finds content id for the caller, answering Confluence's 404 itself for content
// that does not exist, is not in the asked status, or that the caller may not view
// (Confluence does not tell those apart). mu is held.
func (s *Server) visible(w http.ResponseWriter, id string, c caller, status string) (*content, bool) {
	ct := s.st.cs.content[id]
	if ct == nil || !statusMatches(status, ct.status) || !s.st.mayView(c.key, ct) {
		writeError(w, http.StatusNotFound, "No content found with id: ContentId{id="+id+"}")
		return nil, false
	}
	return ct, true
}

func (s *Server) getContent(w http.ResponseWriter, r *http.Request) {
	c, ok := requireUser(w, r)
	if !ok {
		return
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	ct, ok := s.visible(w, r.PathValue("id"), c, r.URL.Query().Get("status"))
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, s.contentJSON(r, ct, expands(r)))
}

// searchContent answers CQL over current pages and blog posts the caller may view.
func (s *Server) searchContent(w http.ResponseWriter, r *http.Request) {
	c, ok := requireUser(w, r)
	if !ok {
		return
	}
	q, err := parseCQL(r.URL.Query().Get("cql"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "Could not parse cql : "+r.URL.Query().Get("cql")+" ("+err.Error()+")")
		return
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	var hits []*content
	for _, ct := range s.st.cs.content {
		if ct.status == confluence.ContentCurrent && q.matches(ct) && s.st.mayView(c.key, ct) {
			hits = append(hits, ct)
		}
	}
	slices.SortFunc(hits, func(a, b *content) int {
		if d := a.latest().when.Compare(b.latest().when); d != 0 {
			if q.desc {
				return -d
			}
			return d
		}
		return cmpID(a.id, b.id)
	})
	expand := expands(r)
	s.writePageFunc(w, r, len(hits), func(i int) any { return s.contentJSON(r, hits[i], expand) })
}

// cmpID orders decimal ids numerically.
func cmpID(a, b string) int {
	if d := len(a) - len(b); d != 0 {
		return d
	}
	return strings.Compare(a, b)
}
