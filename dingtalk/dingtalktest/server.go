// Package dingtalktest runs an in-memory DingTalk over real HTTP for tests: tokens,
// contacts, work notifications, the documented error shapes, QPS limits, injected errors
// and connection faults, and an IP ban. Tests point a dingtalk.Client at Server.Endpoints and assert on what
// crossed the wire (Calls, Sent).
package dingtalktest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/dingfluence/dingfluence/dingtalk"
)

// Defaults for zero Options fields.
const (
	DefaultAppKey      = "dingtestappkey"
	DefaultAppSecret   = "dingtestappsecret"
	DefaultAgentID     = 1000001
	DefaultTokenTTL    = 7200 * time.Second
	DefaultCompanyName = "Example Corp"
)

// Options configures a Server; zero fields take the defaults above.
type Options struct {
	AppKey, AppSecret string
	AgentID           int64
	TokenTTL          time.Duration   // 0 → 7200 s
	QPS               int             // calls per API per sliding second; 0 = unlimited, 20 = DingTalk's limit
	Clock             clockwork.Clock // nil → the real clock; drives token expiry, the QPS window and SentMessage.At
	CompanyName       string          // name of the root department
}

// Fault is a way for a call to fail at the connection rather than in DingTalk's answer.
type Fault int

// Faults, for InjectFault. Both come after DingTalk has done the call: a send is recorded
// in Sent, as a message DingTalk took and will deliver, which is what makes the caller's
// outcome unknown.
const (
	// FaultAcceptThenDrop closes the connection without an answer.
	FaultAcceptThenDrop Fault = iota + 1
	// FaultAcceptThenStall holds the answer until the client gives up on the request
	// (its timeout or context) or the server closes; each stall is announced on Stalled.
	FaultAcceptThenStall
)

// Department is a node of the simulated department tree.
type Department struct {
	ID, ParentID int64
	Name         string
	Order        int64
}

// User is a simulated employee.
type User struct {
	UserID, UnionID, Name    string
	Email, OrgEmail          string
	JobNumber, Mobile, Title string
	Active                   bool // getbymobile finds active users only
	DeptIDs                  []int64
}

// SentMessage is one accepted asyncsend_v2 task.
type SentMessage struct {
	TaskID  int64
	AgentID int64
	UserIDs []string        // as sent, unknown userids included (DingTalk accepts them too)
	Msg     json.RawMessage // compact JSON of msg
	At      time.Time
}

// Server is a simulated DingTalk. It is safe for concurrent use.
type Server struct {
	opts Options
	srv  *httptest.Server

	mu         sync.Mutex
	depts      map[int64]Department
	users      map[string]User
	userOrder  []string // insertion order; v2/user/list pages follow it
	token      string
	tokenUntil time.Time
	injected   []injection
	flaky      []flakiness
	deptFaults map[int64]int // errcode answered to every call about a department
	faults     []faultInjection
	ban        string // body answered to every request while set
	calls      map[string]int
	total      int
	issued     int
	sent       []SentMessage
	nextTask   int64
	recent     map[string][]time.Time // admitted request times per path, for the QPS window
	stalled    chan string            // paths of stalled calls, for Stalled
	closing    chan struct{}          // closed by Close, ends stalls
	closeOnce  sync.Once
}

type injection struct {
	api     string
	errcode int
	left    int
}

// flakiness fails a share of an API's calls, drawn from a seeded generator.
type flakiness struct {
	api   string
	share float64
	rng   *rand.Rand
}

// faultInjection fails the next left calls of api at the connection.
type faultInjection struct {
	api   string
	fault Fault
	left  int
}

