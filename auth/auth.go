// Package auth signs people in: the built-in local admin account used for first set-up
// and break-glass access (password hashing), Confluence accounts (through Confluence's
// OAuth 2.0 provider, or a password or personal access token checked live), and the
// throttling of failed attempts.
package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/dingfluence/dingfluence/models"
)

// AdminUsername is the local break-glass account created on first start.
const AdminUsername = "admin"

// AdminDisplayName is the name the local admin account is created with; the
// screens show it translated.
const AdminDisplayName = "Administrator"

// MinPasswordLength is the fewest characters a configured admin password may have.
const MinPasswordLength = 12

// ErrPasswordTooShort is returned for a configured admin password shorter than
// MinPasswordLength.
var ErrPasswordTooShort = fmt.Errorf("the admin password must be at least %d characters long", MinPasswordLength)

// ErrInvalidCredentials is returned for an unknown user or a wrong password;
// the two are not told apart so usernames cannot be probed.
var ErrInvalidCredentials = errors.New("invalid username or password")

// Usernames that are refused before anything is looked up or throttled: the
// users table could not hold them, so no account has them.
var (
	// ErrUsernameTooLong is a username longer than models.UsernameMax characters.
	ErrUsernameTooLong = errors.New("username too long")
	// ErrUsernameNotUTF8 is a username that is not valid UTF-8 text.
	ErrUsernameNotUTF8 = errors.New("username is not valid UTF-8")
)

// MethodPassword is the sign-in method of a local username and password, as the
// audit log names it.
const MethodPassword = "password"

// auditUsernameMax is how much of a username attempted at sign-in the audit
// log keeps; enough to recognise it, not enough to flood the log.
const auditUsernameMax = 64

// ThrottledError says sign-in is refused until RetryAfter has passed.
type ThrottledError struct{ RetryAfter time.Duration }

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed sign-in attempts; retry in %s", e.RetryAfter.Round(time.Second))
}

// UserStore is what the service needs from the database.
type UserStore interface {
	UserByUsername(ctx context.Context, username string) (models.User, error)
	CreateUser(ctx context.Context, u *models.User) error
	SetPasswordHash(ctx context.Context, id uint, hash string) error
	Audit(ctx context.Context, e models.AuditEntry) error
}

// Service signs users in with a username and password: local accounts, and, with
// WithConfluence, Confluence accounts checked live.
type Service struct {
	users    UserStore
	throttle *Throttle
	logger   *slog.Logger
	// confluence checks usernames no local account holds; nil → local accounts only.
	confluence *Confluence
	// dummyHash is compared against when the user does not exist, so an
	// unknown username costs as much time as a wrong password.
	dummyHash []byte
	// compare checks a password against a hash: bcrypt, swapped in tests to
	// count the guesses that reach it.
	compare func(hash, password []byte) error
	// cost is the bcrypt cost of the hashes this service makes.
	cost int
}

// Option configures a Service.
type Option func(*Service)

// WithConfluence lets the sign-in form take Confluence usernames with their password or
// personal access token, through the same throttle as local accounts.
func WithConfluence(c *Confluence) Option {
	return func(s *Service) { s.confluence = c }
}

// WithPasswordCost sets the bcrypt cost of the hashes the service makes (default
// bcrypt.DefaultCost). Tests lower it: under the race detector one hash at the default
// cost takes a second or more, and the suite makes hundreds.
func WithPasswordCost(cost int) Option {
	return func(s *Service) { s.cost = cost }
}

// NewService builds the sign-in service.
func NewService(users UserStore, throttle *Throttle, logger *slog.Logger, opts ...Option) (*Service, error) {
	s := &Service{users: users, throttle: throttle, logger: logger, compare: bcrypt.CompareHashAndPassword, cost: bcrypt.DefaultCost}
	for _, o := range opts {
		o(s)
	}
	// The dummy has the cost of real hashes, or an unknown username would answer faster.
	dummy, err := bcrypt.GenerateFromPassword([]byte("dingfluence-timing-equaliser"), s.cost)
	if err != nil {
		return nil, fmt.Errorf("prepare dummy hash: %w", err)
	}
	s.dummyHash = dummy
	return s, nil
}

// CheckUsername refuses a username no account can have: longer than the
// users column or not valid UTF-8.
func CheckUsername(username string) error {
	switch {
	case !utf8.ValidString(username):
		return ErrUsernameNotUTF8
	case utf8.RuneCountInString(username) > models.UsernameMax:
		return ErrUsernameTooLong
	}
	return nil
}

// signInKeys are the throttle keys of one attempt: per username and address,
// and per address. Usernames are compared case-insensitively (as the users
// table does), so "Admin" and "admin " share a bucket.
func signInKeys(username, clientIP string) []string {
	user := strings.ToLower(strings.TrimSpace(username))
	return []string{"user:" + user + "|ip:" + clientIP, "ip:" + clientIP}
}

