package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"golang.org/x/crypto/bcrypt"

	"github.com/dingfluence/dingfluence/models"
)

// memUsers is an in-memory UserStore.
type memUsers struct {
	mu      sync.Mutex
	users   map[string]models.User
	audited []models.AuditEntry
}

func (m *memUsers) Audit(_ context.Context, e models.AuditEntry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.audited = append(m.audited, e)
	return nil
}

func (m *memUsers) UserByUsername(_ context.Context, username string) (models.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.users[username]
	if !ok {
		return models.User{}, models.ErrNotFound
	}
	return u, nil
}

func (m *memUsers) CreateUser(_ context.Context, u *models.User) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	u.ID = uint(len(m.users) + 1)
	m.users[u.Username] = *u
	return nil
}

func (m *memUsers) SetPasswordHash(_ context.Context, id uint, hash string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, u := range m.users {
		if u.ID == id {
			u.PasswordHash = hash
			m.users[name] = u
			return nil
		}
	}
	return models.ErrNotFound
}

func newTestService(t *testing.T) (*Service, *memUsers) {
	t.Helper()
	users := &memUsers{users: map[string]models.User{}}
	clock := clockwork.NewFakeClockAt(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	svc, err := NewService(users, NewThrottle(5, 30*time.Second, 0, clock), slog.New(slog.NewTextHandler(io.Discard, nil)), WithPasswordCost(bcrypt.MinCost))
	if err != nil {
		t.Fatal(err)
	}
	return svc, users
}

func TestEnsureAdmin(t *testing.T) {
	ctx := context.Background()
	svc, _ := newTestService(t)

	generated, err := svc.EnsureAdmin(ctx, "")
	if err != nil || len(generated) < 20 {
		t.Fatalf("first start: generated %q, %v; want a long random password", generated, err)
	}
	if _, err := svc.Authenticate(ctx, AdminUsername, generated, "10.0.0.1"); err != nil {
		t.Fatalf("the generated password does not sign in: %v", err)
	}
	again, err := svc.EnsureAdmin(ctx, "")
	if err != nil || again != "" {
		t.Fatalf("second start generated %q, %v; want nothing (shown once)", again, err)
	}
	if _, err := svc.Authenticate(ctx, AdminUsername, generated, "10.0.0.1"); err != nil {
		t.Fatalf("a restart changed the password: %v", err)
	}

	// A configured password resets it: the break-glass path.
	if out, err := svc.EnsureAdmin(ctx, "break-glass-password"); err != nil || out != "" {
		t.Fatalf("reset: %q, %v", out, err)
	}
	if _, err := svc.Authenticate(ctx, AdminUsername, "break-glass-password", "10.0.0.1"); err != nil {
		t.Fatalf("the configured password does not sign in: %v", err)
	}
	if _, err := svc.Authenticate(ctx, AdminUsername, generated, "10.0.0.1"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("the old password still signs in: %v", err)
	}
}

func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	svc, users := newTestService(t)
	hashBytes, err := bcrypt.GenerateFromPassword([]byte("right-password"), bcrypt.MinCost)
	hash := string(hashBytes)
	if err != nil {
		t.Fatal(err)
	}
	users.users["alice"] = models.User{ID: 10, Username: "alice", PasswordHash: hash, Enabled: true}
	users.users["bob"] = models.User{ID: 11, Username: "bob", PasswordHash: hash, Enabled: false}
	users.users["carol"] = models.User{ID: 12, Username: "carol", Enabled: true} // Confluence user: no local password

	tests := []struct {
		name, username, password string
		wantErr                  error
	}{
		{"right password", "alice", "right-password", nil},
		{"wrong password", "alice", "wrong", ErrInvalidCredentials},
		{"unknown user", "mallory", "right-password", ErrInvalidCredentials},
		{"disabled user", "bob", "right-password", ErrInvalidCredentials},
		{"user without a local password", "carol", "", ErrInvalidCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := svc.Authenticate(ctx, tt.username, tt.password, "10.0.0."+tt.username)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && u.Username != tt.username {
				t.Fatalf("signed in as %q", u.Username)
			}
		})
	}
}

