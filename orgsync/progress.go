package orgsync

import (
	"context"
	"sync"

	"github.com/dingfluence/dingfluence/dingtalk"
	"github.com/dingfluence/dingfluence/models"
)

// progress holds a run's counters while the workers of a walk update them concurrently.
type progress struct {
	mu    sync.Mutex
	run   models.SyncRun
	dirty bool                // counters changed since the last flush
	users map[string]struct{} // userids listed so far in this run
}

func newProgress(run models.SyncRun) *progress {
	return &progress{run: run, users: map[string]struct{}{}}
}

// update applies f to the counters.
func (p *progress) update(f func(r *models.SyncRun)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(&p.run)
	p.dirty = true
}

// snapshot returns a copy of the run with its current counters.
func (p *progress) snapshot() models.SyncRun {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.run
}

// takeDirty reports whether the counters changed since the last call, and clears the flag.
func (p *progress) takeDirty() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.dirty
	p.dirty = false
	return d
}

func (p *progress) markDirty() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dirty = true
}

// firstSight records userID as listed in this run and reports whether it is new. A user
// in several departments is listed once per department; only the first listing is
// compared with the database, the others carry the same data.
func (p *progress) firstSight(userID string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.users[userID]; ok {
		return false
	}
	p.users[userID] = struct{}{}
	p.run.UsersSeen++
	p.dirty = true
	return true
}

// listedUsers returns the userids listed in this run; call it once the listing is over.
func (p *progress) listedUsers() map[string]struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.users
}

// api is the DingTalk client as one run uses it: every call is counted in the run's
// APICalls. The count is per call this run makes, taken here rather than from
// Client.Calls(), because the client is shared: its total also moves with every other
// run, notification or settings test going on at the same time. A call the client
// retries (throttling, a refreshed token) and the token fetch itself therefore count
// once here; the dingtalk_api_calls_total metric counts every HTTP request.
type api struct {
	client *dingtalk.Client
	p      *progress
}

func (a api) counted() {
	a.p.update(func(r *models.SyncRun) { r.APICalls++ })
}

func (a api) listSubDepartments(ctx context.Context, deptID int64) ([]dingtalk.Department, error) {
	a.counted()
	return a.client.ListSubDepartments(ctx, deptID)
}

func (a api) getDepartment(ctx context.Context, deptID int64) (dingtalk.DepartmentDetail, error) {
	a.counted()
	return a.client.GetDepartment(ctx, deptID)
}

func (a api) listUsers(ctx context.Context, deptID, cursor int64) (dingtalk.UserPage, error) {
	a.counted()
	return a.client.ListUsers(ctx, deptID, cursor, dingtalk.MaxPageSize)
}
