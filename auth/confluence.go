package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/jonboulle/clockwork"
	"golang.org/x/oauth2"

	"github.com/dingfluence/dingfluence/confluence"
	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/settings"
)

// Sign-in methods of Confluence accounts, as the audit log names them.
const (
	MethodConfluenceOAuth    = "confluence-oauth"
	MethodConfluencePassword = "confluence-password"
)

// DefaultExchangeTimeout bounds the OAuth 2.0 code exchange with Confluence.
const DefaultExchangeTimeout = 15 * time.Second

// Failure says why signing in with a Confluence account failed, in terms the sign-in
// page can explain; the handler shows the message "login.confluence.<failure>".
type Failure string

// The failures a Confluence sign-in can end in (besides ErrInvalidCredentials).
const (
	// FailureNotConfigured: no Confluence (or no OAuth 2.0 client) is set up.
	FailureNotConfigured Failure = "notConfigured"
	// FailureState: the callback's state is not the one this browser's session holds
	// (replayed, from another browser, or the session expired).
	FailureState Failure = "state"
	// FailureDenied: the user declined on Confluence's consent page.
	FailureDenied Failure = "denied"
	// FailureUnreachable: Confluence did not answer, or answered that it is unavailable.
	FailureUnreachable Failure = "unreachable"
	// FailureMisconfigured: Confluence answered, but not as the set-up expects (the OAuth
	// client is refused, nothing at the base URL, the service token lacks rights).
	FailureMisconfigured Failure = "misconfigured"
	// FailureCodeRejected: Confluence refused the authorization code (expired, used, or
	// the PKCE verifier did not match); starting again helps.
	FailureCodeRejected Failure = "codeRejected"
	// FailureDeactivated: the Confluence account is deactivated.
	FailureDeactivated Failure = "deactivated"
	// FailureLocalAccount: a local account (such as admin) holds the Confluence username.
	FailureLocalAccount Failure = "localAccount"
	// FailureNoUserKey: Confluence sent the user without a user key, the app's identity.
	FailureNoUserKey Failure = "noUserKey"
)

// checked reports whether Confluence judged the credential before the sign-in failed
// (so the attempt counts towards the throttle), rather than not being asked or not
// answering.
func (f Failure) checked() bool {
	switch f {
	case FailureDeactivated, FailureLocalAccount, FailureNoUserKey:
		return true
	}
	return false
}

// ConfluenceError is a Confluence sign-in that failed for Failure; Err is the cause, for
// the log (it never carries a credential).
type ConfluenceError struct {
	Failure Failure
	Err     error
}

func (e *ConfluenceError) Error() string {
	return fmt.Sprintf("confluence sign-in: %s: %v", e.Failure, e.Err)
}

func (e *ConfluenceError) Unwrap() error { return e.Err }

func failed(f Failure, err error) error { return &ConfluenceError{Failure: f, Err: err} }

// ConfluenceSettings hands out what signing in with Confluence needs; *settings.Confluence
// implements it.
type ConfluenceSettings interface {
	SignIn(ctx context.Context) (settings.SignIn, error)
}

// ConfluenceUserStore is what Confluence sign-in needs from the database.
type ConfluenceUserStore interface {
	SaveSignedInConfluenceUser(ctx context.Context, a models.ConfluenceAccount, now time.Time) (models.User, error)
	Audit(ctx context.Context, e models.AuditEntry) error
}

// ConfluenceOptions tunes a Confluence; zero fields take the defaults.
type ConfluenceOptions struct {
	Clock clockwork.Clock // nil → the real clock
	// HTTPClient makes the OAuth 2.0 code exchange; nil → a client with
	// DefaultExchangeTimeout, so a hanging token endpoint cannot hold a sign-in.
	HTTPClient *http.Client
	Logger     *slog.Logger // nil → slog.Default()
}

// Confluence signs Confluence accounts in: through Confluence's OAuth 2.0 provider, or
// with a username and password or personal access token checked live. Credentials and
// access tokens are used for the checks of one sign-in and never stored or logged.
type Confluence struct {
	settings ConfluenceSettings
	users    ConfluenceUserStore
	clock    clockwork.Clock
	http     *http.Client
	logger   *slog.Logger
}