// One address guessing across many usernames is stopped too, not only
// guesses at one account.
func TestAuthenticateThrottlesAnAddressAcrossUsernames(t *testing.T) {
	ctx := context.Background()
	svc, _ := newTestService(t)
	for i := range 5 {
		_, err := svc.Authenticate(ctx, "user"+strings.Repeat("x", i), "guess", "198.51.100.7")
		if !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
	var throttled *ThrottledError
	if _, err := svc.Authenticate(ctx, "someone-else", "guess", "198.51.100.7"); !errors.As(err, &throttled) {
		t.Fatalf("sixth guess from the same address: %v, want throttled", err)
	}
	if _, err := svc.Authenticate(ctx, "someone-else", "guess", "198.51.100.8"); errors.As(err, &throttled) {
		t.Fatal("another address is throttled too")
	}
}

// Guesses sent in parallel are counted before their passwords are checked:
// with a burst of 5, twenty at once let at most five reach bcrypt.
func TestParallelGuessesAreThrottledBeforeTheCompare(t *testing.T) {
	ctx := context.Background()
	svc, users := newTestService(t)
	hashBytes, err := bcrypt.GenerateFromPassword([]byte("right-password"), bcrypt.MinCost)
	hash := string(hashBytes)
	if err != nil {
		t.Fatal(err)
	}
	users.users["alice"] = models.User{ID: 10, Username: "alice", PasswordHash: hash, Enabled: true}

	// Each guess that reaches the compare says so and waits there, so every
	// guess is in flight together and none has failed yet.
	reached := make(chan struct{})
	release := make(chan struct{})
	svc.compare = func(h, p []byte) error {
		reached <- struct{}{}
		<-release
		return bcrypt.CompareHashAndPassword(h, p)
	}
	const guesses = 20
	results := make(chan error, guesses)
	for i := range guesses {
		go func() {
			_, err := svc.Authenticate(ctx, "alice", fmt.Sprintf("guess-%d", i), "198.51.100.20")
			results <- err
		}()
	}
	var atCompare, refused int
	var errs []error
	for atCompare+len(errs) < guesses {
		select {
		case <-reached:
			atCompare++
		case err := <-results:
			errs = append(errs, err)
		}
	}
	close(release)
	for len(errs) < guesses {
		errs = append(errs, <-results)
	}
	var throttled *ThrottledError
	for _, err := range errs {
		if errors.As(err, &throttled) {
			refused++
		}
	}
	if atCompare > 5 || refused != guesses-atCompare {
		t.Fatalf("%d guesses reached the password check and %d were throttled; want at most 5 checked, the rest throttled", atCompare, refused)
	}
}

// "Admin", "admin" and " ADMIN " are one account to the users table, so they
// are one throttle bucket too.
func TestUsernameCaseVariantsShareABucket(t *testing.T) {
	want := signInKeys("admin", "198.51.100.1")
	for _, variant := range []string{"Admin", "ADMIN", " admin ", "aDmIn\t"} {
		if got := signInKeys(variant, "198.51.100.1"); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("keys of %q = %q, want %q", variant, got, want)
		}
	}
	if fmt.Sprint(signInKeys("admin", "198.51.100.2")) == fmt.Sprint(want) {
		t.Error("another address shares the bucket")
	}
}

