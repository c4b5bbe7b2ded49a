package settings

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"golang.org/x/oauth2"

	"github.com/dingfluence/dingfluence/confluence"
	"github.com/dingfluence/dingfluence/models"
)

// ErrConfluenceNotConfigured is returned by the Confluence clients before a base URL
// (and, for the service client, a service token) was saved.
var ErrConfluenceNotConfigured = errors.New("confluence is not configured")

// The Confluence settings a validation error can be about (the inputs of the
// Confluence screen).
const (
	FieldConfluenceBaseURL Field = "baseUrl"
	FieldServiceToken      Field = "serviceToken"
	FieldAdminGroup        Field = "adminGroup"
	FieldUserGroup         Field = "userGroup"
	FieldOAuthClientID     Field = "oauthClientId"
	FieldOAuthClientSecret Field = "oauthClientSecret"
)

// ConfluenceInput is a change of the Confluence connection. NewToken and
// NewOAuthClientSecret replace the stored secrets; "" keeps them.
type ConfluenceInput struct {
	BaseURL              string
	NewToken             string
	AdminGroup           string
	UserGroup            string
	OAuthClientID        string
	NewOAuthClientSecret string
}

func (in ConfluenceInput) settings() models.ConfluenceSettings {
	return models.ConfluenceSettings{
		BaseURL:           strings.TrimRight(strings.TrimSpace(in.BaseURL), "/"),
		Token:             strings.TrimSpace(in.NewToken),
		AdminGroup:        strings.TrimSpace(in.AdminGroup),
		UserGroup:         strings.TrimSpace(in.UserGroup),
		OAuthClientID:     strings.TrimSpace(in.OAuthClientID),
		OAuthClientSecret: strings.TrimSpace(in.NewOAuthClientSecret),
	}
}

