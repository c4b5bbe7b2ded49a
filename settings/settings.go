// Package settings validates and stores the DingTalk configuration and hands
// out a DingTalk client built from it.
package settings

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/dingfluence/dingfluence/dingtalk"
	"github.com/dingfluence/dingfluence/models"
)

// Input is a settings change as the service takes it: typed values, already
// read from wherever they came from. NewSecret replaces the stored appSecret;
// "" keeps it.
type Input struct {
	AgentID              int64
	AppKey               string
	NewSecret            string
	TokenURL             string
	SendMessageURL       string
	SubDepartmentURL     string
	DepartmentDetailURL  string
	DepartmentUserIDsURL string
	UserProfileURL       string
	UserByMobileURL      string
	UserListURL          string
	MatchingMethod       models.MatchingMethod
	Enabled              bool
	SyncIntervalMinutes  int
	// CoalesceMinutes is the coalescing window of page notifications; 0 turns it off.
	CoalesceMinutes int
}

// settings is the row in describes; an empty AppSecret keeps the stored one.
func (in Input) settings() models.Settings {
	return models.Settings{
		AgentID:              in.AgentID,
		AppKey:               in.AppKey,
		AppSecret:            in.NewSecret,
		TokenURL:             in.TokenURL,
		SendMessageURL:       in.SendMessageURL,
		SubDepartmentURL:     in.SubDepartmentURL,
		DepartmentDetailURL:  in.DepartmentDetailURL,
		DepartmentUserIDsURL: in.DepartmentUserIDsURL,
		UserProfileURL:       in.UserProfileURL,
		UserByMobileURL:      in.UserByMobileURL,
		UserListURL:          in.UserListURL,
		MatchingMethod:       in.MatchingMethod,
		Enabled:              in.Enabled,
		SyncIntervalMinutes:  in.SyncIntervalMinutes,
		CoalesceMinutes:      in.CoalesceMinutes,
	}
}

// Field names one setting in a validation error. The names are those of the
// settings screen's inputs, so a form can point at the field without a table.
type Field string

// The settings a validation error can be about.
const (
	FieldAgentID              Field = "agentId"
	FieldAppKey               Field = "appKey"
	FieldAppSecret            Field = "appSecret"
	FieldTokenURL             Field = "tokenUrl"
	FieldSendMessageURL       Field = "sendMessageUrl"
	FieldSubDepartmentURL     Field = "subDepartmentUrl"
	FieldDepartmentDetailURL  Field = "departmentDetailUrl"
	FieldDepartmentUserIDsURL Field = "departmentUsersUrl"
	FieldUserProfileURL       Field = "userProfileUrl"
	FieldUserByMobileURL      Field = "userByMobileUrl"
	FieldUserListURL          Field = "userListUrl"
	FieldMatchingMethod       Field = "matchingMethod"
	FieldEnabled              Field = "enabled"
	FieldSyncInterval         Field = "syncIntervalMinutes"
	FieldCoalesceMinutes      Field = "coalesceMinutes"
)

// Code says what is wrong with a field's value.
type Code string

// What a validation error can say.
const (
	CodeRequired Code = "required"
	// CodeInvalid: not a positive id, not an absolute http(s) URL, not a known
	// matching method, or a sync interval out of range.
	CodeInvalid Code = "invalid"
	CodeTooLong Code = "too_long" // longer than its database column
	CodeNotUTF8 Code = "not_utf8"
)

// FieldError is one thing wrong with an Input.
type FieldError struct {
	Field Field
	Code  Code
}

// ValidationError lists what is wrong with an Input, one entry per field.
type ValidationError []FieldError

func (v ValidationError) Error() string {
	parts := make([]string, len(v))
	for i, e := range v {
		parts[i] = string(e.Field) + ": " + string(e.Code)
	}
	return "invalid settings: " + strings.Join(parts, ", ")
}

// MaxSyncIntervalMinutes caps the scheduled sync period at one week; a
// directory older than that is no longer a mirror of DingTalk.
const MaxSyncIntervalMinutes = 7 * 24 * 60