// Authenticate returns the user with this username and password: the enabled local
// account of that name, else (WithConfluence) the Confluence account, whose password or
// personal access token Confluence checks. A local account takes precedence for its own
// username, so Confluence is never asked about "admin". Attempts are throttled per
// username and address, so an attacker cannot lock the real user out from elsewhere, and
// per address, so one address cannot spray guesses across many usernames; the attempt is
// taken before any check (a bcrypt compare or a call to Confluence). Sign-ins and failed
// sign-ins are written to the audit log.
func (s *Service) Authenticate(ctx context.Context, username, password, clientIP string) (models.User, error) {
	if err := CheckUsername(username); err != nil {
		return models.User{}, err
	}
	keys := signInKeys(username, clientIP)
	if wait := s.throttle.Take(keys...); wait > 0 {
		return models.User{}, &ThrottledError{RetryAfter: wait}
	}
	u, method, err := s.check(ctx, username, password)
	var ce *ConfluenceError
	switch {
	case method != MethodPassword && err != nil:
		s.confluence.record(ctx, method, username, clientIP, u, err)
		if !errors.Is(err, ErrInvalidCredentials) && (!errors.As(err, &ce) || !ce.Failure.checked()) {
			// Confluence was not asked, or could not say: the attempt does not count.
			s.throttle.Refund(keys...)
		}
		return models.User{}, err
	case errors.Is(err, ErrInvalidCredentials):
		s.logger.WarnContext(ctx, "failed sign-in", slog.String("username", models.TruncateRunes(username, auditUsernameMax)), slog.String("ip", clientIP))
		s.audit(ctx, models.AuditEntry{Actor: models.TruncateRunes(username, auditUsernameMax), Action: models.ActionSignInFailed, Address: clientIP, Details: "method: " + MethodPassword})
		return models.User{}, err
	case err != nil:
		// Nothing was checked, so the attempt does not count.
		s.throttle.Refund(keys...)
		return models.User{}, err
	}
	s.throttle.Reset(keys[0])
	s.throttle.Refund(keys[1:]...)
	if method != MethodPassword {
		s.confluence.record(ctx, method, username, clientIP, u, nil)
		return u, nil
	}
	s.audit(ctx, models.AuditEntry{Actor: u.Username, Action: models.ActionSignIn, Address: clientIP, Details: "method: " + MethodPassword})
	return u, nil
}

// check verifies username and password against the local account of that name, or,
// when none holds it, against Confluence; method says which was asked.
func (s *Service) check(ctx context.Context, username, password string) (models.User, string, error) {
	if s.confluence == nil {
		u, err := s.checkPassword(ctx, username, password)
		return u, MethodPassword, err
	}
	local, err := s.users.UserByUsername(ctx, username)
	switch {
	case err == nil && local.UserKey == nil:
		u, err := s.checkPassword(ctx, username, password)
		return u, MethodPassword, err
	case err != nil && !errors.Is(err, models.ErrNotFound):
		return models.User{}, MethodPassword, fmt.Errorf("look up user %q: %w", username, err)
	}
	u, err := s.confluence.checkPassword(ctx, username, password)
	if errors.Is(err, errConfluenceOff) {
		// Without Confluence the name is simply unknown; it costs what a local refusal does.
		_ = s.compare(s.dummyHash, []byte(password))
		return models.User{}, MethodPassword, ErrInvalidCredentials
	}
	return u, MethodConfluencePassword, err
}

// checkPassword returns the enabled local user whose password this is, or
// ErrInvalidCredentials. Every refusal costs one bcrypt compare.
func (s *Service) checkPassword(ctx context.Context, username, password string) (models.User, error) {
	u, err := s.users.UserByUsername(ctx, username)
	switch {
	case errors.Is(err, models.ErrNotFound):
		_ = s.compare(s.dummyHash, []byte(password))
		return models.User{}, ErrInvalidCredentials
	case err != nil:
		return models.User{}, fmt.Errorf("look up user %q: %w", username, err)
	}
	if u.PasswordHash == "" || !u.Enabled || u.UserKey != nil {
		_ = s.compare(s.dummyHash, []byte(password))
		return models.User{}, ErrInvalidCredentials
	}
	if s.compare([]byte(u.PasswordHash), []byte(password)) != nil {
		return models.User{}, ErrInvalidCredentials
	}
	return u, nil
}

// audit records e; a sign-in is not refused because the audit log could not
// be written, but the failure is logged.
func (s *Service) audit(ctx context.Context, e models.AuditEntry) {
	if err := s.users.Audit(ctx, e); err != nil {
		s.logger.ErrorContext(ctx, "sign-in: write audit entry", slog.String("action", string(e.Action)), slog.Any("error", err))
	}
}

// EnsureAdmin makes sure the local admin account exists. With a configured
// password it (re)sets the admin's password to it, which doubles as the
// break-glass reset. Without one, a random password is generated on first
// start only and returned so the caller can show it once. A configured password shorter
// than MinPasswordLength is refused with ErrPasswordTooShort: this account can change
// every setting, and its password is the one guessed at from anywhere.
func (s *Service) EnsureAdmin(ctx context.Context, configuredPassword string) (generated string, err error) {
	if configuredPassword != "" && utf8.RuneCountInString(configuredPassword) < MinPasswordLength {
		return "", ErrPasswordTooShort
	}
	u, err := s.users.UserByUsername(ctx, AdminUsername)
	if err != nil && !errors.Is(err, models.ErrNotFound) {
		return "", fmt.Errorf("look up admin: %w", err)
	}
	exists := err == nil
	if exists && configuredPassword == "" {
		return "", nil
	}
	password := configuredPassword
	if password == "" {
		password, err = randomPassword()
		if err != nil {
			return "", err
		}
		generated = password
	}
	if exists && bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)) == nil {
		return "", nil
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), s.cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	hash := string(h)
	if exists {
		if err := s.users.SetPasswordHash(ctx, u.ID, hash); err != nil {
			return "", fmt.Errorf("reset admin password: %w", err)
		}
		return "", nil
	}
	admin := &models.User{Username: AdminUsername, DisplayName: AdminDisplayName, PasswordHash: hash, IsAdmin: true, Enabled: true}
	if err := s.users.CreateUser(ctx, admin); err != nil {
		return "", fmt.Errorf("create admin: %w", err)
	}
	return generated, nil
}

func randomPassword() (string, error) {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate admin password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
