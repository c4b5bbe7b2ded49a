// Package settings validates and stores the DingTalk configuration and hands
// out a DingTalk client built from it.
package settings

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/dingfluence/dingfluence/dingtalk"
	"github.com/dingfluence/dingfluence/models"
)

// Form is the settings screen as submitted: every value a string, exactly as
// typed, so a rejected form can be shown back unchanged.
type Form struct {
	AgentID             string `form:"agentId"`
	AppKey              string `form:"appKey"`
	AppSecret           string `form:"appSecret"`
	TokenURL            string `form:"tokenUrl"`
	SendMessageURL      string `form:"sendMessageUrl"`
	SubDepartmentURL    string `form:"subDepartmentUrl"`
	DepartmentDetailURL string `form:"departmentDetailUrl"`
	DepartmentUsersURL  string `form:"departmentUsersUrl"`
	UserProfileURL      string `form:"userProfileUrl"`
	UserByMobileURL     string `form:"userByMobileUrl"`
	UserListURL         string `form:"userListUrl"`
	MatchingMethod      string `form:"matchingMethod"`
	Enabled             string `form:"enabled"`
	SyncIntervalMinutes string `form:"syncIntervalMinutes"`
}

// FormFrom fills a form from stored settings. The secret is never put back
// into a form; HasSecret tells the screen to say one is set.
func FormFrom(s models.Settings) Form {
	f := Form{
		AppKey:              s.AppKey,
		TokenURL:            s.TokenURL,
		SendMessageURL:      s.SendMessageURL,
		SubDepartmentURL:    s.SubDepartmentURL,
		DepartmentDetailURL: s.DepartmentDetailURL,
		DepartmentUsersURL:  s.DepartmentUserIDsURL,
		UserProfileURL:      s.UserProfileURL,
		UserByMobileURL:     s.UserByMobileURL,
		UserListURL:         s.UserListURL,
		MatchingMethod:      string(s.MatchingMethod),
		Enabled:             "no",
		SyncIntervalMinutes: strconv.Itoa(s.SyncIntervalMinutes),
	}
	if s.AgentID != 0 {
		f.AgentID = strconv.FormatInt(s.AgentID, 10)
	}
	if s.Enabled {
		f.Enabled = "yes"
	}
	return f
}

// MaxSyncIntervalMinutes caps the scheduled sync period at one week; a
// directory older than that is no longer a mirror of DingTalk.
const MaxSyncIntervalMinutes = 7 * 24 * 60

// FieldErrors maps a form field name to the message id of what is wrong.
type FieldErrors map[string]string

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

// checkText reports what is wrong with a text field's value: not valid UTF-8,
// or longer than its column (max characters, or maxBytes bytes when that is
// set). "" means nothing.
func checkText(v string, max, maxBytes int, tooLong string) string {
	switch {
	case !utf8.ValidString(v):
		return "settings.error.notUTF8"
	case max > 0 && utf8.RuneCountInString(v) > max:
		return tooLong
	case maxBytes > 0 && len(v) > maxBytes:
		return tooLong
	}
	return ""
}