// A username no account can have is refused before the throttle and the
// password check: it is never stored, and costs no bcrypt.
func TestUnusableUsernamesAreRefusedFirst(t *testing.T) {
	ctx := context.Background()
	svc, _ := newTestService(t)
	var compares int
	svc.compare = func(h, p []byte) error { compares++; return bcrypt.ErrMismatchedHashAndPassword }
	tests := []struct {
		name     string
		username string
		want     error
	}{
		{"900 KB", strings.Repeat("a", 900<<10), ErrUsernameTooLong},
		{"256 characters", strings.Repeat("张", 256), ErrUsernameTooLong},
		{"invalid UTF-8", "adm\xffin", ErrUsernameNotUTF8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := svc.Authenticate(ctx, tt.username, "guess", "203.0.113.3"); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if compares != 0 || svc.throttle.Len() != 0 {
		t.Fatalf("%d bcrypt compares and %d throttle keys, want none", compares, svc.throttle.Len())
	}
	// 255 characters is a username like any other.
	if _, err := svc.Authenticate(ctx, strings.Repeat("张", 255), "guess", "203.0.113.3"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("255 characters: %v, want invalid credentials", err)
	}
}

// Sign-ins and failed sign-ins reach the audit log with the address and the
// method; a long attempted username is cut short there.
func TestAuthenticateAudits(t *testing.T) {
	ctx := context.Background()
	svc, users := newTestService(t)
	hashBytes, err := bcrypt.GenerateFromPassword([]byte("right-password"), bcrypt.MinCost)
	hash := string(hashBytes)
	if err != nil {
		t.Fatal(err)
	}
	users.users["alice"] = models.User{ID: 10, Username: "alice", PasswordHash: hash, Enabled: true}
	long := strings.Repeat("m", 200)
	if _, err := svc.Authenticate(ctx, long, "guess", "203.0.113.4"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, "alice", "right-password", "203.0.113.5"); err != nil {
		t.Fatal(err)
	}
	want := []models.AuditEntry{
		{Actor: strings.Repeat("m", auditUsernameMax-1) + "…", Action: models.ActionSignInFailed, Address: "203.0.113.4", Details: "method: password"},
		{Actor: "alice", Action: models.ActionSignIn, Address: "203.0.113.5", Details: "method: password"},
	}
	if fmt.Sprint(users.audited) != fmt.Sprint(want) {
		t.Fatalf("audited %+v\nwant %+v", users.audited, want)
	}
}

// A configured admin password shorter than MinPasswordLength is refused before anything
// is stored; length counts characters, not bytes.
func TestEnsureAdminRefusesShortPassword(t *testing.T) {
	tests := []struct {
		name     string
		password string
		wantErr  error
	}{
		{"five characters", "short", ErrPasswordTooShort},
		{"eleven characters", "abcdefghijk", ErrPasswordTooShort},
		{"eleven Chinese characters (33 bytes)", "一二三四五六七八九十百", ErrPasswordTooShort},
		{"twelve characters", "abcdefghijkl", nil},
		{"twelve Chinese characters", "一二三四五六七八九十百千", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, users := newTestService(t)
			_, err := svc.EnsureAdmin(context.Background(), tt.password)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("EnsureAdmin(%q) = %v, want %v", tt.password, err, tt.wantErr)
			}
			_, created := users.users[AdminUsername]
			if created != (tt.wantErr == nil) {
				t.Fatalf("admin account created = %v, want %v", created, tt.wantErr == nil)
			}
		})
	}
}

// Without WithPasswordCost the admin's password is hashed at bcrypt's default cost; the
// tests' lower cost is theirs alone.
func TestEnsureAdminHashesAtDefaultCost(t *testing.T) {
	users := &memUsers{users: map[string]models.User{}}
	clock := clockwork.NewFakeClockAt(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	svc, err := NewService(users, NewThrottle(5, 30*time.Second, 0, clock), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.EnsureAdmin(context.Background(), "a-long-enough-password"); err != nil {
		t.Fatal(err)
	}
	cost, err := bcrypt.Cost([]byte(users.users[AdminUsername].PasswordHash))
	if err != nil || cost != bcrypt.DefaultCost {
		t.Errorf("admin hash cost %d, %v; want %d", cost, err, bcrypt.DefaultCost)
	}
}
