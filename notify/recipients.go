package notify

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/dingfluence/dingfluence/confluence"
	"github.com/dingfluence/dingfluence/models"
)

// groupListingThreshold: when more candidates than this need their groups known, the
// members of the few groups that matter are listed once instead of asking Confluence
// for each user's groups (10,000 watchers in confluence-users: 50 calls, not 10,000).
const groupListingThreshold = 100

// candidate is one watcher, de-duplicated by userKey, with what dingfluence knows of them.
type candidate struct {
	watcher confluence.User
	user    models.User
	known   bool
}

// verdict is what became of one watcher.
type verdict struct {
	outcome models.RecipientOutcome
	detail  string
}

// uniqueWatchers lists every watcher once by userKey, page watchers first.
func uniqueWatchers(w confluence.Watchers) []confluence.User {
	seen := make(map[string]struct{}, len(w.Page)+len(w.Space))
	out := make([]confluence.User, 0, len(w.Page)+len(w.Space))
	for _, list := range [][]confluence.User{w.Page, w.Space} {
		for _, u := range list {
			if _, dup := seen[u.Key]; dup || u.Key == "" {
				continue
			}
			seen[u.Key] = struct{}{}
			out = append(out, u)
		}
	}
	return out
}

// cheapVerdict applies the checks that need no Confluence call, cheapest first; ok is
// false when the watcher passed them all and the view right decides.
func cheapVerdict(c candidate, actorKey string) (verdict, bool) {
	u := c.user
	switch {
	case !c.known:
		return verdict{models.RecipientUnknown, models.RecipientDetail(models.DetailNotInApp, "")}, true
	case actorKey != "" && c.watcher.Key == actorKey && !u.NotifyOwnChanges:
		return verdict{models.RecipientOwnEdit, models.RecipientDetail(models.DetailOwnEdit, "")}, true
	case !u.Active:
		return verdict{models.RecipientDisabled, models.RecipientDetail(models.DetailInactive, "")}, true
	case !u.NotifyEnabled:
		return verdict{models.RecipientDisabled, models.RecipientDetail(models.DetailNotifyOff, "")}, true
	case u.DingTalkUserID == "" || u.MatchStatus != models.MatchMatched:
		return verdict{models.RecipientUnmatched, models.RecipientDetail(models.DetailUnmatched, string(u.MatchStatus))}, true
	}
	return verdict{}, false
}

// viewCheck decides who may view one piece of content: the view restrictions of it and
// of every ancestor, and the space's View permission where Confluence exposes it (9.1+).
// Group memberships are asked of Confluence only for users a decision depends on, once
// per user (or once per group, see groupListingThreshold). Whatever cannot be learned
// makes the users it concerns undecided: nobody is notified on a guess.
type viewCheck struct {
	client *confluence.Client
	ct     confluence.Content

	restrictions confluence.ViewRestrictions
	restrErr     error
	space        confluence.SpaceViewers
	spaceKnown   bool // false: the server has no space permission resource (before 9.1)
	spaceErr     error

	groupsOf  map[string][]string // userKey → groups (lower case)
	groupErrs map[string]error    // userKey → why its groups are unknown
}

// newViewCheck reads the restrictions and the space permission once.
func newViewCheck(ctx context.Context, client *confluence.Client, ct confluence.Content) *viewCheck {
	v := &viewCheck{client: client, ct: ct, groupsOf: map[string][]string{}, groupErrs: map[string]error{}}
	v.restrictions, v.restrErr = client.ViewRestrictions(ctx, ct)
	if v.restrErr != nil || ct.Space.Key == "" {
		return v
	}
	sp, err := client.SpaceViewPermission(ctx, ct.Space.Key)
	switch {
	case confluence.IsNotFound(err):
		// Before 9.1 the permission cannot be read; Confluence enforces it on the
		// watcher itself (nobody watches a space they cannot see for long), so the
		// restrictions decide alone, as the design allows.
	case err != nil:
		v.spaceErr = err
	default:
		v.space, v.spaceKnown = sp, true
	}
	return v
}

// relevantGroups are the groups any decision can depend on.
func (v *viewCheck) relevantGroups() []string {
	var gs []string
	for _, r := range v.restrictions {
		gs = append(gs, r.Groups...)
	}
	if v.spaceKnown {
		gs = append(gs, v.space.Groups...)
	}
	slices.Sort(gs)
	return slices.Compact(gs)
}

// needsGroups reports whether key's groups are needed: some level lets it in only
// through a group.
func (v *viewCheck) needsGroups(key string) bool {
	for _, r := range v.restrictions {
		if !r.Permits(key, nil) && len(r.Groups) > 0 {
			return true
		}
	}
	return v.spaceKnown && !v.space.Permits(key, nil) && len(v.space.Groups) > 0
}

