// Package matching is the one matching engine: it resolves a Confluence user to a
// DingTalk userid by the user's own method, else the global one, and records the result
// on the user — the DingTalk userid, or why there is none — for the profile's Save And
// Sync, for notifications, and after each org sync and directory sync.
//
// # Rules
//
// E-mail: the Confluence e-mail (trimmed) equals a DingTalk user's email or org_email.
// Job number: the Confluence username equals a DingTalk user's job_number. Both compare
// ignoring ASCII case, as Confluence usernames and e-mail addresses are case-insensitive
// and SQLite's NOCASE folds ASCII only: the same pair matches on both databases.
//
// Only DingTalk users still in the organisation (dingtalk_users.active) are candidates;
// one who left matches nobody, and a user matched to them becomes unmatched at the next
// match. Members who have not activated DingTalk yet do match: they are in the
// organisation and will read the notification once they activate.
//
// Two or more DingTalk users with the same e-mail or job number make the match
// ambiguous; the engine never guesses.
//
// Mobile: MatchUser asks DingTalk's user-by-mobile API with the number the user entered
// and stores the userid it answers. MatchAll, the bulk re-match, never calls DingTalk —
// that would be a call per user on every sync — so for a mobile-method user it keeps the
// result of the last lookup, unless the DingTalk user it found has since left (then:
// unmatched, "dingtalk_user_left"), the number was removed ("no_mobile"), or no lookup
// was ever made by mobile ("mobile_not_looked_up", resolved by Save And Sync).
//
// A failed lookup (DingTalk unreachable, or an error other than "no such user") is stored
// as status error with DingTalk's errcode and errmsg, and clears the userid: the engine
// does not know who the user is. A lookup that could not be made because no DingTalk app
// is configured (settings.ErrNotConfigured) is an error too, "dingtalk_not_configured".
//
// Results are written only when they change, so a MatchAll over unchanged data writes
// nothing; MatchedAt is when the current result was first reached.
package matching

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/dingfluence/dingfluence/dingtalk"
	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/settings"
)

// DingTalkSource hands out the DingTalk client for the current settings
// (settings.Service implements it). Only MatchUser's mobile lookups use it.
type DingTalkSource interface {
	Client(ctx context.Context) (*dingtalk.Client, error)
}

// Result is a user's match result as stored.
type Result = models.UserMatch

// Summary counts what MatchAll did.
type Summary struct {
	Users   int // users considered
	Written int // users whose result changed and was written
	// Outcomes after the run, by status.
	Matched, Unmatched, Ambiguous, Errors int
}

// Engine matches Confluence users to DingTalk users. It is safe for concurrent use.
type Engine struct {
	store    *models.Store
	dingtalk DingTalkSource
	clock    clockwork.Clock
}

// New returns an Engine on store that looks mobiles up through dingtalk; a nil clock is
// the real one.
func New(store *models.Store, dingtalk DingTalkSource, clock clockwork.Clock) *Engine {
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	return &Engine{store: store, dingtalk: dingtalk, clock: clock}
}

// now is the clock at the precision both databases store.
func (e *Engine) now() time.Time { return e.clock.Now().UTC().Truncate(time.Millisecond) }

// MatchUser re-resolves user id now (a mobile method asks DingTalk live), stores the
// result if it changed, and returns it. The error reports only a database failure or an
// unknown user; a failed DingTalk lookup is a result with status error.
func (e *Engine) MatchUser(ctx context.Context, id uint) (Result, error) {
	u, err := e.store.UserForMatchingByID(ctx, id)
	if err != nil {
		return Result{}, fmt.Errorf("match user %d: %w", id, err)
	}
	global, err := e.globalMethod(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("match user %d: %w", id, err)
	}
	method := effectiveMethod(u.MatchingMethod, global)
	var r Result
	switch method {
	case models.MatchMobile:
		r = e.lookupMobile(ctx, u.Mobile)
	case models.MatchJobNumber:
		var cands []models.DingTalkIdentity
		if strings.TrimSpace(u.Username) != "" {
			if cands, err = e.store.ActiveDingTalkUsersWithJobNumber(ctx, strings.TrimSpace(u.Username)); err != nil {
				return Result{}, fmt.Errorf("match user %d: %w", id, err)
			}
		}
		r = byJobNumber(u, newIndex(cands))
	default:
		var cands []models.DingTalkIdentity
		if strings.TrimSpace(u.Email) != "" {
			if cands, err = e.store.ActiveDingTalkUsersWithEmail(ctx, strings.TrimSpace(u.Email)); err != nil {
				return Result{}, fmt.Errorf("match user %d: %w", id, err)
			}
		}
		r = byEmail(u, newIndex(cands))
	}
	r.Method = method
	r, changed := e.settle(u.Current, r)
	if changed {
		if _, err := e.store.SaveUserMatches(ctx, []models.UserMatchUpdate{{ID: u.ID, Match: r}}, e.now()); err != nil {
			return Result{}, fmt.Errorf("match user %d: %w", id, err)
		}
	}
	return r, nil
}

