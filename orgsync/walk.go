package orgsync

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dingfluence/dingfluence/dingtalk"
	"github.com/dingfluence/dingfluence/models"
)

// job is one run's work.
type job struct {
	store       *models.Store
	api         api
	p           *progress
	now         func() time.Time
	concurrency int
	kind        Kind
	dept        int64
}

func (j *job) run(ctx context.Context) error {
	switch j.kind {
	case KindSubDepartments:
		return j.syncSubDepartments(ctx)
	case KindAllSubDepartments:
		return j.walk(ctx, false)
	case KindDepartmentUsers:
		j.p.update(func(r *models.SyncRun) { r.UnitsTotal = 1 })
		err := j.syncMembers(ctx, j.dept)
		j.p.update(func(r *models.SyncRun) { r.UnitsDone = 1 })
		return err
	case KindAllSubDepartmentUsers:
		return j.walk(ctx, true)
	case KindFull:
		if err := j.walk(ctx, true); err != nil {
			return err
		}
		return j.deactivateMissingUsers(ctx)
	}
	return fmt.Errorf("unknown sync kind %q", j.kind)
}

// syncSubDepartments syncs the direct children of j.dept and removes the stored children
// DingTalk no longer lists there.
func (j *job) syncSubDepartments(ctx context.Context) error {
	j.p.update(func(r *models.SyncRun) { r.UnitsTotal = 1 })
	if err := j.syncRoot(ctx); err != nil {
		return err
	}
	listed, err := j.syncChildren(ctx, j.dept)
	if err != nil {
		return err
	}
	j.p.update(func(r *models.SyncRun) { r.UnitsDone = 1 })
	stored, err := j.store.ChildDepartmentIDs(ctx, j.dept)
	if err != nil {
		return err
	}
	keep := make(map[int64]bool, len(listed))
	for _, id := range listed {
		keep[id] = true
	}
	var gone []int64
	for _, id := range stored {
		if keep[id] {
			continue
		}
		subtree, err := j.store.SubtreeDepartmentIDs(ctx, id)
		if err != nil {
			return err
		}
		gone = append(gone, subtree...)
	}
	return j.removeDepartments(ctx, gone)
}

// task is one unit of a walk: list one department's children, or sync its members.
type task struct {
	dept    int64
	members bool
}

type taskResult struct {
	children []int64 // departments found by a listing task
	err      error
}

