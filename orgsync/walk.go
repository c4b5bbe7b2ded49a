package orgsync

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"
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
	clock       clockwork.Clock
	concurrency int
	kind        models.SyncKind
	dept        int64
	rounds      int           // further rounds for transiently failed units
	backoff     time.Duration // pause before the first further round, doubling
	log         *slog.Logger
}

func (j *job) run(ctx context.Context) error {
	switch j.kind {
	case models.SyncKindSubDepartments:
		return j.syncSubDepartments(ctx)
	case models.SyncKindAllSubDepartments:
		return j.walk(ctx, false)
	case models.SyncKindDepartmentUsers:
		j.p.update(func(r *models.SyncRun) { r.UnitsTotal = 1 })
		if err := j.again(ctx, func(ctx context.Context) error { return j.syncMembers(ctx, j.dept) }); err != nil {
			return err
		}
		j.p.update(func(r *models.SyncRun) { r.UnitsDone = 1 })
		return nil
	case models.SyncKindAllSubDepartmentUsers:
		return j.walk(ctx, true)
	case models.SyncKindFull:
		// An incomplete walk has not seen everyone: deactivating those it missed would
		// mark people who are still there as gone.
		if err := j.walk(ctx, true); err != nil {
			return err
		}
		return j.deactivateMissingUsers(ctx)
	}
	return fmt.Errorf("unknown sync kind %q", j.kind)
}

// transient reports whether err is worth another try later in the run: DingTalk busy,
// throttled or unreachable even after the client's own retries, while the run goes on.
func transient(ctx context.Context, err error) bool {
	return ctx.Err() == nil && dingtalk.IsTransient(err)
}

// pause waits before further round n (1, 2, …) of retries.
func (j *job) pause(ctx context.Context, n int) error {
	t := j.clock.NewTimer(j.backoff << (n - 1))
	defer t.Stop()
	select {
	case <-t.Chan():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("pause before retrying: %w", context.Cause(ctx))
	}
}

// again runs op, and after a transient failure runs it again after a pause, up to
// j.rounds more times. It is for the single calls a run cannot do without (the root,
// the one department of a department sync); it returns op's last error.
func (j *job) again(ctx context.Context, op func(context.Context) error) error {
	err := op(ctx)
	for n := 1; n <= j.rounds && err != nil && transient(ctx, err); n++ {
		j.log.WarnContext(ctx, "org sync: DingTalk call failed; trying again after a pause", slog.Int("round", n), slog.Any("error", err))
		if perr := j.pause(ctx, n); perr != nil {
			return perr
		}
		err = op(ctx)
	}
	return err
}