// MatchAll re-matches every user from the stored DingTalk data in one pass: both sides
// are read once, results computed in memory, and only the changed ones written, a batch
// per statement. Mobile-method users keep their last lookup (see the package doc).
func (e *Engine) MatchAll(ctx context.Context) (Summary, error) {
	var sum Summary
	err := e.store.InTx(ctx, func(tx *models.Store) error {
		sum = Summary{}
		global, err := loadGlobalMethod(ctx, tx)
		if err != nil {
			return err
		}
		users, err := tx.UsersForMatching(ctx)
		if err != nil {
			return err
		}
		ids, err := tx.ActiveDingTalkIdentities(ctx)
		if err != nil {
			return err
		}
		idx := newIndex(ids)
		var updates []models.UserMatchUpdate
		for _, u := range users {
			method := effectiveMethod(u.MatchingMethod, global)
			var r Result
			switch method {
			case models.MatchMobile:
				r = keptMobile(u, idx.active)
			case models.MatchJobNumber:
				r = byJobNumber(u, idx)
			default:
				r = byEmail(u, idx)
			}
			r.Method = method
			r, changed := e.settle(u.Current, r)
			if changed {
				updates = append(updates, models.UserMatchUpdate{ID: u.ID, Match: r})
			}
			sum.count(r.Status)
		}
		sum.Users = len(users)
		sum.Written, err = tx.SaveUserMatches(ctx, updates, e.now())
		return err
	})
	if err != nil {
		return Summary{}, fmt.Errorf("match all users: %w", err)
	}
	return sum, nil
}

func (s *Summary) count(st models.MatchStatus) {
	switch st {
	case models.MatchMatched:
		s.Matched++
	case models.MatchAmbiguous:
		s.Ambiguous++
	case models.MatchError:
		s.Errors++
	default:
		s.Unmatched++
	}
}

// settle keeps the stored MatchedAt when r says the same as cur, and otherwise stamps r
// now; changed reports whether r must be written.
func (e *Engine) settle(cur, r Result) (Result, bool) {
	if cur.SameOutcome(r) && cur.MatchedAt != nil {
		r.MatchedAt = cur.MatchedAt
		return r, false
	}
	now := e.now()
	r.MatchedAt = &now
	return r, true
}

func (e *Engine) globalMethod(ctx context.Context) (models.MatchingMethod, error) {
	return loadGlobalMethod(ctx, e.store)
}

// loadGlobalMethod reads the global method. An unreadable app secret does not matter
// here: LoadSettings still returns the method with it.
func loadGlobalMethod(ctx context.Context, s *models.Store) (models.MatchingMethod, error) {
	set, err := s.LoadSettings(ctx)
	if err != nil && !errors.Is(err, models.ErrSecretUnreadable) {
		return "", err
	}
	return set.MatchingMethod, nil
}

// effectiveMethod is the user's own method if they chose a known one, else the global
// one, else e-mail (the default setting).
func effectiveMethod(own, global models.MatchingMethod) models.MatchingMethod {
	for _, m := range []models.MatchingMethod{own, global} {
		switch m {
		case models.MatchEmail, models.MatchJobNumber, models.MatchMobile:
			return m
		}
	}
	return models.MatchEmail
}

// index finds active DingTalk users by folded e-mail (email or org_email) and job number.
type index struct {
	email  map[string][]string // folded e-mail → distinct userids
	job    map[string][]string // folded job number → distinct userids
	active map[string]bool     // userids of active DingTalk users
}

