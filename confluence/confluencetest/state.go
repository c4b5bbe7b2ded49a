package confluencetest

import (
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// state is everything the simulated Confluence knows. One mutex guards it all; handlers
// take it for the span of one answer and never while waiting. Later areas (spaces,
// pages with ancestors, watchers, restrictions, space permissions) add their maps here
// and their handlers in a file of their own.
type state struct {
	mu sync.Mutex

	users     map[string]*User  // by userKey
	keyByName map[string]string // lower-case username → userKey
	userSeq   int

	groups map[string]*group // by lower-case name

	pats map[string]string // personal access token → userKey

	oauthClients map[string]*oauthClient // by client id
	codes        map[string]*authCode    // authorization code → grant
	access       map[string]*oauthToken  // OAuth access token → grant
	refresh      map[string]*oauthToken  // OAuth refresh token → grant
	browser      browserUser

	cs         contentState // spaces, content, watchers, restrictions (content.go)
	webhookSeq int

	requests []Request
	faults   []injectedFault
}

type group struct {
	name    string
	members []string // userKeys in the order added; Confluence lists in a stable order
}

func newState() state {
	return state{
		users:        map[string]*User{},
		keyByName:    map[string]string{},
		groups:       map[string]*group{},
		pats:         map[string]string{},
		oauthClients: map[string]*oauthClient{},
		codes:        map[string]*authCode{},
		access:       map[string]*oauthToken{},
		refresh:      map[string]*oauthToken{},
		cs:           newContentState(),
	}
}

// userByName returns the user with username (case-insensitive), or nil; mu is held.
func (st *state) userByName(username string) *User {
	return st.users[st.keyByName[strings.ToLower(username)]]
}

// mustUser is userByName for the test-facing mutators, which panic on a typo.
func (st *state) mustUser(username string) *User {
	u := st.userByName(username)
	if u == nil {
		panic(fmt.Sprintf("confluencetest: unknown user %q", username))
	}
	return u
}

// groupsOf returns the names of key's groups, sorted as Confluence lists them.
func (st *state) groupsOf(key string) []string {
	var names []string
	for _, g := range st.groups {
		if slices.Contains(g.members, key) {
			names = append(names, g.name)
		}
	}
	slices.Sort(names)
	return names
}

// AddUser adds u and returns it with its userKey filled in. A user with the same
// username is replaced, keeping its key. AddUser panics without a username.
func (s *Server) AddUser(u User) User {
	if u.Username == "" {
		panic("confluencetest: AddUser without a username")
	}
	st := &s.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if old := st.userByName(u.Username); old != nil {
		u.Key = old.Key
	}
	if u.Key == "" {
		st.userSeq++
		// Real keys are 32 hex digits; a fixed prefix keeps them recognisable in failures.
		u.Key = fmt.Sprintf("8a7f8083%024x", st.userSeq)
	}
	if u.DisplayName == "" {
		u.DisplayName = u.Username
	}
	st.users[u.Key] = &u
	st.keyByName[strings.ToLower(u.Username)] = u.Key
	return u
}

// User returns the user with username as the server holds it.
func (s *Server) User(username string) (User, bool) {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	u := s.st.userByName(username)
	if u == nil {
		return User{}, false
	}
	return *u, true
}

// RenameUser changes a username; the userKey, groups and tokens stay, as in Confluence.
func (s *Server) RenameUser(oldName, newName string) {
	st := &s.st
	st.mu.Lock()
	defer st.mu.Unlock()
	u := st.mustUser(oldName)
	if other := st.userByName(newName); other != nil && other != u {
		panic(fmt.Sprintf("confluencetest: username %q is taken", newName))
	}
	delete(st.keyByName, strings.ToLower(oldName))
	u.Username = newName
	st.keyByName[strings.ToLower(newName)] = u.Key
}

// Deactivate deactivates a user: they can no longer authenticate, lookups report status
// "deactivated", and they stay listed in their groups (CONFSERVER-95653).
func (s *Server) Deactivate(username string) { s.setDeactivated(username, true) }

// Reactivate undoes Deactivate.
func (s *Server) Reactivate(username string) { s.setDeactivated(username, false) }

func (s *Server) setDeactivated(username string, v bool) {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	s.st.mustUser(username).Deactivated = v
}

// SetAdmin grants or withdraws Confluence administrator rights.
func (s *Server) SetAdmin(username string, admin bool) {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	s.st.mustUser(username).Admin = admin
}

// SetEmail changes a user's e-mail and whether only the mobile profile shows it.
func (s *Server) SetEmail(username, email string, hidden bool) {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	u := s.st.mustUser(username)
	u.Email, u.HideEmail = email, hidden
}

// AddGroup creates an empty group; Confluence stores group names in lower case.
func (s *Server) AddGroup(name string) {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	s.st.addGroup(name)
}

func (st *state) addGroup(name string) *group {
	lname := strings.ToLower(name)
	g := st.groups[lname]
	if g == nil {
		g = &group{name: lname}
		st.groups[lname] = g
	}
	return g
}

// AddToGroup adds users (by username) to group, creating the group if needed.
func (s *Server) AddToGroup(groupName string, usernames ...string) {
	st := &s.st
	st.mu.Lock()
	defer st.mu.Unlock()
	g := st.addGroup(groupName)
	for _, name := range usernames {
		key := st.mustUser(name).Key
		if !slices.Contains(g.members, key) {
			g.members = append(g.members, key)
		}
	}
}

// RemoveFromGroup removes a user from group.
func (s *Server) RemoveFromGroup(groupName, username string) {
	st := &s.st
	st.mu.Lock()
	defer st.mu.Unlock()
	key := st.mustUser(username).Key
	if g := st.groups[strings.ToLower(groupName)]; g != nil {
		g.members = slices.DeleteFunc(g.members, func(k string) bool { return k == key })
	}
}

// IssuePAT creates a personal access token for username, used as "Bearer <token>" (Data
// Center does not take it as the password of Basic auth).
func (s *Server) IssuePAT(username string) string {
	st := &s.st
	st.mu.Lock()
	defer st.mu.Unlock()
	key := st.mustUser(username).Key
	tok := newSecret()
	st.pats[tok] = key
	return tok
}

// RevokePAT makes a personal access token invalid.
func (s *Server) RevokePAT(token string) {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	delete(s.st.pats, token)
}

// newSecret returns an unguessable token for PATs, codes and OAuth tokens.
func newSecret() string { return rand.Text() + rand.Text() }