// syncSubDepartments syncs the direct children of j.dept and removes the stored children
// DingTalk no longer lists there.
func (j *job) syncSubDepartments(ctx context.Context) error {
	j.p.update(func(r *models.SyncRun) { r.UnitsTotal = 1 })
	if err := j.again(ctx, j.syncRoot); err != nil {
		return err
	}
	var listed []models.Department
	err := j.again(ctx, func(ctx context.Context) error {
		var err error
		listed, err = j.syncChildren(ctx, j.dept)
		return err
	})
	if err != nil {
		return err
	}
	j.p.update(func(r *models.SyncRun) { r.UnitsDone = 1 })
	stored, err := j.store.ChildDepartmentIDs(ctx, j.dept)
	if err != nil {
		return err
	}
	keep := make(map[int64]bool, len(listed))
	for _, d := range listed {
		keep[d.DeptID] = true
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
	task     task
	children []models.Department // departments found by a listing task
	err      error
}

// walk syncs the subtree below j.dept, and with members also the members of j.dept and
// of every department in the subtree. Departments are worked on concurrently, at most
// j.concurrency at once; the client's per-API rate limiter sets the pace. Listing and
// member tasks are queued interleaved (first in, first out), so calls to listsub and to
// user/list, which DingTalk limits separately, run side by side and keep both budgets busy.
//
// A task that fails transiently (DingTalk busy after the client's retries) does not sink
// the run: it is set aside and, once the queue is empty, retried after a pause, for up
// to j.rounds further rounds. A task still failing then is reported in an
// *unreadableError; any other failure ends the walk at once.
//
// After a complete walk, stored departments of the subtree that DingTalk no longer
// lists in it are removed; when a listing stayed unreadable the subtree is not known in
// full, and nothing is removed.
func (j *job) walk(ctx context.Context, members bool) error {
	if err := j.again(ctx, j.syncRoot); err != nil {
		return err
	}
	queue := []task{{dept: j.dept}}
	if members {
		queue = append(queue, task{dept: j.dept, members: true})
	}
	j.p.update(func(r *models.SyncRun) { r.UnitsTotal = len(queue) })
	// Only this goroutine uses these.
	found := map[int64]bool{}   // departments listed below j.dept
	names := map[int64]string{} // their names, to report unreadable ones by
	failing := map[task]error{} // last error of each task that failed transiently
	var later []task            // those tasks, for the next round
	round := 0

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(j.concurrency)
	results := make(chan taskResult)
	inflight, failed := 0, false
	var pauseErr error
	for {
		for len(queue) > 0 && !failed {
			t := queue[0]
			do := func() error {
				r := j.do(gctx, t)
				results <- r
				if r.err != nil && !transient(gctx, r.err) {
					return r.err // cancels the group's context: the walk stops
				}
				return nil
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
			if failed || len(later) == 0 || round >= j.rounds {
				break
			}
			round++
			j.log.WarnContext(ctx, "org sync: retrying departments DingTalk failed to answer for",
				slog.Int("round", round), slog.Int("tasks", len(later)))
			if pauseErr = j.pause(ctx, round); pauseErr != nil {
				break
			}
			queue, later = later, nil
			continue
		}
		res := <-results
		inflight--
		switch {
		case res.err == nil:
			delete(failing, res.task)
		case transient(gctx, res.err):
			failing[res.task] = res.err
			later = append(later, res.task)
			continue
		default:
			failed = true
			continue
		}
		added := 0
		for _, c := range res.children {
			if found[c.DeptID] || c.DeptID == j.dept {
				continue // a cycle in an inconsistent tree must not loop forever
			}
			found[c.DeptID] = true
			names[c.DeptID] = c.Name
			queue = append(queue, task{dept: c.DeptID})
			added++
			if members {
				queue = append(queue, task{dept: c.DeptID, members: true})
				added++
			}
		}
		j.p.update(func(r *models.SyncRun) { r.UnitsDone++; r.UnitsTotal += added })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if pauseErr != nil {
		return pauseErr
	}
	if len(failing) == 0 {
		return j.pruneSubtree(ctx, found)
	}
	unread := j.unreadable(ctx, failing, names)
	if !unread.listingLost {
		if err := j.pruneSubtree(ctx, found); err != nil {
			return err
		}
	}
	return unread
}

func (j *job) do(ctx context.Context, t task) taskResult {
	if t.members {
		return taskResult{task: t, err: j.syncMembers(ctx, t.dept)}
	}
	children, err := j.syncChildren(ctx, t.dept)
	return taskResult{task: t, children: children, err: err}
}

// unreadableError reports the departments a walk could not read after all its rounds.
type unreadableError struct {
	depts       []string // "Name (id)", in id order
	last        error    // the error of the last of them
	lost, total int      // tasks left failing, tasks known
	rootLost    bool     // the listing of the walk's own department failed: nothing below is known
	listingLost bool     // some listing failed: part of the subtree is unknown
	rounds      int
}

// maxNamedDepartments bounds how many unreadable departments the run's error names.
const maxNamedDepartments = 10

func (e *unreadableError) Error() string {
	named := e.depts
	more := ""
	if len(named) > maxNamedDepartments {
		more = fmt.Sprintf(" and %d more", len(named)-maxNamedDepartments)
		named = named[:maxNamedDepartments]
	}
	return fmt.Sprintf("%d of %d departments could not be read after %d attempts: %s%s; last error: %v",
		len(e.depts), e.total, e.rounds+1, strings.Join(named, ", "), more, e.last)
}

func (e *unreadableError) Unwrap() error { return e.last }

// departments is how many departments could not be read.
func (e *unreadableError) departments() int { return len(e.depts) }

// mostlyLost reports whether so little was read that DingTalk must be down rather than
// stubborn about a few departments: the run then counts as failed, not incomplete.
func (e *unreadableError) mostlyLost() bool {
	return e.rootLost || e.lost*2 > e.total
}

// unreadable builds the report of the tasks still failing.
func (j *job) unreadable(ctx context.Context, failing map[task]error, names map[int64]string) *unreadableError {
	tasks := make([]task, 0, len(failing))
	for t := range failing {
		tasks = append(tasks, t)
	}
	slices.SortFunc(tasks, func(a, b task) int {
		return cmp.Or(cmp.Compare(a.dept, b.dept), cmp.Compare(boolInt(a.members), boolInt(b.members)))
	})
	e := &unreadableError{lost: len(tasks), total: j.p.snapshot().UnitsTotal, rounds: j.rounds}
	var ids []int64
	for _, t := range tasks {
		e.last = failing[t]
		if !t.members {
			e.listingLost = true
			e.rootLost = e.rootLost || t.dept == j.dept
		}
		if len(ids) == 0 || ids[len(ids)-1] != t.dept {
			ids = append(ids, t.dept)
		}
	}
	for _, id := range ids {
		name, ok := names[id]
		if !ok {
			// The walk's own department is not in its listings; the root's row has just
			// been written, any other one by an earlier sync of its parent.
			if d, err := j.store.Department(ctx, id); err == nil {
				name, ok = d.Name, true
			}
		}
		if ok && name != "" {
			e.depts = append(e.depts, fmt.Sprintf("%s (%d)", name, id))
		} else {
			e.depts = append(e.depts, fmt.Sprintf("department %d", id))
		}
	}
	return e
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
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
// returns them.
func (j *job) syncChildren(ctx context.Context, parent int64) ([]models.Department, error) {
	listed, err := j.api.listSubDepartments(ctx, parent)
	if err != nil {
		return nil, fmt.Errorf("list sub-departments of %d: %w", parent, err)
	}
	depts := make([]models.Department, len(listed))
	for i, d := range listed {
		// listsub carries no order field but lists siblings in DingTalk's display
		// order, so the position is the order (department.get per department would
		// double the calls).
		depts[i] = models.Department{DeptID: d.ID, ParentID: parent, Name: d.Name, Order: int64(i)}
	}
	changed, err := j.store.UpsertDepartments(ctx, depts, j.now())
	if err != nil {
		return nil, err
	}
	j.p.update(func(r *models.SyncRun) { r.DepartmentsSeen += len(depts); r.DepartmentsChanged += changed })
	return depts, nil
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
					// says whether the member has activated DingTalk.
					Active: true, Activated: u.Active,
				})
			}
		}
		// Their search grams are written once the walk is over, in large batches.
		changed, err := j.store.UpsertDingTalkUsersIndexLater(ctx, fresh, j.now())
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