// NewConfluence builds Confluence sign-in.
func NewConfluence(set ConfluenceSettings, users ConfluenceUserStore, opts ConfluenceOptions) *Confluence {
	c := &Confluence{settings: set, users: users, clock: opts.Clock, http: opts.HTTPClient, logger: opts.Logger}
	if c.clock == nil {
		c.clock = clockwork.NewRealClock()
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: DefaultExchangeTimeout}
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	return c
}

// Offered says which Confluence sign-ins the sign-in page can offer.
type Offered struct {
	// Password: a Confluence is configured, so its usernames with a password or personal
	// access token are accepted.
	Password bool
	// OAuth: it has an OAuth 2.0 client too, so "Sign in with Confluence" is shown.
	OAuth bool
}

// Offered reports which Confluence sign-ins are configured.
func (c *Confluence) Offered(ctx context.Context) Offered {
	in, err := c.settings.SignIn(ctx)
	if err != nil {
		if !errors.Is(err, settings.ErrConfluenceNotConfigured) {
			c.logger.WarnContext(ctx, "confluence sign-in: read settings", slog.Any("error", err))
		}
		return Offered{}
	}
	return Offered{Password: true, OAuth: in.OAuth != nil}
}

// OAuthStart is a started authorization: the browser goes to URL; State and Verifier
// must be kept in the browser's session (never sent anywhere else) for the callback.
type OAuthStart struct {
	URL      string
	State    string
	Verifier string
}

// BeginOAuth starts the authorization code flow with PKCE (S256) and a fresh one-time
// state.
func (c *Confluence) BeginOAuth(ctx context.Context) (OAuthStart, error) {
	in, err := c.signIn(ctx)
	if err != nil {
		return OAuthStart{}, err
	}
	if in.OAuth == nil {
		return OAuthStart{}, failed(FailureNotConfigured, errors.New("no OAuth 2.0 client is configured"))
	}
	st := OAuthStart{State: rand.Text(), Verifier: oauth2.GenerateVerifier()}
	st.URL = in.OAuth.AuthCodeURL(st.State, oauth2.S256ChallengeOption(st.Verifier))
	return st, nil
}

// OAuthCallback is what came back to the redirect URL, with what the session kept.
type OAuthCallback struct {
	// WantState and Verifier are the session's, from BeginOAuth ("" when it has none).
	WantState string
	Verifier  string
	// State, Code, Error and ErrorDescription are the callback's query parameters.
	State            string
	Code             string
	Error            string
	ErrorDescription string
}

// CompleteOAuth finishes the authorization: it checks the state, exchanges the code
// (with the PKCE verifier) for an access token, reads the user with it, drops it and
// signs the user in.
func (c *Confluence) CompleteOAuth(ctx context.Context, cb OAuthCallback, clientIP string) (models.User, error) {
	u, err := c.completeOAuth(ctx, cb)
	c.record(ctx, MethodConfluenceOAuth, "", clientIP, u, err)
	return u, err
}

func (c *Confluence) completeOAuth(ctx context.Context, cb OAuthCallback) (models.User, error) {
	// The state is compared before anything else: a callback this browser did not start
	// (login CSRF, a replayed URL) must not even reach Confluence.
	if cb.WantState == "" || subtle.ConstantTimeCompare([]byte(cb.State), []byte(cb.WantState)) != 1 {
		return models.User{}, failed(FailureState, errors.New("state does not match the session's"))
	}
	switch {
	case cb.Error == "access_denied":
		return models.User{}, failed(FailureDenied, errors.New("the user declined access"))
	case cb.Error != "":
		return models.User{}, failed(FailureMisconfigured, fmt.Errorf("authorize answered %s: %s", cb.Error, cb.ErrorDescription))
	case cb.Code == "":
		return models.User{}, failed(FailureCodeRejected, errors.New("callback without a code"))
	}
	in, err := c.signIn(ctx)
	if err != nil {
		return models.User{}, err
	}
	if in.OAuth == nil {
		return models.User{}, failed(FailureNotConfigured, errors.New("the OAuth 2.0 client was removed"))
	}
	tok, err := in.OAuth.Exchange(context.WithValue(ctx, oauth2.HTTPClient, c.http), cb.Code, oauth2.VerifierOption(cb.Verifier))
	if err != nil {
		return models.User{}, exchangeFailure(err)
	}
	// The access token lives only in this client, for the two reads below.
	user := in.Client.WithCredential(confluence.BearerToken(tok.AccessToken))
	cu, err := user.CurrentUser(ctx)
	if err != nil {
		if confluence.IsUnauthorized(err) {
			// A token refused right after it was issued: the account was deactivated
			// meanwhile, or Confluence does not honour its own tokens (set-up).
			return models.User{}, failed(FailureMisconfigured, err)
		}
		return models.User{}, confluenceFailure(err)
	}
	return c.save(ctx, in, user, cu)
}

