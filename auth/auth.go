// Package auth checks local sign-ins: the built-in admin account used for
// first set-up and break-glass access, password hashing, and throttling of
// failed attempts.
package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/dingfluence/dingfluence/models"
)

// AdminUsername is the local break-glass account created on first start.
const AdminUsername = "admin"

// MinPasswordLength is the fewest characters a configured admin password may have.
const MinPasswordLength = 12

// ErrPasswordTooShort is returned for a configured admin password shorter than
// MinPasswordLength.
var ErrPasswordTooShort = fmt.Errorf("the admin password must be at least %d characters long", MinPasswordLength)

// ErrInvalidCredentials is returned for an unknown user or a wrong password;
// the two are not told apart so usernames cannot be probed.
var ErrInvalidCredentials = errors.New("invalid username or password")

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
}

// Service signs local users in.
type Service struct {
	users    UserStore
	throttle *Throttle
	logger   *slog.Logger
	// dummyHash is compared against when the user does not exist, so an
	// unknown username costs as much time as a wrong password.
	dummyHash []byte
}

// NewService builds the sign-in service.
func NewService(users UserStore, throttle *Throttle, logger *slog.Logger) (*Service, error) {
	dummy, err := bcrypt.GenerateFromPassword([]byte("dingfluence-timing-equaliser"), bcrypt.DefaultCost)
	if err != nil {
		return nil, fmt.Errorf("prepare dummy hash: %w", err)
	}
	return &Service{users: users, throttle: throttle, logger: logger, dummyHash: dummy}, nil
}

// HashPassword returns a bcrypt hash of password.
func HashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// Authenticate returns the enabled local user with this username and
// password. Failures are throttled per username and address, so an attacker
// cannot lock the real user out from elsewhere, and per address, so one
// address cannot spray guesses across many usernames.
func (s *Service) Authenticate(ctx context.Context, username, password, clientIP string) (models.User, error) {
	keys := []string{"user:" + username + "|ip:" + clientIP, "ip:" + clientIP}
	if wait := s.throttle.Wait(keys...); wait > 0 {
		return models.User{}, &ThrottledError{RetryAfter: wait}
	}
	u, err := s.users.UserByUsername(ctx, username)
	switch {
	case errors.Is(err, models.ErrNotFound):
		_ = bcrypt.CompareHashAndPassword(s.dummyHash, []byte(password))
		s.throttle.Fail(keys...)
		return models.User{}, ErrInvalidCredentials
	case err != nil:
		return models.User{}, fmt.Errorf("look up user %q: %w", username, err)
	}
	if u.PasswordHash == "" || !u.Enabled {
		_ = bcrypt.CompareHashAndPassword(s.dummyHash, []byte(password))
		s.throttle.Fail(keys...)
		return models.User{}, ErrInvalidCredentials
	}
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)) != nil {
		s.throttle.Fail(keys...)
		s.logger.WarnContext(ctx, "failed sign-in", slog.String("username", username), slog.String("ip", clientIP))
		return models.User{}, ErrInvalidCredentials
	}
	s.throttle.Reset(keys[0])
	return u, nil
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
	hash, err := HashPassword(password)
	if err != nil {
		return "", err
	}
	if exists {
		if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)) == nil {
			return "", nil
		}
		if err := s.users.SetPasswordHash(ctx, u.ID, hash); err != nil {
			return "", fmt.Errorf("reset admin password: %w", err)
		}
		return "", nil
	}
	admin := &models.User{Username: AdminUsername, DisplayName: "Administrator", PasswordHash: hash, IsAdmin: true, Enabled: true}
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
