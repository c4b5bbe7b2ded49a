package settings

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/dingfluence/dingfluence/confluence"
	"github.com/dingfluence/dingfluence/models"
)

// ConfluenceCheck is what a Confluence connection test uses, as entered on the screen and
// not saved: an empty Token means the stored one.
type ConfluenceCheck struct {
	BaseURL    string
	Token      string
	AdminGroup string
	UserGroup  string
}

// ConfluenceProblem is what stopped a Confluence connection test before Confluence was asked.
type ConfluenceProblem string

// The problems a Confluence connection test can report.
const (
	ConfluenceProblemBadBaseURL ConfluenceProblem = "bad_base_url"
	ConfluenceProblemNoToken    ConfluenceProblem = "no_token"
	// ConfluenceProblemTokenUnreadable: a token is stored but the current key cannot open it.
	ConfluenceProblemTokenUnreadable ConfluenceProblem = "token_unreadable"
	// ConfluenceProblemTokenOtherOrigin: the stored token would go to an origin it was not
	// saved for; the token has to be typed.
	ConfluenceProblemTokenOtherOrigin ConfluenceProblem = "token_other_origin"
)

// ConfluenceAnswer is Confluence's refusal of one call: its HTTP status and message.
// The zero value means the call succeeded (or was not made).
type ConfluenceAnswer struct {
	Status  int
	Message string
	// Unreachable: no HTTP answer at all (refused connection, DNS, timeout, not JSON);
	// Message says why.
	Unreachable bool
}

// Failed reports whether the call did not succeed.
func (a ConfluenceAnswer) Failed() bool { return a.Status != 0 || a.Unreachable }

// ConfluenceTestResult is the outcome of a Confluence connection test.
type ConfluenceTestResult struct {
	// Problem stopped the test before Confluence was asked; "" when none. ProblemField
	// is the field it is about.
	Problem      ConfluenceProblem
	ProblemField Field
	// CurrentUser is how Confluence answered "who is this token"; when it succeeded,
	// Username and DisplayName are the account.
	CurrentUser ConfluenceAnswer
	Username    string
	DisplayName string
	// AdminGroup was checked: Admin says whether the account belongs to it; AdminCheck
	// is Confluence's refusal when the account's groups could not be read.
	AdminGroup string
	Admin      bool
	AdminCheck ConfluenceAnswer
	// UserGroup's members were listed (first page only): MemberList is Confluence's
	// refusal when they could not be, e.g. 403 for an account that is not an administrator.
	UserGroup  string
	MemberList ConfluenceAnswer
}

// OK reports whether the token works and the account can do all the app needs.
func (r ConfluenceTestResult) OK() bool {
	return r.Problem == "" && !r.CurrentUser.Failed() && r.Admin && !r.AdminCheck.Failed() && !r.MemberList.Failed()
}

// details is how the audit log records the outcome: the host and how it went, never the token.
func (r ConfluenceTestResult) details(baseURL string) string {
	host := ""
	if u, err := url.Parse(baseURL); err == nil && u.Host != "" {
		host = " (" + u.Host + ")"
	}
	switch {
	case r.Problem != "":
		return "not run: " + string(r.Problem) + host
	case r.CurrentUser.Unreachable:
		return "failed: Confluence unreachable" + host
	case r.CurrentUser.Failed():
		return fmt.Sprintf("failed: HTTP %d%s", r.CurrentUser.Status, host)
	case r.OK():
		return "succeeded: administrator, can list group members" + host
	}
	var parts []string
	if !r.Admin {
		parts = append(parts, "not in the admin group")
	}
	if r.AdminCheck.Failed() {
		parts = append(parts, fmt.Sprintf("groups unreadable (HTTP %d)", r.AdminCheck.Status))
	}
	if r.MemberList.Failed() {
		parts = append(parts, fmt.Sprintf("cannot list group members (HTTP %d)", r.MemberList.Status))
	}
	return "signed in, but " + strings.Join(parts, ", ") + host
}

// errFirstPage stops a member listing after its first page: the test only asks whether
// listing is allowed.
var errFirstPage = errors.New("first page read")