// exchangeFailure says what a failed code exchange means.
func exchangeFailure(err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		// No answer at all, or one that was not a token (a login or proxy page).
		var ue *url.Error
		if errors.As(err, &ue) {
			return failed(FailureUnreachable, err)
		}
		return failed(FailureMisconfigured, err)
	}
	status := 0
	if re.Response != nil {
		status = re.Response.StatusCode
	}
	// RetrieveError's text holds the answer body, which carries no token; keep only the
	// code and status all the same.
	cause := fmt.Errorf("token endpoint answered HTTP %d %s", status, re.ErrorCode)
	switch {
	case re.ErrorCode == "invalid_grant":
		return failed(FailureCodeRejected, cause)
	case status >= 500 || status == http.StatusTooManyRequests:
		return failed(FailureUnreachable, cause)
	}
	// invalid_client (wrong secret), unauthorized_client, a 404 at the URL, ...
	return failed(FailureMisconfigured, cause)
}

// confluenceFailure says what a failed REST call during sign-in means.
func confluenceFailure(err error) error {
	status := confluence.StatusCode(err)
	switch {
	case errors.Is(err, confluence.ErrNoUserKey):
		return failed(FailureNoUserKey, err)
	case confluence.IsUnreachable(err), status >= 500, status == http.StatusTooManyRequests:
		return failed(FailureUnreachable, err)
	}
	return failed(FailureMisconfigured, err)
}

// signIn reads the sign-in settings, mapping "not configured" to its failure.
func (c *Confluence) signIn(ctx context.Context) (settings.SignIn, error) {
	in, err := c.settings.SignIn(ctx)
	switch {
	case errors.Is(err, settings.ErrConfluenceNotConfigured):
		return settings.SignIn{}, failed(FailureNotConfigured, err)
	case err != nil:
		return settings.SignIn{}, fmt.Errorf("confluence sign-in: read settings: %w", err)
	}
	return in, nil
}

// errConfluenceOff is checkPassword's answer when no Confluence is configured: the
// username is then simply unknown.
var errConfluenceOff = errors.New("confluence is not configured")

// checkPassword signs username in with secret, a Confluence password or personal access
// token, checked live against /rest/api/user/current. Data Center takes a password as
// Basic and a personal access token only as Bearer (confluence-api.md §4.3); a secret
// shaped like a token is tried as Bearer first, so a token never counts as a failed
// password login at Confluence (which would bring up its CAPTCHA). A token must belong
// to username.
func (c *Confluence) checkPassword(ctx context.Context, username, secret string) (models.User, error) {
	in, err := c.settings.SignIn(ctx)
	switch {
	case errors.Is(err, settings.ErrConfluenceNotConfigured):
		return models.User{}, errConfluenceOff
	case err != nil:
		return models.User{}, fmt.Errorf("confluence sign-in: read settings: %w", err)
	}
	if secret == "" {
		return models.User{}, ErrInvalidCredentials
	}
	creds := []confluence.Credential{confluence.BasicAuth(username, secret)}
	if looksLikeToken(secret) {
		creds = []confluence.Credential{confluence.BearerToken(secret), confluence.BasicAuth(username, secret)}
	}
	for _, cred := range creds {
		user := in.Client.WithCredential(cred)
		cu, err := user.CurrentUser(ctx)
		switch {
		case confluence.IsUnauthorized(err):
			continue
		case err != nil:
			return models.User{}, confluenceFailure(err)
		case cred.Kind() == confluence.AuthBearer && models.FoldCase(cu.Username) != models.FoldCase(username):
			// Someone else's token: not a credential of the account named.
			return models.User{}, ErrInvalidCredentials
		}
		return c.save(ctx, in, user, cu)
	}
	return models.User{}, ErrInvalidCredentials
}