// loadGroups learns the groups of every key that needs them: per user through
// /rest/api/user/memberof, or, for many users, by listing the relevant groups' members.
func (v *viewCheck) loadGroups(ctx context.Context, keys []string) {
	var need []string
	for _, k := range keys {
		if _, done := v.groupsOf[k]; !done && v.needsGroups(k) {
			need = append(need, k)
		}
	}
	if len(need) == 0 {
		return
	}
	if len(need) <= groupListingThreshold {
		for _, k := range need {
			groups, err := v.client.GroupsOfUserKey(ctx, k)
			if err != nil {
				v.groupErrs[k] = err
				continue
			}
			names := make([]string, len(groups))
			for i, g := range groups {
				names[i] = strings.ToLower(g.Name)
			}
			v.groupsOf[k] = names
		}
		return
	}
	wanted := make(map[string]bool, len(need))
	for _, k := range need {
		wanted[k] = true
		v.groupsOf[k] = []string{}
	}
	for _, g := range v.relevantGroups() {
		err := v.client.GroupMemberPages(ctx, g, func(page []confluence.User) error {
			for _, u := range page {
				if wanted[u.Key] {
					v.groupsOf[u.Key] = append(v.groupsOf[u.Key], g)
				}
			}
			return nil
		})
		if confluence.IsNotFound(err) {
			continue // a restriction may name a group deleted since: nobody is in it
		}
		if err != nil {
			for _, k := range need {
				v.groupErrs[k] = fmt.Errorf("members of group %s: %w", g, err)
			}
			return
		}
	}
}

// decide says whether key may view the content.
func (v *viewCheck) decide(key string) verdict {
	if v.restrErr != nil {
		return verdict{models.RecipientUndecided, models.RecipientDetail(models.DetailRestrictionsErr, v.restrErr.Error())}
	}
	if v.spaceErr != nil {
		return verdict{models.RecipientUndecided, models.RecipientDetail(models.DetailSpacePermErr, v.spaceErr.Error())}
	}
	var groups []string
	if v.needsGroups(key) {
		if err := v.groupErrs[key]; err != nil {
			return verdict{models.RecipientUndecided, models.RecipientDetail(models.DetailGroupsErr, err.Error())}
		}
		groups = v.groupsOf[key]
	}
	if v.spaceKnown && !v.space.Permits(key, groups) {
		return verdict{models.RecipientNoView, models.RecipientDetail(models.DetailNoSpaceView, v.ct.Space.Key)}
	}
	for _, r := range v.restrictions {
		if !r.Permits(key, groups) {
			if r.ContentID != v.ct.ID {
				return verdict{models.RecipientNoView, models.RecipientDetail(models.DetailRestrictedAnc, r.ContentID)}
			}
			return verdict{models.RecipientNoView, models.RecipientDetail(models.DetailRestrictedPage, "")}
		}
	}
	return verdict{models.RecipientSent, ""}
}

// recipientPlan is who gets the notification and why everyone else does not.
type recipientPlan struct {
	watchers []confluence.User
	verdicts []verdict // parallel to watchers
	users    []models.User
}

// planRecipients decides every watcher of ct. actorKey is the editor of the latest
// version. Only a database failure is an error; Confluence failures on the permission
// calls make the watchers they concern undecided.
func planRecipients(ctx context.Context, store EventStore, client *confluence.Client, ct confluence.Content, w confluence.Watchers, actorKey string) (recipientPlan, error) {
	watchers := uniqueWatchers(w)
	keys := make([]string, len(watchers))
	for i, u := range watchers {
		keys[i] = u.Key
	}
	users, err := store.UsersByUserKeys(ctx, keys)
	if err != nil {
		return recipientPlan{}, err
	}
	plan := recipientPlan{watchers: watchers, verdicts: make([]verdict, len(watchers)), users: make([]models.User, len(watchers))}
	var open []int // watchers whose view right decides
	for i, wu := range watchers {
		u, known := users[wu.Key]
		plan.users[i] = u
		if vd, done := cheapVerdict(candidate{watcher: wu, user: u, known: known}, actorKey); done {
			plan.verdicts[i] = vd
			continue
		}
		open = append(open, i)
	}
	if len(open) == 0 {
		return plan, nil
	}
	check := newViewCheck(ctx, client, ct)
	if check.restrErr == nil && check.spaceErr == nil {
		openKeys := make([]string, len(open))
		for j, i := range open {
			openKeys[j] = watchers[i].Key
		}
		check.loadGroups(ctx, openKeys)
	}
	for _, i := range open {
		plan.verdicts[i] = check.decide(watchers[i].Key)
	}
	return plan, nil
}
