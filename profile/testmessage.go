package profile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/dingfluence/dingfluence/dingtalk"
	"github.com/dingfluence/dingfluence/locale"
	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/notify"
	"github.com/dingfluence/dingfluence/settings"
)

// TestOutcome is what a Send test message press came to.
type TestOutcome string

// Send test message outcomes. Only TestSent, TestRefused, TestOutcomeUnknown and
// TestUnreachable asked DingTalk anything.
const (
	TestSent           TestOutcome = "sent"           // DingTalk took the task: TaskID
	TestRefused        TestOutcome = "refused"        // DingTalk answered an errcode: Errcode, Errmsg
	TestOutcomeUnknown TestOutcome = "unknown"        // the send may or may not have been taken
	TestUnreachable    TestOutcome = "unreachable"    // nothing was taken: Reason says why
	TestUnmatched      TestOutcome = "unmatched"      // the user has no DingTalk match to send to
	TestNotConfigured  TestOutcome = "not_configured" // no DingTalk app is configured
	TestTooSoon        TestOutcome = "too_soon"       // pressed again too quickly: RetryAfter
)

// TestResult is the answer to Send test message.
type TestResult struct {
	Outcome TestOutcome
	// UserID is the DingTalk userid the message went (or would have gone) to.
	UserID string
	TaskID int64
	// Errcode (normalised) and Errmsg are DingTalk's, for TestRefused.
	Errcode int
	Errmsg  string
	// Reason is the network's error, for TestUnreachable.
	Reason string
	// RetryAfter is how long to wait, for TestTooSoon.
	RetryAfter time.Duration
	// SentAt is the time the sample carries.
	SentAt time.Time
}

// Throttle limits how often one key may do something: Take returns zero and counts the
// attempt, or how long to wait (auth.Throttle implements it).
type Throttle interface {
	Take(keys ...string) time.Duration
}

// SendTestMessage sends a sample card to user id's own DingTalk account — the userid
// they are matched to, never one from a request — in the language their notifications
// use, and reports DingTalk's answer. It goes through the rate-limited client like every
// send, synchronously, and is written to the audit log with its outcome.
//
// The sample carries the time it is sent: DingTalk drops a message identical to one the
// same person got that day, so a second test with a fixed text would report success and
// never arrive.
func (s *Service) SendTestMessage(ctx context.Context, id uint) (TestResult, error) {
	u, err := s.store.UserByID(ctx, id)
	if err != nil {
		return TestResult{}, fmt.Errorf("test message for user %d: %w", id, err)
	}
	res, err := s.sendTestMessage(ctx, u)
	if err != nil {
		return TestResult{}, fmt.Errorf("test message for user %d: %w", id, err)
	}
	if res.Outcome != TestTooSoon {
		entry := models.AuditEntry{Actor: u.Username, Action: models.ActionTestMessage, Details: res.details()}
		if err := s.store.Audit(ctx, entry); err != nil {
			// The message is sent (or not); the answer is still worth showing.
			s.logger.ErrorContext(ctx, "test message: write audit entry", slog.Any("error", err))
		}
	}
	return res, nil
}

func (s *Service) sendTestMessage(ctx context.Context, u models.User) (TestResult, error) {
	client, err := s.dingtalk.Client(ctx)
	if errors.Is(err, settings.ErrNotConfigured) {
		return TestResult{Outcome: TestNotConfigured}, nil
	}
	if err != nil {
		return TestResult{}, err
	}
	if u.MatchStatus != models.MatchMatched || u.DingTalkUserID == "" {
		return TestResult{Outcome: TestUnmatched}, nil
	}
	res := TestResult{UserID: u.DingTalkUserID}
	if s.throttle != nil {
		if wait := s.throttle.Take("test-message:" + strconv.FormatUint(uint64(u.ID), 10)); wait > 0 {
			res.Outcome, res.RetryAfter = TestTooSoon, wait
			return res, nil
		}
	}
	res.SentAt = s.clock.Now().UTC()
	// The language the person's page notifications use, so the sample looks like them.
	l := s.locales.Localizer(s.locales.Match(u.Locale, ""))
	msg, err := notify.ComposeMessage(l, sampleNotice(l, u, res.SentAt, s.baseURL))
	if err != nil {
		return TestResult{}, fmt.Errorf("compose the sample: %w", err)
	}
	taskID, err := client.SendWorkNotification(ctx, []string{u.DingTalkUserID}, msg)
	var dtErr *dingtalk.Error
	switch {
	case err == nil:
		res.Outcome, res.TaskID = TestSent, taskID
	case errors.Is(err, dingtalk.ErrOutcomeUnknown):
		res.Outcome = TestOutcomeUnknown
	case errors.As(err, &dtErr):
		res.Outcome, res.Errcode, res.Errmsg = TestRefused, dtErr.Code, dtErr.Errmsg
	case ctx.Err() != nil:
		return TestResult{}, err
	default:
		// Refused before DingTalk took anything: the connection, an IP ban, retries
		// used up on a busy DingTalk.
		res.Outcome, res.Reason = TestUnreachable, err.Error()
	}
	return res, nil
}

// sampleNotice is the notice the test card shows: labelled a test, stamped with at, by
// u, its button leading back to the DingTalk tab.
func sampleNotice(l *locale.Localizer, u models.User, at time.Time, baseURL string) notify.Notice {
	stamp := at.Format("2006-01-02 15:04:05 UTC")
	name := u.DisplayName
	if name == "" {
		name = u.Username
	}
	return notify.Notice{
		Title:          l.T("profile.test.sampleTitle", map[string]any{"Time": stamp}),
		SpaceName:      l.T("profile.test.sampleSpace"),
		Version:        1,
		VersionMessage: l.T("profile.test.sampleComment", map[string]any{"Time": stamp}),
		ActorName:      name,
		Edits:          1,
		WebURL:         baseURL + "/profile/dingtalk",
	}
}

// details is the audit log's line for r: the outcome, the userid, DingTalk's task id or
// errcode; never a secret (DingTalk's answers carry none).
func (r TestResult) details() string {
	var b strings.Builder
	switch r.Outcome {
	case TestSent:
		fmt.Fprintf(&b, "sent to %s: task_id %d", r.UserID, r.TaskID)
	case TestRefused:
		fmt.Fprintf(&b, "refused by DingTalk for %s: errcode %d: %s", r.UserID, r.Errcode, r.Errmsg)
	case TestOutcomeUnknown:
		fmt.Fprintf(&b, "outcome unknown for %s", r.UserID)
	case TestUnreachable:
		fmt.Fprintf(&b, "not sent to %s: DingTalk unreachable", r.UserID)
	case TestUnmatched:
		b.WriteString("not sent: no DingTalk match")
	case TestNotConfigured:
		b.WriteString("not sent: DingTalk is not configured")
	}
	return b.String()
}

// Options are the Service's parts for Send test message.
type Options struct {
	// Locales composes the test message in the language of the user's notifications.
	Locales *locale.Bundle
	// Clock stamps the test message; nil → the real clock.
	Clock clockwork.Clock
	// Throttle guards Send test message against rapid repeats; nil → no guard.
	Throttle Throttle
	// BaseURL is the app's public URL, where the test card's button leads.
	BaseURL string
	// Logger receives what cannot be shown (a failed audit write); nil → slog.Default().
	Logger *slog.Logger
}