// New starts a Server. The caller must Close it.
func New(opts Options) *Server {
	if opts.AppKey == "" {
		opts.AppKey = DefaultAppKey
	}
	if opts.AppSecret == "" {
		opts.AppSecret = DefaultAppSecret
	}
	if opts.AgentID == 0 {
		opts.AgentID = DefaultAgentID
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = DefaultTokenTTL
	}
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.CompanyName == "" {
		opts.CompanyName = DefaultCompanyName
	}
	s := &Server{
		opts:       opts,
		depts:      map[int64]Department{dingtalk.RootDepartmentID: {ID: dingtalk.RootDepartmentID, Name: opts.CompanyName}},
		users:      map[string]User{},
		calls:      map[string]int{},
		recent:     map[string][]time.Time{},
		deptFaults: map[int64]int{},
		stalled:    make(chan string, 64),
		closing:    make(chan struct{}),
		nextTask:   256271667526, // real task ids are this large; int32 bugs show up at once
	}
	s.srv = httptest.NewServer(s)
	return s
}

// Start starts a Server that is closed when t ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := New(opts)
	t.Cleanup(s.Close)
	return s
}

// URL returns the base URL, e.g. http://127.0.0.1:12345.
func (s *Server) URL() string { return s.srv.URL }

// Endpoints returns client endpoints that all point at this server.
func (s *Server) Endpoints() dingtalk.Endpoints { return dingtalk.EndpointsAt(s.srv.URL) }

// Close ends stalled calls and shuts the server down.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closing) })
	s.srv.Close()
}

// AppKey returns the app key the server accepts (useful when Options left it empty).
func (s *Server) AppKey() string { return s.opts.AppKey }

// AppSecret returns the app secret the server accepts.
func (s *Server) AppSecret() string { return s.opts.AppSecret }

// AgentID returns the agent id asyncsend_v2 accepts.
func (s *Server) AgentID() int64 { return s.opts.AgentID }

// AddDepartment adds d, or replaces the department with the same ID.
func (s *Server) AddDepartment(d Department) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.depts[d.ID] = d
}

// RemoveDepartment removes a department with its whole subtree, and drops those
// departments from users' DeptIDs so nothing points at a missing department.
func (s *Server) RemoveDepartment(id int64) {
	if id == dingtalk.RootDepartmentID {
		panic("dingtalktest: the root department cannot be removed")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	gone := s.subtree(id)
	for _, d := range gone {
		delete(s.depts, d)
	}
	for uid, u := range s.users {
		u.DeptIDs = slices.DeleteFunc(u.DeptIDs, func(d int64) bool { return slices.Contains(gone, d) })
		s.users[uid] = u
	}
}

// MoveDepartment makes newParent the parent of department id; it panics for an unknown id.
func (s *Server) MoveDepartment(id, newParent int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.mustDept(id)
	d.ParentID = newParent
	s.depts[id] = d
}

// RenameDepartment changes the name of department id; it panics for an unknown id.
func (s *Server) RenameDepartment(id int64, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.mustDept(id)
	d.Name = name
	s.depts[id] = d
}

// AddUser adds u, or replaces the user with the same UserID.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[u.UserID]; !ok {
		s.userOrder = append(s.userOrder, u.UserID)
	}
	u.DeptIDs = slices.Clone(u.DeptIDs)
	s.users[u.UserID] = u
}

// UpdateUser replaces an existing user; it panics for an unknown UserID.
func (s *Server) UpdateUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[u.UserID]; !ok {
		panic("dingtalktest: UpdateUser of unknown user " + u.UserID)
	}
	u.DeptIDs = slices.Clone(u.DeptIDs)
	s.users[u.UserID] = u
}

// RemoveUser removes a user; later lookups answer 60121.
func (s *Server) RemoveUser(userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.users, userID)
	s.userOrder = slices.DeleteFunc(s.userOrder, func(id string) bool { return id == userID })
}

// ExpireTokens invalidates every issued token; API calls then answer 88/40014.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = ""
}

// InjectError makes the next `times` calls of api answer errcode in its real shape
// (auth and permission codes wrapped in 88, throttling and business codes flat).
// api is a path suffix matched at a "/" boundary: "gettoken", "/topapi/v2/user/list", "user/get".
func (s *Server) InjectError(api string, errcode int, times int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.injected = append(s.injected, injection{api: api, errcode: errcode, left: times})
}