// MaxCoalesceMinutes caps the coalescing window at one day: a notification held longer
// is news no more.
const MaxCoalesceMinutes = 24 * 60

// Store is what the service needs from the database.
type Store interface {
	LoadSettings(ctx context.Context) (models.Settings, error)
	SaveSettings(ctx context.Context, set models.Settings, actor string) error
	Audit(ctx context.Context, e models.AuditEntry) error
}

// ClientOptions are the parts of a DingTalk client that do not come from the
// settings row (HTTP transport, metrics, pacing).
type ClientOptions func(*dingtalk.Config)

// Service validates, saves and applies the DingTalk settings.
type Service struct {
	store   Store
	options ClientOptions
	logger  *slog.Logger

	mu     sync.Mutex
	client *dingtalk.Client
	built  dingtalk.Config // the config client was built from
}

// New builds the settings service. options may be nil.
func New(store Store, options ClientOptions, logger *slog.Logger) *Service {
	return &Service{store: store, options: options, logger: logger}
}

// Load returns the stored settings, or the defaults before the first save.
func (s *Service) Load(ctx context.Context) (models.Settings, error) {
	return s.store.LoadSettings(ctx)
}

// checkText reports what is wrong with a text value: not valid UTF-8, or
// longer than its column (max characters, or maxBytes bytes when that is set).
// "" means nothing.
func checkText(v string, max, maxBytes int) Code {
	switch {
	case !utf8.ValidString(v):
		return CodeNotUTF8
	case max > 0 && utf8.RuneCountInString(v) > max:
		return CodeTooLong
	case maxBytes > 0 && len(v) > maxBytes:
		return CodeTooLong
	}
	return ""
}

