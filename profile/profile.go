// Package profile is the Profile → DingTalk tab as a service: what a person's tab shows
// (their preferences, the DingTalk user they are matched to, or why there is none), and
// Save And Sync, which stores their preferences and resolves their DingTalk account on
// the spot with the matching engine.
//
// Every method takes the id of the user it concerns from the caller, never from a form:
// the handlers pass the signed-in user's own id to SaveAndSync, and only admins reach
// Tab for another id, read-only.
package profile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	"github.com/jonboulle/clockwork"

	"github.com/dingfluence/dingfluence/dingtalk"
	"github.com/dingfluence/dingfluence/locale"
	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/settings"
)

// Store is what the service reads and writes.
type Store interface {
	UserByID(ctx context.Context, id uint) (models.User, error)
	LoadSettings(ctx context.Context) (models.Settings, error)
	SetDingTalkPreferences(ctx context.Context, id uint, p models.DingTalkPreferences) error
	DingTalkUserByID(ctx context.Context, userID string) (models.DingTalkUser, error)
	Audit(ctx context.Context, e models.AuditEntry) error
}

// Matcher resolves one user now (matching.Engine implements it).
type Matcher interface {
	MatchUser(ctx context.Context, id uint) (models.UserMatch, error)
}

// DingTalkSource hands out the DingTalk client for the current settings, or an error
// that is settings.ErrNotConfigured while no DingTalk app is configured
// (settings.Service implements it).
type DingTalkSource interface {
	Client(ctx context.Context) (*dingtalk.Client, error)
}

// Service serves the DingTalk tab.
type Service struct {
	store    Store
	matcher  Matcher
	dingtalk DingTalkSource
	locales  *locale.Bundle
	clock    clockwork.Clock
	throttle Throttle
	baseURL  string
	logger   *slog.Logger
}