// walk syncs the subtree below j.dept, and with members also the members of j.dept and
// of every department in the subtree. Departments are worked on concurrently, at most
// j.concurrency at once; the client's per-API rate limiter sets the pace. Listing and
// member tasks are queued interleaved (first in, first out), so calls to listsub and to
// user/list, which DingTalk limits separately, run side by side and keep both budgets busy.
//
// After a complete walk, stored departments of the subtree that DingTalk no longer
// lists in it are removed.
func (j *job) walk(ctx context.Context, members bool) error {
	if err := j.syncRoot(ctx); err != nil {
		return err
	}
	queue := []task{{dept: j.dept}}
	if members {
		queue = append(queue, task{dept: j.dept, members: true})
	}
	j.p.update(func(r *models.SyncRun) { r.UnitsTotal = len(queue) })
	found := map[int64]bool{} // departments listed below j.dept; only this goroutine uses it

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(j.concurrency)
	results := make(chan taskResult)
	inflight, failed := 0, false
	for {
		for len(queue) > 0 && !failed {
			t := queue[0]
			do := func() error {
				r := j.do(gctx, t)
				results <- r
				return r.err
			}
			if inflight == 0 {
				// Every task started so far has reported its result, so a slot still
				// taken is about to be freed by its task returning: waiting is safe.
				g.Go(do)
			} else if !g.TryGo(do) {
				break // all slots busy: collect a result first
			}
			queue = queue[1:]
			inflight++
		}
		if inflight == 0 {
			break
		}
		res := <-results
		inflight--
		added := 0
		if res.err != nil {
			// Its error cancels the group's context: collect the other tasks and stop.
			failed = true
		}
		for _, c := range res.children {
			if found[c] || c == j.dept {
				continue // a cycle in an inconsistent tree must not loop forever
			}
			found[c] = true
			queue = append(queue, task{dept: c})
			added++
			if members {
				queue = append(queue, task{dept: c, members: true})
				added++
			}
		}
		j.p.update(func(r *models.SyncRun) { r.UnitsDone++; r.UnitsTotal += added })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return j.pruneSubtree(ctx, found)
}

func (j *job) do(ctx context.Context, t task) taskResult {
	if t.members {
		return taskResult{err: j.syncMembers(ctx, t.dept)}
	}
	children, err := j.syncChildren(ctx, t.dept)
	return taskResult{children: children, err: err}
}

// syncRoot writes the root department's own row when the run starts at the root: no
// listsub lists the root, so only department.get knows its name (the company's).
// A department below the root gets its row from its parent's listing instead.
func (j *job) syncRoot(ctx context.Context) error {
	if j.dept != dingtalk.RootDepartmentID {
		return nil
	}
	d, err := j.api.getDepartment(ctx, j.dept)
	if err != nil {
		return fmt.Errorf("get root department: %w", err)
	}
	changed, err := j.store.UpsertDepartments(ctx, []models.Department{{DeptID: j.dept, Name: d.Name}}, j.now())
	if err != nil {
		return err
	}
	j.p.update(func(r *models.SyncRun) { r.DepartmentsSeen++; r.DepartmentsChanged += changed })
	return nil
}

// syncChildren lists the direct children of parent, writes those that changed and
// returns their ids.
func (j *job) syncChildren(ctx context.Context, parent int64) ([]int64, error) {
	listed, err := j.api.listSubDepartments(ctx, parent)
	if err != nil {
		return nil, fmt.Errorf("list sub-departments of %d: %w", parent, err)
	}
	depts := make([]models.Department, len(listed))
	ids := make([]int64, len(listed))
	for i, d := range listed {
		// listsub carries no order field but lists siblings in DingTalk's display
		// order, so the position is the order (department.get per department would
		// double the calls).
		depts[i] = models.Department{DeptID: d.ID, ParentID: parent, Name: d.Name, Order: int64(i)}
		ids[i] = d.ID
	}
	changed, err := j.store.UpsertDepartments(ctx, depts, j.now())
	if err != nil {
		return nil, err
	}
	j.p.update(func(r *models.SyncRun) { r.DepartmentsSeen += len(depts); r.DepartmentsChanged += changed })
	return ids, nil
}

// syncMembers pages through the direct members of dept (100 users a call), writes the
// users that changed, and makes dept's membership rows match the listing.
func (j *job) syncMembers(ctx context.Context, dept int64) error {
	var ids []string
	for cursor := int64(0); ; {
		page, err := j.api.listUsers(ctx, dept, cursor)
		if err != nil {
			return fmt.Errorf("list users of department %d: %w", dept, err)
		}
		var fresh []models.DingTalkUser
		for _, u := range page.Users {
			ids = append(ids, u.UserID)
			if j.p.firstSight(u.UserID) {
				fresh = append(fresh, models.DingTalkUser{
					UserID: u.UserID, UnionID: u.UnionID, Name: u.Name, Email: u.Email, OrgEmail: u.OrgEmail,
					JobNumber: u.JobNumber, Mobile: u.Mobile, Title: u.Title,
					// Listed means still in the organisation; DingTalk's own "active"
					// (has activated the app) is a different matter and not kept.
					Active: true,
				})
			}
		}
		changed, err := j.store.UpsertDingTalkUsers(ctx, fresh, j.now())
		if err != nil {
			return err
		}
		j.p.update(func(r *models.SyncRun) { r.UsersChanged += changed })
		if !page.HasMore {
			break
		}
		if page.NextCursor <= cursor {
			return fmt.Errorf("list users of department %d: DingTalk's next_cursor %d does not advance from %d", dept, page.NextCursor, cursor)
		}
		cursor = page.NextCursor
	}
	added, removed, err := j.store.ReplaceDepartmentMembers(ctx, dept, ids)
	if err != nil {
		return err
	}
	j.p.update(func(r *models.SyncRun) { r.MembershipsChanged += added + removed })
	return nil
}

// pruneSubtree removes the stored departments below j.dept that a complete walk did not
// find: DingTalk deleted them or moved them out of this subtree.
func (j *job) pruneSubtree(ctx context.Context, found map[int64]bool) error {
	stored, err := j.store.SubtreeDepartmentIDs(ctx, j.dept)
	if err != nil {
		return err
	}
	var gone []int64
	for _, id := range stored {
		if id != j.dept && !found[id] {
			gone = append(gone, id)
		}
	}
	return j.removeDepartments(ctx, gone)
}

// removeDepartments deletes departments DingTalk no longer lists where they were, with
// their membership rows. That is safe even when a department only moved elsewhere: the
// users themselves stay (only a full sync deactivates users), and the next sync of the
// department's new parent writes it, and its members, back.
func (j *job) removeDepartments(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	depts, members, err := j.store.DeleteDepartments(ctx, ids)
	if err != nil {
		return err
	}
	j.p.update(func(r *models.SyncRun) { r.DepartmentsChanged += depts; r.MembershipsChanged += members })
	return nil
}

// deactivateMissingUsers marks users that a complete full sync did not list anywhere as
// inactive. Only the full sync does this: it alone lists every department.
func (j *job) deactivateMissingUsers(ctx context.Context) error {
	n, err := j.store.DeactivateDingTalkUsersNotIn(ctx, j.p.listedUsers(), j.now())
	if err != nil {
		return err
	}
	j.p.update(func(r *models.SyncRun) { r.UsersDeactivated += n })
	return nil
}