// TestConnection checks check without saving it, on behalf of actor, and writes the
// outcome to the audit log: it asks Confluence whom the token belongs to, whether that
// account is in the admin group, and whether it may list the user group's members (which
// the directory sync and the watcher listing need). With Token empty the stored token is
// used, but only for a base URL with the saved base URL's scheme, host and port: the
// token is never sent to an origin it was not saved for. Confluence's refusals are in
// the result; err is only for what kept the test from running (the database).
func (s *Confluence) TestConnection(ctx context.Context, check ConfluenceCheck, actor string) (ConfluenceTestResult, error) {
	baseURL := strings.TrimRight(strings.TrimSpace(check.BaseURL), "/")
	res, err := s.testConnection(ctx, check, baseURL)
	if err != nil {
		return res, err
	}
	entry := models.AuditEntry{Actor: actor, Action: models.ActionConfluenceTest, Details: res.details(baseURL)}
	if err := s.store.Audit(ctx, entry); err != nil {
		// The test has happened; its answer is still worth showing.
		s.logger.ErrorContext(ctx, "confluence test connection: write audit entry", slog.Any("error", err))
	}
	return res, nil
}

func (s *Confluence) testConnection(ctx context.Context, check ConfluenceCheck, baseURL string) (ConfluenceTestResult, error) {
	res := ConfluenceTestResult{
		AdminGroup: strings.TrimSpace(check.AdminGroup),
		UserGroup:  strings.TrimSpace(check.UserGroup),
	}
	if res.AdminGroup == "" {
		res.AdminGroup = models.DefaultConfluenceAdminGroup
	}
	if res.UserGroup == "" {
		res.UserGroup = models.DefaultConfluenceUserGroup
	}
	cfg := confluence.Config{BaseURL: baseURL}
	if s.options != nil {
		s.options(&cfg)
	}
	// A connection test should answer at once, not retry for a minute; one member is
	// enough to know whether listing is allowed.
	cfg.MaxRetries, cfg.PageSize = -1, 1
	client, err := confluence.New(cfg)
	if baseURL == "" || err != nil {
		res.Problem, res.ProblemField = ConfluenceProblemBadBaseURL, FieldConfluenceBaseURL
		return res, nil
	}
	token := strings.TrimSpace(check.Token)
	if token == "" {
		stored, err := s.store.LoadConfluenceSettings(ctx)
		switch {
		case err != nil && !errors.Is(err, models.ErrSecretUnreadable):
			return res, fmt.Errorf("load stored token: %w", err)
		case !stored.HasToken && stored.TokenSealed != "":
			res.Problem, res.ProblemField = ConfluenceProblemTokenUnreadable, FieldServiceToken
			return res, nil
		case !stored.HasToken:
			res.Problem, res.ProblemField = ConfluenceProblemNoToken, FieldServiceToken
			return res, nil
		case !sameOrigin(baseURL, stored.BaseURL):
			res.Problem, res.ProblemField = ConfluenceProblemTokenOtherOrigin, FieldServiceToken
			return res, nil
		}
		token = stored.Token
	}
	client = client.WithCredential(confluence.BearerToken(token))

	me, err := client.CurrentUser(ctx)
	if res.CurrentUser = answerOf(err); res.CurrentUser.Failed() {
		return res, nil
	}
	res.Username, res.DisplayName = me.Username, me.DisplayName
	res.Admin, err = client.IsMemberOf(ctx, me.Username, res.AdminGroup)
	res.AdminCheck = answerOf(err)
	err = client.GroupMemberPages(ctx, res.UserGroup, func([]confluence.User) error { return errFirstPage })
	if errors.Is(err, errFirstPage) {
		err = nil
	}
	res.MemberList = answerOf(err)
	return res, nil
}

// answerOf turns a client error into Confluence's status and message, or "unreachable"
// with the reason when Confluence gave no HTTP answer.
func answerOf(err error) ConfluenceAnswer {
	if err == nil {
		return ConfluenceAnswer{}
	}
	var cfErr *confluence.Error
	if errors.As(err, &cfErr) {
		return ConfluenceAnswer{Status: cfErr.Status, Message: cfErr.Message}
	}
	return ConfluenceAnswer{Unreachable: true, Message: err.Error()}
}
