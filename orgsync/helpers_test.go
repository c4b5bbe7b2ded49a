package orgsync_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"gorm.io/gorm"

	"github.com/dingfluence/dingfluence/dingtalk"
	"github.com/dingfluence/dingfluence/dingtalk/dingtalktest"
	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/orgsync"
	"github.com/dingfluence/dingfluence/secretbox"
)

var t0 = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

// clientSource hands out one fixed client, as settings.Service does while settings stay the same.
type clientSource struct{ client *dingtalk.Client }

func (s clientSource) Client(context.Context) (*dingtalk.Client, error) { return s.client, nil }

// fixture is a simulated DingTalk, a database and a Service syncing one into the other.
type fixture struct {
	srv   *dingtalktest.Server
	db    *gorm.DB
	store *models.Store
	clock *clockwork.FakeClock
	svc   *orgsync.Service
}

// setup configures a fixture; the zero value gives a fast client and default options.
type setup struct {
	server    dingtalktest.Options
	client    dingtalk.Config // QPS 0 → 10,000; BaseBackoff 0 → 5 ms
	transport http.RoundTripper
	options   orgsync.Options
}

func newFixture(t testing.TB, db *gorm.DB, s setup) *fixture {
	t.Helper()
	clk := clockwork.NewFakeClockAt(t0)
	srv := dingtalktest.Start(t, s.server)
	cfg := s.client
	cfg.AppKey, cfg.AppSecret, cfg.AgentID, cfg.Endpoints = srv.AppKey(), srv.AppSecret(), srv.AgentID(), srv.Endpoints()
	if cfg.QPS == 0 {
		cfg.QPS = 10_000
	}
	if cfg.BaseBackoff == 0 {
		cfg.BaseBackoff = 5 * time.Millisecond
	}
	if s.transport != nil {
		cfg.HTTPClient = &http.Client{Transport: s.transport, Timeout: 30 * time.Second}
	}
	cfg.Logger = testLogger(t)
	box, err := secretbox.New(bytes.Repeat([]byte{7}, secretbox.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	store := models.NewStore(db, box)
	opts := s.options
	opts.Clock = clk
	opts.Logger = testLogger(t)
	svc := orgsync.New(store, clientSource{dingtalk.New(cfg)}, opts)
	t.Cleanup(svc.Close)
	return &fixture{srv: srv, db: db, store: store, clock: clk, svc: svc}
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// buildOrg fills the simulator with this organisation (users in brackets):
//
//	1 Example Corp [frank]
//	├── 2 Engineering [alice]
//	│   ├── 4 Backend [bob, carol]
//	│   └── 5 Frontend [carol, dev000 … dev249]   (251 members: 3 pages)
//	└── 3 Sales [dave]
//	    └── 6 North [erin]
func buildOrg(srv *dingtalktest.Server) {
	for _, d := range []dingtalktest.Department{
		{ID: 2, ParentID: 1, Name: "Engineering", Order: 1},
		{ID: 3, ParentID: 1, Name: "Sales", Order: 2},
		{ID: 4, ParentID: 2, Name: "Backend"},
		{ID: 5, ParentID: 2, Name: "Frontend"},
		{ID: 6, ParentID: 3, Name: "North"},
	} {
		srv.AddDepartment(d)
	}
	for _, u := range []dingtalktest.User{
		{UserID: "frank", Name: "Frank", DeptIDs: []int64{1}},
		{UserID: "alice", Name: "Alice", Email: "alice@acme.example", JobNumber: "E1", Mobile: "13800000001", DeptIDs: []int64{2}},
		{UserID: "bob", Name: "Bob", DeptIDs: []int64{4}},
		{UserID: "carol", Name: "Carol", OrgEmail: "carol@corp.example", DeptIDs: []int64{4, 5}},
		{UserID: "dave", Name: "Dave", DeptIDs: []int64{3}},
		{UserID: "erin", Name: "Erin", Title: "Sales lead", DeptIDs: []int64{6}},
	} {
		u.Active = true
		srv.AddUser(u)
	}
	for i := range 250 {
		srv.AddUser(dingtalktest.User{UserID: fmt.Sprintf("dev%03d", i), Name: fmt.Sprintf("Dev %03d", i), Active: true, DeptIDs: []int64{5}})
	}
}

// apiCalls returns how many contacts API requests reached the simulator (token requests aside).
func apiCalls(srv *dingtalktest.Server) int {
	return srv.TotalCalls() - srv.Calls("gettoken")
}

type deptRow struct {
	parent int64
	name   string
}

func departments(t *testing.T, db *gorm.DB) map[int64]deptRow {
	t.Helper()
	var rows []models.Department
	if err := db.Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	out := map[int64]deptRow{}
	for _, d := range rows {
		out[d.DeptID] = deptRow{d.ParentID, d.Name}
	}
	return out
}

func users(t *testing.T, db *gorm.DB) map[string]models.DingTalkUser {
	t.Helper()
	var rows []models.DingTalkUser
	if err := db.Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	out := map[string]models.DingTalkUser{}
	for _, u := range rows {
		out[u.UserID] = u
	}
	return out
}

func memberships(t *testing.T, db *gorm.DB) map[int64]int {
	t.Helper()
	var rows []models.DepartmentMember
	if err := db.Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	out := map[int64]int{}
	for _, m := range rows {
		out[m.DeptID]++
	}
	return out
}

func isMember(t *testing.T, db *gorm.DB, dept int64, userID string) bool {
	t.Helper()
	var n int64
	if err := db.Model(&models.DepartmentMember{}).Where("dept_id = ? AND userid = ?", dept, userID).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// run runs a sync to completion and fails the test unless it succeeded.
func (f *fixture) run(t *testing.T, kind models.SyncKind, dept int64) models.SyncRun {
	t.Helper()
	run, err := f.runToEnd(t, kind, dept)
	if err != nil {
		t.Fatalf("Run(%s, %d): %v", kind, dept, err)
	}
	if run.Status != models.SyncStatusSucceeded {
		t.Fatalf("Run(%s, %d) = %s: errcode %d: %s", kind, dept, run.Status, run.Errcode, run.Error)
	}
	return run
}

// runToEnd runs a sync to completion by a user, moving the fake clock on past each
// pause the run takes before retrying departments DingTalk failed to answer for.
func (f *fixture) runToEnd(t *testing.T, kind models.SyncKind, dept int64) (models.SyncRun, error) {
	t.Helper()
	type result struct {
		run models.SyncRun
		err error
	}
	done := make(chan result, 1)
	go func() {
		run, err := f.svc.Run(context.Background(), kind, dept, models.SyncTriggerUser, "admin")
		done <- result{run, err}
	}()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() {
		for {
			// Two waiters: the progress flush's ticker and the pause's timer.
			if f.clock.BlockUntilContext(ctx, 2) != nil {
				return
			}
			f.clock.Advance(time.Minute)
		}
	}()
	r := <-done
	stop()
	return r.run, r.err
}

// gate holds back requests to one API until released, so a test can look at a run
// while it is in flight.
type gate struct {
	api       string        // path suffix, e.g. "/v2/user/list"
	arrived   chan struct{} // one value per held request
	cancelled chan struct{} // one value per held request whose context ended
	release   chan struct{} // closed to let every request through
	once      sync.Once
}

func newGate(api string) *gate {
	return &gate{api: api, arrived: make(chan struct{}, 100), cancelled: make(chan struct{}, 100), release: make(chan struct{})}
}

func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

func (g *gate) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasSuffix(req.URL.Path, g.api) {
		g.arrived <- struct{}{}
		select {
		case <-g.release:
		case <-req.Context().Done():
			g.cancelled <- struct{}{}
			return nil, req.Context().Err()
		}
	}
	return http.DefaultTransport.RoundTrip(req)
}

// onRequest calls hook with each request's API path and JSON body before sending it.
type onRequest func(path string, body []byte)

func (h onRequest) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	h(req.URL.Path, body)
	return http.DefaultTransport.RoundTrip(req)
}

// eventually polls cond until it holds or 10 seconds pass; for a state another goroutine
// reaches on its own schedule (the progress flush) with no event to wait on.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}