// New returns the service; opts.Locales is required.
func New(store Store, matcher Matcher, dingtalk DingTalkSource, opts Options) *Service {
	s := &Service{store: store, matcher: matcher, dingtalk: dingtalk, locales: opts.Locales, clock: opts.Clock,
		throttle: opts.Throttle, baseURL: strings.TrimRight(opts.BaseURL, "/"), logger: opts.Logger}
	if s.clock == nil {
		s.clock = clockwork.NewRealClock()
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	return s
}

// Tab is what a person's DingTalk tab shows.
type Tab struct {
	User models.User
	// GlobalMethod is the matching method of the Settings screen.
	GlobalMethod models.MatchingMethod
	// Method is the method in effect: the user's own, else the global one.
	Method models.MatchingMethod
	// DingTalk is the DingTalk user the person is matched to, nil when none. It comes
	// from the synced directory, or — right after Save And Sync found someone the
	// directory does not hold yet — from DingTalk itself (Live).
	DingTalk *models.DingTalkUser
	Live     bool
	// Configured is false while no DingTalk app is configured: there is nothing to
	// match against until an admin sets one up.
	Configured bool
}

// Input is what Save And Sync stores.
type Input struct {
	MatchingMethod   models.MatchingMethod
	Mobile           string
	NotifyEnabled    bool // receive notifications
	NotifyOwnChanges bool
}

// Field names a value of Input, as the form calls it.
type Field string

// Fields.
const (
	FieldMatchingMethod Field = "matchingMethod"
	FieldMobile         Field = "mobile"
)

// Code says what is wrong with a field.
type Code string

// Codes.
const (
	CodeRequired Code = "required" // a mobile method needs a mobile number
	CodeInvalid  Code = "invalid"  // not one of the allowed values, or not a phone number
)

// FieldError is one thing wrong with an Input.
type FieldError struct {
	Field Field
	Code  Code
}

// ValidationError lists everything wrong with an Input.
type ValidationError []FieldError

func (v ValidationError) Error() string {
	parts := make([]string, len(v))
	for i, e := range v {
		parts[i] = string(e.Field) + ": " + string(e.Code)
	}
	return "invalid DingTalk preferences: " + strings.Join(parts, ", ")
}

// mobilePattern is a phone number as DingTalk's user-by-mobile lookup takes it: digits,
// optionally after a "+country" prefix ("+86-13800000000", "+8613800000000"). 5 to 15
// digits after the prefix covers national numbers everywhere (E.164 allows 15 in all).
var mobilePattern = regexp.MustCompile(`^(\+[1-9][0-9]{0,3}-?)?[0-9]{5,15}$`)

// NormalizeMobile is the number as stored and looked up: trimmed, without the spaces
// people type between groups of digits.
func NormalizeMobile(s string) string {
	return strings.Join(strings.Fields(s), "")
}

// Validate reports everything wrong with in; in.Mobile is expected normalised.
func Validate(in Input) error {
	var errs ValidationError
	switch in.MatchingMethod {
	case models.MatchEmail, models.MatchJobNumber, models.MatchMobile:
	default:
		errs = append(errs, FieldError{FieldMatchingMethod, CodeInvalid})
	}
	switch {
	case in.Mobile == "" && in.MatchingMethod == models.MatchMobile:
		errs = append(errs, FieldError{FieldMobile, CodeRequired})
	case in.Mobile != "" && !mobilePattern.MatchString(in.Mobile):
		// Checked whatever the method, so a bad number is never stored for later.
		errs = append(errs, FieldError{FieldMobile, CodeInvalid})
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// Tab returns the DingTalk tab of user id, or models.ErrNotFound.
func (s *Service) Tab(ctx context.Context, id uint) (Tab, error) {
	u, err := s.store.UserByID(ctx, id)
	if err != nil {
		return Tab{}, fmt.Errorf("DingTalk tab of user %d: %w", id, err)
	}
	global, err := s.globalMethod(ctx)
	if err != nil {
		return Tab{}, fmt.Errorf("DingTalk tab of user %d: %w", id, err)
	}
	tab := Tab{User: u, GlobalMethod: global, Method: u.MatchingMethod, Configured: s.configured(ctx)}
	if tab.Method == "" {
		tab.Method = global
	}
	if u.MatchStatus == models.MatchMatched && u.DingTalkUserID != "" {
		dt, err := s.store.DingTalkUserByID(ctx, u.DingTalkUserID)
		switch {
		case err == nil:
			tab.DingTalk = &dt
		case errors.Is(err, models.ErrNotFound):
			// Found by mobile but not synced yet: the userid is all there is.
			tab.DingTalk = &models.DingTalkUser{UserID: u.DingTalkUserID}
		default:
			return Tab{}, fmt.Errorf("DingTalk tab of user %d: %w", id, err)
		}
	}
	return tab, nil
}

// SaveAndSync stores in as user id's preferences, matches the user at once (a mobile
// method asks DingTalk) and returns the tab as it now stands. An invalid in is refused
// with a ValidationError and nothing stored. A user without a method of their own who
// saves the global one keeps following the global one, so pressing Save And Sync to
// switch notifications off does not pin them to today's global method.
func (s *Service) SaveAndSync(ctx context.Context, id uint, in Input) (Tab, error) {
	in.Mobile = NormalizeMobile(in.Mobile)
	if err := Validate(in); err != nil {
		return Tab{}, err
	}
	u, err := s.store.UserByID(ctx, id)
	if err != nil {
		return Tab{}, fmt.Errorf("save DingTalk preferences of user %d: %w", id, err)
	}
	global, err := s.globalMethod(ctx)
	if err != nil {
		return Tab{}, fmt.Errorf("save DingTalk preferences of user %d: %w", id, err)
	}
	method := in.MatchingMethod
	if u.MatchingMethod == "" && method == global {
		method = ""
	}
	err = s.store.SetDingTalkPreferences(ctx, id, models.DingTalkPreferences{
		MatchingMethod: method, Mobile: in.Mobile, NotifyEnabled: in.NotifyEnabled, NotifyOwnChanges: in.NotifyOwnChanges,
	})
	if err != nil {
		return Tab{}, fmt.Errorf("save DingTalk preferences of user %d: %w", id, err)
	}
	if _, err := s.matcher.MatchUser(ctx, id); err != nil {
		return Tab{}, fmt.Errorf("sync DingTalk account of user %d: %w", id, err)
	}
	tab, err := s.Tab(ctx, id)
	if err != nil {
		return Tab{}, err
	}
	if tab.DingTalk != nil && tab.DingTalk.Name == "" {
		s.fillLive(ctx, &tab)
	}
	return tab, nil
}

// fillLive shows the details of a DingTalk user a mobile lookup just found but the
// directory does not hold yet, as DingTalk tells them; they are not stored (only the
// org sync writes the DingTalk tables). When DingTalk does not answer, the userid alone
// is shown.
func (s *Service) fillLive(ctx context.Context, tab *Tab) {
	client, err := s.dingtalk.Client(ctx)
	if err != nil {
		return
	}
	u, err := client.GetUser(ctx, tab.DingTalk.UserID)
	if err != nil {
		return
	}
	tab.DingTalk = &models.DingTalkUser{UserID: u.UserID, Name: u.Name, Email: u.Email, OrgEmail: u.OrgEmail,
		JobNumber: u.JobNumber, Mobile: u.Mobile, Title: u.Title, Active: true, Activated: u.Active}
	tab.Live = true
}

// globalMethod is the matching method of the Settings screen. A stored secret the
// current key cannot open does not matter here.
func (s *Service) globalMethod(ctx context.Context) (models.MatchingMethod, error) {
	set, err := s.store.LoadSettings(ctx)
	if err != nil && !errors.Is(err, models.ErrSecretUnreadable) {
		return "", err
	}
	if set.MatchingMethod == "" {
		return models.MatchEmail, nil
	}
	return set.MatchingMethod, nil
}

// configured reports whether a DingTalk app is configured. Any other failure to build a
// client (an unreadable secret, say) counts as configured: the lookup then reports it.
func (s *Service) configured(ctx context.Context) bool {
	_, err := s.dingtalk.Client(ctx)
	return !errors.Is(err, settings.ErrNotConfigured)
}