func newIndex(ids []models.DingTalkIdentity) index {
	idx := index{
		email:  make(map[string][]string, len(ids)),
		job:    make(map[string][]string, len(ids)),
		active: make(map[string]bool, len(ids)),
	}
	add := func(m map[string][]string, raw, userID string) {
		// DingTalk's values are compared as stored, untrimmed, as the database compares
		// them; an empty one identifies nobody.
		k := models.FoldCase(raw)
		if k != "" && !slices.Contains(m[k], userID) {
			m[k] = append(m[k], userID)
		}
	}
	for _, d := range ids {
		idx.active[d.UserID] = true
		add(idx.email, d.Email, d.UserID)
		add(idx.email, d.OrgEmail, d.UserID)
		add(idx.job, d.JobNumber, d.UserID)
	}
	return idx
}

// byEmail matches u's e-mail against idx.
func byEmail(u models.UserForMatching, idx index) Result {
	email := strings.TrimSpace(u.Email)
	if email == "" {
		return unmatched(models.MatchReason{Code: models.ReasonNoEmail})
	}
	return pick(idx.email[models.FoldCase(email)], email, models.ReasonEmailNotFound, models.ReasonEmailAmbiguous)
}

// byJobNumber matches u's username against idx's job numbers.
func byJobNumber(u models.UserForMatching, idx index) Result {
	name := strings.TrimSpace(u.Username)
	if name == "" {
		return unmatched(models.MatchReason{Code: models.ReasonJobNumberNotFound})
	}
	return pick(idx.job[models.FoldCase(name)], name, models.ReasonJobNumberNotFound, models.ReasonJobNumberAmbiguous)
}

func pick(hits []string, value string, none, many models.MatchReasonCode) Result {
	switch len(hits) {
	case 0:
		return unmatched(models.MatchReason{Code: none, Value: value})
	case 1:
		return Result{Status: models.MatchMatched, DingTalkUserID: hits[0]}
	}
	return Result{Status: models.MatchAmbiguous, Reason: models.MatchReason{Code: many, Value: value, Count: len(hits)}}
}

func unmatched(r models.MatchReason) Result {
	return Result{Status: models.MatchUnmatched, Reason: r}
}

// keptMobile is the bulk result for a mobile-method user: the last lookup's, unless it
// no longer holds.
func keptMobile(u models.UserForMatching, active map[string]bool) Result {
	cur := u.Current
	mobile := strings.TrimSpace(u.Mobile)
	switch {
	case mobile == "":
		return unmatched(models.MatchReason{Code: models.ReasonNoMobile})
	case cur.Method != models.MatchMobile || cur.Status == models.MatchPending:
		return unmatched(models.MatchReason{Code: models.ReasonMobileNotLookedUp, Value: mobile})
	case cur.Status == models.MatchMatched && !active[cur.DingTalkUserID]:
		return unmatched(models.MatchReason{Code: models.ReasonDingTalkUserLeft, Value: cur.DingTalkUserID})
	}
	return Result{Status: cur.Status, Reason: cur.Reason, DingTalkUserID: cur.DingTalkUserID}
}

// lookupMobile asks DingTalk for the user with this mobile number.
func (e *Engine) lookupMobile(ctx context.Context, mobile string) Result {
	mobile = strings.TrimSpace(mobile)
	if mobile == "" {
		return unmatched(models.MatchReason{Code: models.ReasonNoMobile})
	}
	var userID string
	client, err := e.dingtalk.Client(ctx)
	if err == nil {
		userID, err = client.GetUserIDByMobile(ctx, mobile)
	}
	var de *dingtalk.Error
	switch {
	case errors.Is(err, settings.ErrNotConfigured):
		// Not DingTalk's answer, so not worded as one: the screens say what to do.
		return Result{Status: models.MatchError, Reason: models.MatchReason{Code: models.ReasonDingTalkNotConfigured, Value: mobile}}
	case err == nil && userID != "":
		return Result{Status: models.MatchMatched, DingTalkUserID: userID}
	case err == nil:
		return unmatched(models.MatchReason{Code: models.ReasonMobileNotFound, Value: mobile})
	case dingtalk.IsNotFound(err) && errors.As(err, &de):
		return unmatched(models.MatchReason{Code: models.ReasonMobileNotFound, Value: mobile, Errcode: de.Code, Errmsg: de.Errmsg})
	case errors.As(err, &de):
		return Result{Status: models.MatchError, Reason: models.MatchReason{
			Code: models.ReasonDingTalkError, Value: mobile, Errcode: de.Code, Errmsg: de.Errmsg}}
	}
	return Result{Status: models.MatchError, Reason: models.MatchReason{
		Code: models.ReasonDingTalkError, Value: mobile, Errmsg: truncate(err.Error(), 255)}}
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}