// looksLikeToken reports whether secret has the shape of a Data Center personal access
// token: a long run of base64 characters (tokens are 44). A password of that shape is
// tried as a token first and then as a password.
func looksLikeToken(secret string) bool {
	if len(secret) < 32 || len(secret) > 256 {
		return false
	}
	for _, r := range secret {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '+', r == '/', r == '=', r == '-', r == '_':
		default:
			return false
		}
	}
	return true
}

// save refuses a deactivated account, works out admin rights from the admin group (asked
// with the service account when there is one, else with the user's own credential) and
// writes the user row.
func (c *Confluence) save(ctx context.Context, in settings.SignIn, user *confluence.Client, cu confluence.User) (models.User, error) {
	if !cu.Active {
		return models.User{}, failed(FailureDeactivated, fmt.Errorf("user %q is deactivated", cu.Username))
	}
	isAdmin := false
	if in.AdminGroup != "" {
		asker := in.Service
		if asker == nil {
			asker = user
		}
		member, err := asker.GroupsOfUserKey(ctx, cu.Key)
		if err != nil {
			// Admin rights are decided afresh at every sign-in; without an answer the
			// sign-in fails rather than keep or drop them on a guess.
			return models.User{}, confluenceFailure(fmt.Errorf("groups of %q: %w", cu.Username, err))
		}
		isAdmin = hasGroup(member, in.AdminGroup)
	}
	u, err := c.users.SaveSignedInConfluenceUser(ctx, models.ConfluenceAccount{
		UserKey: cu.Key, Username: cu.Username, DisplayName: cu.DisplayName, Email: cu.Email, Active: cu.Active, IsAdmin: isAdmin,
	}, c.clock.Now())
	switch {
	case errors.Is(err, models.ErrUsernameIsLocal):
		return models.User{}, failed(FailureLocalAccount, fmt.Errorf("username %q: %w", cu.Username, err))
	case err != nil:
		return models.User{}, err
	}
	return u, nil
}

func hasGroup(groups []confluence.Group, name string) bool {
	for _, g := range groups {
		if models.FoldCase(g.Name) == models.FoldCase(name) {
			return true
		}
	}
	return false
}

// record logs and audits the outcome of a Confluence sign-in. attempted is the username
// typed, "" for OAuth.
func (c *Confluence) record(ctx context.Context, method, attempted, clientIP string, u models.User, err error) {
	if err == nil {
		c.audit(ctx, models.AuditEntry{Actor: u.Username, Action: models.ActionSignIn, Address: clientIP, Details: "method: " + method})
		return
	}
	reason := "invalid credentials"
	var ce *ConfluenceError
	switch {
	case errors.As(err, &ce):
		reason = string(ce.Failure)
	case !errors.Is(err, ErrInvalidCredentials):
		reason = "error"
	}
	c.logger.WarnContext(ctx, "failed sign-in", slog.String("method", method), slog.String("reason", reason),
		slog.String("username", models.TruncateRunes(attempted, auditUsernameMax)), slog.String("ip", clientIP), slog.Any("error", err))
	c.audit(ctx, models.AuditEntry{Actor: models.TruncateRunes(attempted, auditUsernameMax), Action: models.ActionSignInFailed,
		Address: clientIP, Details: "method: " + method + "; reason: " + reason})
}

func (c *Confluence) audit(ctx context.Context, e models.AuditEntry) {
	if err := c.users.Audit(ctx, e); err != nil {
		c.logger.ErrorContext(ctx, "sign-in: write audit entry", slog.String("action", string(e.Action)), slog.Any("error", err))
	}
}