// Validate checks f and returns the settings it describes. An empty
// appSecret keeps the stored one. Every text field must be valid UTF-8 and fit
// its database column, which MySQL would otherwise refuse at save time.
func Validate(f Form) (models.Settings, FieldErrors) {
	errs := FieldErrors{}
	var set models.Settings

	if v := strings.TrimSpace(f.AgentID); v == "" {
		errs["agentId"] = "settings.error.agentIdRequired"
	} else if id, err := strconv.ParseInt(v, 10, 64); err != nil || id <= 0 {
		errs["agentId"] = "settings.error.agentIdNumeric"
	} else {
		set.AgentID = id
	}
	set.AppKey = strings.TrimSpace(f.AppKey)
	if msg := checkText(set.AppKey, models.SettingsAppKeyMax, 0, "settings.error.appKeyTooLong"); msg != "" {
		errs["appKey"] = msg
	} else if set.AppKey == "" {
		errs["appKey"] = "settings.error.appKeyRequired"
	}
	set.AppSecret = f.AppSecret
	if msg := checkText(set.AppSecret, 0, models.SettingsAppSecretMaxBytes, "settings.error.appSecretTooLong"); msg != "" {
		errs["appSecret"] = msg
	}

	urls := []struct {
		field string
		value string
		dest  *string
	}{
		{"tokenUrl", f.TokenURL, &set.TokenURL},
		{"sendMessageUrl", f.SendMessageURL, &set.SendMessageURL},
		{"subDepartmentUrl", f.SubDepartmentURL, &set.SubDepartmentURL},
		{"departmentDetailUrl", f.DepartmentDetailURL, &set.DepartmentDetailURL},
		{"departmentUsersUrl", f.DepartmentUsersURL, &set.DepartmentUserIDsURL},
		{"userProfileUrl", f.UserProfileURL, &set.UserProfileURL},
		{"userByMobileUrl", f.UserByMobileURL, &set.UserByMobileURL},
		{"userListUrl", f.UserListURL, &set.UserListURL},
	}
	for _, u := range urls {
		v := strings.TrimSpace(u.value)
		if msg := checkText(v, models.SettingsURLMax, 0, "settings.error.urlTooLong"); msg != "" {
			errs[u.field] = msg
		} else if !isAbsoluteHTTPURL(v) {
			errs[u.field] = "settings.error.urlAbsolute"
		}
		*u.dest = v
	}

	switch models.MatchingMethod(f.MatchingMethod) {
	case models.MatchEmail, models.MatchJobNumber:
		set.MatchingMethod = models.MatchingMethod(f.MatchingMethod)
	default:
		errs["matchingMethod"] = "settings.error.matchingMethod"
	}
	if n, err := strconv.Atoi(strings.TrimSpace(f.SyncIntervalMinutes)); err != nil || n < 0 || n > MaxSyncIntervalMinutes {
		errs["syncIntervalMinutes"] = "settings.error.syncInterval"
	} else {
		set.SyncIntervalMinutes = n
	}
	switch f.Enabled {
	case "yes":
		set.Enabled = true
	case "no":
		set.Enabled = false
	default:
		errs["enabled"] = "settings.error.enabled"
	}
	return set, errs
}

func isAbsoluteHTTPURL(v string) bool {
	u, err := url.Parse(v)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// Save validates f and stores it on behalf of actor. Field errors come back
// with a nil error; the stored settings are untouched then.
func (s *Service) Save(ctx context.Context, f Form, actor string) (FieldErrors, error) {
	set, errs := Validate(f)
	if len(errs) > 0 {
		return errs, nil
	}
	if err := s.store.SaveSettings(ctx, set, actor); err != nil {
		return nil, fmt.Errorf("save settings: %w", err)
	}
	s.logger.InfoContext(ctx, "settings saved", slog.String("actor", actor))
	return nil, nil
}

// TestResult is the outcome of a connection test, ready to show.
type TestResult struct {
	OK bool
	// Problem is the message id of what stopped the test before DingTalk was
	// asked (a bad token URL, no usable secret).
	Problem string
	// Field names the form field Problem is about, "" when none.
	Field string
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
		return "not run: " + r.Problem + host
	case r.Unreachable:
		return "failed: DingTalk unreachable" + host
	default:
		return fmt.Sprintf("failed: errcode %d%s", r.Errcode, host)
	}
}

// TestConnection fetches a token with the form's credentials and token URL,
// without saving, on behalf of actor, and writes the outcome to the audit log.
// When the form leaves appSecret empty the stored secret is used, but only for
// a token URL on the saved token URL's scheme, host and port: the secret is
// never sent to a host it was not saved for.
func (s *Service) TestConnection(ctx context.Context, f Form, actor string) (TestResult, error) {
	tokenURL := strings.TrimSpace(f.TokenURL)
	res, err := s.testConnection(ctx, f, tokenURL)
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

func (s *Service) testConnection(ctx context.Context, f Form, tokenURL string) (TestResult, error) {
	if !isAbsoluteHTTPURL(tokenURL) {
		return TestResult{Problem: "settings.testBadTokenURL"}, nil
	}
	secret := f.AppSecret
	if secret == "" {
		stored, err := s.store.LoadSettings(ctx)
		switch {
		case errors.Is(err, models.ErrSecretUnreadable):
			return TestResult{Problem: "settings.secretUnreadable"}, nil
		case err != nil:
			return TestResult{}, fmt.Errorf("load stored secret: %w", err)
		case stored.AppSecret == "":
			return TestResult{Problem: "settings.testNoSecret"}, nil
		case !sameOrigin(tokenURL, stored.TokenURL):
			return TestResult{Problem: "settings.testSecretOtherHost", Field: "appSecret"}, nil
		}
		secret = stored.AppSecret
	}
	cfg := dingtalk.Config{AppKey: strings.TrimSpace(f.AppKey), AppSecret: secret, Endpoints: dingtalk.DefaultEndpoints()}
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