// FailTransiently makes a share (0 to 1) of the calls of api answer -1 (系统繁忙, DingTalk
// busy), the way DingTalk fails now and then under load. Which calls fail is drawn from
// a generator seeded with seed, so a run of calls in the same order fails the same way.
// api is matched as for InjectError; "" means every API but gettoken.
func (s *Server) FailTransiently(api string, share float64, seed uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flaky = append(s.flaky, flakiness{api: api, share: share, rng: rand.New(rand.NewPCG(seed, seed))})
}

// FailDepartment makes every call about department id (listsub, department.get,
// user/listid and user/list with that dept_id) answer errcode, until HealDepartment.
func (s *Server) FailDepartment(id int64, errcode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deptFaults[id] = errcode
}

// HealDepartment ends a FailDepartment.
func (s *Server) HealDepartment(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.deptFaults, id)
}

// InjectFault makes the next `times` calls of api (matched as for InjectError) be done
// and then fail with fault at the connection. Injected errors come first: a call that
// answers an injected error is not faulted.
func (s *Server) InjectFault(api string, fault Fault, times int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, faultInjection{api: api, fault: fault, left: times})
}

// Stalled receives the path of each call held by FaultAcceptThenStall once it is held,
// so a test knows the request has arrived before it lets the client's timeout run out.
func (s *Server) Stalled() <-chan string { return s.stalled }

// BanIP makes every request answer like DingTalk's egress-IP ban: the "punish" JSON
// object, or an HTML page when html is true. It lasts until LiftIPBan.
func (s *Server) BanIP(html bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ban = `{"status":1111,"wait":5,"source":"x5","punish":"deny","uuid":"5d1c3b0e-sim"}`
	if html {
		s.ban = "<!DOCTYPE html><html><head><title>访问被拒绝</title></head><body>您的访问被拒绝</body></html>"
	}
}

// LiftIPBan ends a ban started by BanIP.
func (s *Server) LiftIPBan() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ban = ""
}

// Calls returns how many requests reached api (a path suffix, as for InjectError).
func (s *Server) Calls(api string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for path, c := range s.calls {
		if matchAPI(path, api) {
			n += c
		}
	}
	return n
}

// TotalCalls returns how many requests the server received.
func (s *Server) TotalCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// TokenIssued returns how many gettoken calls succeeded (a renewal of the same token counts).
func (s *Server) TokenIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issued
}

// Sent returns the accepted work notifications in the order they arrived.
func (s *Server) Sent() []SentMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SentMessage, len(s.sent))
	for i, m := range s.sent {
		m.UserIDs = slices.Clone(m.UserIDs)
		m.Msg = slices.Clone(m.Msg)
		out[i] = m
	}
	return out
}

// ResetCounters zeroes Calls, TotalCalls and TokenIssued; Sent and data are kept.
func (s *Server) ResetCounters() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.calls)
	s.total, s.issued = 0, 0
}

// matchAPI reports whether path ends with api at a "/" boundary.
func matchAPI(path, api string) bool {
	api = "/" + strings.TrimPrefix(api, "/")
	return strings.HasSuffix(path, api)
}

func (s *Server) mustDept(id int64) Department {
	d, ok := s.depts[id]
	if !ok {
		panic(fmt.Sprintf("dingtalktest: unknown department %d", id))
	}
	return d
}

// subtree returns id and all its descendants.
func (s *Server) subtree(id int64) []int64 {
	out := []int64{id}
	for i := 0; i < len(out); i++ {
		for _, d := range s.depts {
			// The Contains check keeps a cycle made by MoveDepartment from looping forever.
			if d.ParentID == out[i] && !slices.Contains(out, d.ID) {
				out = append(out, d.ID)
			}
		}
	}
	return out
}