// ValidateConfluence reports what is wrong with in, or nil: the base URL must be an
// absolute http(s) URL without user info, query or fragment; both groups are required;
// every text must be valid UTF-8 and fit its column.
func ValidateConfluence(in ConfluenceInput) error {
	var errs ValidationError
	add := func(f Field, c Code) { errs = append(errs, FieldError{Field: f, Code: c}) }
	set := in.settings()

	if c := checkText(set.BaseURL, models.ConfluenceBaseURLMax, 0); c != "" {
		add(FieldConfluenceBaseURL, c)
	} else if set.BaseURL == "" {
		add(FieldConfluenceBaseURL, CodeRequired)
	} else if _, err := confluence.New(confluence.Config{BaseURL: set.BaseURL}); err != nil {
		add(FieldConfluenceBaseURL, CodeInvalid)
	}
	if c := checkText(set.Token, 0, models.ConfluenceSecretMaxBytes); c != "" {
		add(FieldServiceToken, c)
	}
	for _, g := range []struct {
		field Field
		value string
	}{{FieldAdminGroup, set.AdminGroup}, {FieldUserGroup, set.UserGroup}} {
		if c := checkText(g.value, models.ConfluenceGroupMax, 0); c != "" {
			add(g.field, c)
		} else if g.value == "" {
			add(g.field, CodeRequired)
		}
	}
	if c := checkText(set.OAuthClientID, models.ConfluenceClientIDMax, 0); c != "" {
		add(FieldOAuthClientID, c)
	}
	if c := checkText(set.OAuthClientSecret, 0, models.ConfluenceSecretMaxBytes); c != "" {
		add(FieldOAuthClientSecret, c)
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// ConfluenceStore is what the Confluence settings service needs from the database.
type ConfluenceStore interface {
	LoadConfluenceSettings(ctx context.Context) (models.ConfluenceSettings, error)
	SaveConfluenceSettings(ctx context.Context, set models.ConfluenceSettings, actor string) error
	Audit(ctx context.Context, e models.AuditEntry) error
	LoadWebhookSecret(ctx context.Context) (models.WebhookSecret, error)
	SetWebhookSecret(ctx context.Context, secret string, now time.Time, actor string) error
}

// ConfluenceClientOptions are the parts of a Confluence client that do not come from
// the settings row (HTTP transport, clock, metrics).
type ConfluenceClientOptions func(*confluence.Config)

// Confluence validates, saves and applies the Confluence connection, and hands out
// the clients built from it.
type Confluence struct {
	store   ConfluenceStore
	options ConfluenceClientOptions
	// redirectURL is where Confluence sends a user back after OAuth consent: the
	// app's public base URL + /login/confluence/callback.
	redirectURL string
	logger      *slog.Logger
	// clock dates a generated webhook secret.
	clock clockwork.Clock

	mu    sync.Mutex
	built models.ConfluenceSettings // the settings the cached clients came from
	base  *confluence.Client        // anonymous
	// secret is the webhook secret as read at secretReadAt (nil: not read yet).
	secret       models.WebhookSecret
	secretReadAt *time.Time
}

// NewConfluence builds the Confluence settings service. redirectURL is the OAuth 2.0
// redirect URL shown to admins and sent to Confluence; options may be nil.
func NewConfluence(store ConfluenceStore, options ConfluenceClientOptions, redirectURL string, logger *slog.Logger) *Confluence {
	return &Confluence{store: store, options: options, redirectURL: redirectURL, logger: logger, clock: clockwork.NewRealClock()}
}

// RedirectURL is the OAuth 2.0 redirect URL to paste into Confluence's application link.
func (s *Confluence) RedirectURL() string { return s.redirectURL }

// Load returns the stored connection, or the defaults before the first save.
func (s *Confluence) Load(ctx context.Context) (models.ConfluenceSettings, error) {
	return s.store.LoadConfluenceSettings(ctx)
}

// Save validates in and stores it on behalf of actor; an invalid in is refused with a
// ValidationError and nothing is stored.
func (s *Confluence) Save(ctx context.Context, in ConfluenceInput, actor string) error {
	if err := ValidateConfluence(in); err != nil {
		return err
	}
	if err := s.store.SaveConfluenceSettings(ctx, in.settings(), actor); err != nil {
		return fmt.Errorf("save confluence settings: %w", err)
	}
	s.logger.InfoContext(ctx, "confluence settings saved", slog.String("actor", actor))
	return nil
}

// client returns an anonymous client for the stored base URL (rebuilt when it changed)
// and the settings it came from.
func (s *Confluence) client(ctx context.Context) (*confluence.Client, models.ConfluenceSettings, error) {
	set, err := s.store.LoadConfluenceSettings(ctx)
	if err != nil && !errors.Is(err, models.ErrSecretUnreadable) {
		return nil, set, err
	}
	if set.BaseURL == "" {
		return nil, set, ErrConfluenceNotConfigured
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.base == nil || s.built.BaseURL != set.BaseURL {
		cfg := confluence.Config{BaseURL: set.BaseURL}
		if s.options != nil {
			s.options(&cfg)
		}
		c, err := confluence.New(cfg)
		if err != nil {
			return nil, set, fmt.Errorf("confluence client: %w", err)
		}
		s.base, s.built = c, set
	}
	return s.base, set, nil
}

// ServiceClient returns a client that calls Confluence as the service account, or
// ErrConfluenceNotConfigured when no base URL or no readable token is stored.
func (s *Confluence) ServiceClient(ctx context.Context) (*confluence.Client, error) {
	c, set, err := s.client(ctx)
	if err != nil {
		return nil, err
	}
	if !set.HasToken {
		return nil, ErrConfluenceNotConfigured
	}
	return c.WithCredential(confluence.BearerToken(set.Token)), nil
}

// DirectoryClient returns the service client and the user group to sync; it
// implements directory.ConfluenceSource.
func (s *Confluence) DirectoryClient(ctx context.Context) (*confluence.Client, string, error) {
	c, err := s.ServiceClient(ctx)
	if err != nil {
		return nil, "", err
	}
	set, err := s.store.LoadConfluenceSettings(ctx)
	if err != nil {
		return nil, "", err
	}
	return c, set.UserGroup, nil
}

// SignIn is what signing in with Confluence needs.
type SignIn struct {
	// Client is an anonymous client of the configured Confluence; a user's own
	// credential is put on it with WithCredential.
	Client *confluence.Client
	// Service calls as the service account (group checks); nil when no token is stored.
	Service *confluence.Client
	// AdminGroup's members are admins of this app.
	AdminGroup string
	// OAuth is the OAuth 2.0 client of the application link; nil when not configured.
	OAuth *oauth2.Config
}

// SignIn returns the sign-in configuration, or ErrConfluenceNotConfigured before a
// base URL was saved.
func (s *Confluence) SignIn(ctx context.Context) (SignIn, error) {
	c, set, err := s.client(ctx)
	if err != nil {
		return SignIn{}, err
	}
	in := SignIn{Client: c, AdminGroup: set.AdminGroup}
	if set.HasToken {
		in.Service = c.WithCredential(confluence.BearerToken(set.Token))
	}
	if set.OAuthConfigured() {
		in.OAuth = &oauth2.Config{
			ClientID:     set.OAuthClientID,
			ClientSecret: set.OAuthClientSecret,
			Endpoint:     c.OAuth2Endpoint(),
			RedirectURL:  s.redirectURL,
			Scopes:       []string{confluence.ScopeRead},
		}
	}
	return in, nil
}

// webhookSecretBytes is how much randomness a webhook secret carries: 256 bits, as the
// HMAC-SHA256 key it becomes.
const webhookSecretBytes = 32

// RegenerateWebhookSecret generates a new webhook secret (32 random bytes, URL-safe
// base64: 43 characters, within Confluence's 255) and stores it sealed on behalf of
// actor, audited without its value. The old secret stops verifying at once. The secret
// is returned to be shown this once; it is never shown again.
func (s *Confluence) RegenerateWebhookSecret(ctx context.Context, actor string) (string, error) {
	raw := make([]byte, webhookSecretBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("generate webhook secret: %w", err)
	}
	secret := base64.RawURLEncoding.EncodeToString(raw)
	now := s.clock.Now()
	if err := s.store.SetWebhookSecret(ctx, secret, now, actor); err != nil {
		return "", fmt.Errorf("generate webhook secret: %w", err)
	}
	// This instance verifies with the new secret from now on; others within
	// webhookSecretTTL.
	setAt := now.UTC().Truncate(time.Millisecond)
	s.mu.Lock()
	s.secret, s.secretReadAt = models.WebhookSecret{Secret: secret, SetAt: &setAt}, &now
	s.mu.Unlock()
	s.logger.InfoContext(ctx, "confluence webhook secret generated", slog.String("actor", actor))
	return secret, nil
}

// webhookSecretTTL is how long an instance trusts the webhook secret it last read. A
// secret regenerated on this instance replaces it at once; one regenerated on another
// instance is read within this time (at once when a request signed with it arrives, see
// FreshWebhookSecret), so the old one keeps verifying for at most this long there.
// Without it every webhook costs one more database round trip.
const webhookSecretTTL = time.Second

// WebhookSecret returns the current webhook secret, read from the database at most once
// per webhookSecretTTL. An unreadable secret (the key changed) comes back without its
// value, with an error matching models.ErrSecretUnreadable.
func (s *Confluence) WebhookSecret(ctx context.Context) (models.WebhookSecret, error) {
	s.mu.Lock()
	if s.secretReadAt != nil && s.clock.Since(*s.secretReadAt) < webhookSecretTTL {
		secret := s.secret
		s.mu.Unlock()
		return secret, nil
	}
	s.mu.Unlock()
	return s.FreshWebhookSecret(ctx)
}

// FreshWebhookSecret reads the webhook secret from the database, bypassing the cache:
// the inbox asks for it when a signature does not match the cached one, since another
// instance may just have regenerated it.
func (s *Confluence) FreshWebhookSecret(ctx context.Context) (models.WebhookSecret, error) {
	readAt := s.clock.Now()
	secret, err := s.store.LoadWebhookSecret(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.secretReadAt = nil
		return secret, err
	}
	s.secret, s.secretReadAt = secret, &readAt
	return secret, nil
}