// Validate reports what is wrong with in, or nil. Every text must be valid
// UTF-8 and fit its database column, which MySQL would otherwise refuse at
// save time.
func Validate(in Input) error {
	var errs ValidationError
	add := func(f Field, c Code) { errs = append(errs, FieldError{Field: f, Code: c}) }

	switch {
	case in.AgentID == 0:
		add(FieldAgentID, CodeRequired)
	case in.AgentID < 0:
		add(FieldAgentID, CodeInvalid)
	}
	if c := checkText(in.AppKey, models.SettingsAppKeyMax, 0); c != "" {
		add(FieldAppKey, c)
	} else if strings.TrimSpace(in.AppKey) == "" {
		add(FieldAppKey, CodeRequired)
	}
	if c := checkText(in.NewSecret, 0, models.SettingsAppSecretMaxBytes); c != "" {
		add(FieldAppSecret, c)
	}
	for _, u := range []struct {
		field Field
		value string
	}{
		{FieldTokenURL, in.TokenURL},
		{FieldSendMessageURL, in.SendMessageURL},
		{FieldSubDepartmentURL, in.SubDepartmentURL},
		{FieldDepartmentDetailURL, in.DepartmentDetailURL},
		{FieldDepartmentUserIDsURL, in.DepartmentUserIDsURL},
		{FieldUserProfileURL, in.UserProfileURL},
		{FieldUserByMobileURL, in.UserByMobileURL},
		{FieldUserListURL, in.UserListURL},
	} {
		if c := checkText(u.value, models.SettingsURLMax, 0); c != "" {
			add(u.field, c)
		} else if !isAbsoluteHTTPURL(u.value) {
			add(u.field, CodeInvalid)
		}
	}
	if in.MatchingMethod != models.MatchEmail && in.MatchingMethod != models.MatchJobNumber {
		add(FieldMatchingMethod, CodeInvalid)
	}
	if in.SyncIntervalMinutes < 0 || in.SyncIntervalMinutes > MaxSyncIntervalMinutes {
		add(FieldSyncInterval, CodeInvalid)
	}
	if in.CoalesceMinutes < 0 || in.CoalesceMinutes > MaxCoalesceMinutes {
		add(FieldCoalesceMinutes, CodeInvalid)
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func isAbsoluteHTTPURL(v string) bool {
	u, err := url.Parse(v)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// Save validates in and stores it on behalf of actor. An invalid in is
// refused with a ValidationError; the stored settings are untouched then.
func (s *Service) Save(ctx context.Context, in Input, actor string) error {
	if err := Validate(in); err != nil {
		return err
	}
	if err := s.store.SaveSettings(ctx, in.settings(), actor); err != nil {
		return fmt.Errorf("save settings: %w", err)
	}
	s.logger.InfoContext(ctx, "settings saved", slog.String("actor", actor))
	return nil
}

// Credentials are what a connection test sends DingTalk: an appSecret of ""
// means the stored one.
type Credentials struct {
	AppKey    string
	AppSecret string
	TokenURL  string
}

// TestProblem is what stopped a connection test before DingTalk was asked.
type TestProblem string

// The problems a connection test can report.
const (
	ProblemBadTokenURL      TestProblem = "bad_token_url"
	ProblemSecretUnreadable TestProblem = "secret_unreadable"
	ProblemNoSecret         TestProblem = "no_secret"
	// ProblemSecretOtherHost: the stored secret would go to a host it was not
	// saved for; the appSecret has to be typed.
	ProblemSecretOtherHost TestProblem = "secret_other_host"
)

// TestResult is the outcome of a connection test.
type TestResult struct {
	OK bool
	// Problem stopped the test before DingTalk was asked; "" when none.
	Problem TestProblem
	// Unreachable: DingTalk could not be reached or gave no usable answer;
	// Errmsg says why.
	Unreachable bool
	// Errcode and Errmsg are DingTalk's answer when it refused the request.
	Errcode int
	Errmsg  string
}

// details is how the audit log records the outcome; never the secret.
func (r TestResult) details(tokenURL string) string {
	host := ""
	if u, err := url.Parse(tokenURL); err == nil {
		host = " (" + u.Host + ")"
	}
	switch {
	case r.OK:
		return "succeeded" + host
	case r.Problem != "":
		return "not run: " + string(r.Problem) + host
	case r.Unreachable:
		return "failed: DingTalk unreachable" + host
	default:
		return fmt.Sprintf("failed: errcode %d%s", r.Errcode, host)
	}
}

// TestConnection fetches a token with cr, without saving, on behalf of actor,
// and writes the outcome to the audit log. When cr leaves AppSecret empty the
// stored secret is used, but only for
// a token URL on the saved token URL's scheme, host and port: the secret is
// never sent to a host it was not saved for.
func (s *Service) TestConnection(ctx context.Context, cr Credentials, actor string) (TestResult, error) {
	tokenURL := strings.TrimSpace(cr.TokenURL)
	res, err := s.testConnection(ctx, cr, tokenURL)
	if err != nil {
		return res, err
	}
	entry := models.AuditEntry{Actor: actor, Action: models.ActionSettingsTest, Details: res.details(tokenURL)}
	if err := s.store.Audit(ctx, entry); err != nil {
		// The test has happened; its answer is still worth showing.
		s.logger.ErrorContext(ctx, "test connection: write audit entry", slog.Any("error", err))
	}
	return res, nil
}

func (s *Service) testConnection(ctx context.Context, cr Credentials, tokenURL string) (TestResult, error) {
	if !isAbsoluteHTTPURL(tokenURL) {
		return TestResult{Problem: ProblemBadTokenURL}, nil
	}
	secret := cr.AppSecret
	if secret == "" {
		stored, err := s.store.LoadSettings(ctx)
		switch {
		case errors.Is(err, models.ErrSecretUnreadable):
			return TestResult{Problem: ProblemSecretUnreadable}, nil
		case err != nil:
			return TestResult{}, fmt.Errorf("load stored secret: %w", err)
		case stored.AppSecret == "":
			return TestResult{Problem: ProblemNoSecret}, nil
		case !sameOrigin(tokenURL, stored.TokenURL):
			return TestResult{Problem: ProblemSecretOtherHost}, nil
		}
		secret = stored.AppSecret
	}
	cfg := dingtalk.Config{AppKey: strings.TrimSpace(cr.AppKey), AppSecret: secret, Endpoints: dingtalk.DefaultEndpoints()}
	cfg.Endpoints.Token = tokenURL
	if s.options != nil {
		s.options(&cfg)
	}
	// A connection test should answer quickly, not retry for a minute.
	cfg.MaxRetries = 1
	_, err := dingtalk.New(cfg).Token(ctx)
	var dtErr *dingtalk.Error
	switch {
	case err == nil:
		return TestResult{OK: true}, nil
	case errors.As(err, &dtErr):
		return TestResult{Errcode: dtErr.Code, Errmsg: dtErr.Errmsg}, nil
	default:
		// No errcode from DingTalk: refused connection, DNS, timeout, a proxy's
		// error page. Calling it errcode -1 would read as DingTalk's "system busy".
		return TestResult{Unreachable: true, Errmsg: err.Error()}, nil
	}
}

// sameOrigin reports whether two absolute URLs have the same scheme, host and
// port (an omitted port being the scheme's default).
func sameOrigin(a, b string) bool {
	ua, errA := url.Parse(a)
	ub, errB := url.Parse(b)
	if errA != nil || errB != nil {
		return false
	}
	return strings.EqualFold(ua.Scheme, ub.Scheme) &&
		strings.EqualFold(ua.Hostname(), ub.Hostname()) &&
		effectivePort(ua) == effectivePort(ub)
}

func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return ""
}

// ErrNotConfigured is returned by Client while no appKey and appSecret are saved: a
// client without them would only be refused by DingTalk's public host.
var ErrNotConfigured = errors.New("DingTalk is not configured: save the appKey and appSecret on the Settings screen")

// Configured reports whether an appKey and appSecret are saved, i.e. whether Client
// can be had at all; the Departments screen says so before anyone presses a sync. A
// secret sealed under another key counts as saved: the sync then fails with that reason.
func (s *Service) Configured(ctx context.Context) (bool, error) {
	set, err := s.store.LoadSettings(ctx)
	if err != nil && !errors.Is(err, models.ErrSecretUnreadable) {
		return false, fmt.Errorf("load settings: %w", err)
	}
	return strings.TrimSpace(set.AppKey) != "" && (set.AppSecret != "" || set.AppSecretSealed != ""), nil
}

// Client returns a DingTalk client for the stored settings, or ErrNotConfigured. The
// client is kept while the settings stay the same so its token and rate limiter are
// shared by every caller.
func (s *Service) Client(ctx context.Context) (*dingtalk.Client, error) {
	set, err := s.store.LoadSettings(ctx)
	if err != nil {
		return nil, fmt.Errorf("load settings: %w", err)
	}
	if strings.TrimSpace(set.AppKey) == "" || set.AppSecret == "" {
		return nil, ErrNotConfigured
	}
	cfg := ClientConfig(set)
	if s.options != nil {
		s.options(&cfg)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil && sameConnection(s.built, cfg) {
		return s.client, nil
	}
	s.client, s.built = dingtalk.New(cfg), cfg
	return s.client, nil
}

// ClientConfig maps stored settings to a DingTalk client configuration.
func ClientConfig(set models.Settings) dingtalk.Config {
	e := dingtalk.DefaultEndpoints()
	e.Token = set.TokenURL
	e.SendMessage = set.SendMessageURL
	e.ListSubDepartments = set.SubDepartmentURL
	e.GetDepartment = set.DepartmentDetailURL
	e.ListUserIDs = set.DepartmentUserIDsURL
	e.GetUser = set.UserProfileURL
	e.GetUserByMobile = set.UserByMobileURL
	e.ListUsers = set.UserListURL
	return dingtalk.Config{AppKey: set.AppKey, AppSecret: set.AppSecret, AgentID: set.AgentID, Endpoints: e}
}

func sameConnection(a, b dingtalk.Config) bool {
	return a.AppKey == b.AppKey && a.AppSecret == b.AppSecret && a.AgentID == b.AgentID && a.Endpoints == b.Endpoints
}
