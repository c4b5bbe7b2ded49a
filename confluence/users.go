package confluence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
)

// Short API names, used in errors, logs and metric labels.
const (
	apiCurrentUser    = "user.current"
	apiUserByKey      = "user.by_key"
	apiUserByUsername = "user.by_username"
	apiMobileProfile  = "mobile.profile"
	apiGroupMembers   = "group.members"
	apiUserMemberOf   = "user.memberof"
)

// UserStatus is a user's account status as Data Center reports it with expand=status.
type UserStatus string

// The statuses Data Center reports.
const (
	StatusCurrent     UserStatus = "current"
	StatusDeactivated UserStatus = "deactivated"
)

// User is a Confluence Data Center user.
type User struct {
	Key         string // userKey: stable, what webhooks carry; store it
	Username    string // can be renamed
	DisplayName string
	Email       string // "" when Confluence exposes it nowhere the caller may read
	// Active is false only for a deactivated user (deactivated users stay listed in
	// groups, CONFSERVER-95653); a user whose status was not reported is active.
	Active bool
	Status UserStatus // as reported; "" when Confluence did not say
}

// userExpand asks for the account status and the e-mail in one lookup.
const userExpand = "status,details.personal"

// userJSON is a user as /rest/api/user, /user/current and group member lists answer.
type userJSON struct {
	Type        string `json:"type"` // "known"; "anonymous" from /user/current without a user
	Username    string `json:"username"`
	UserKey     string `json:"userKey"`
	DisplayName string `json:"displayName"`
	Email       string `json:"email"` // top level on some recent builds
	Status      string `json:"status"`
	Details     struct {
		Personal struct {
			Email string `json:"email"`
		} `json:"personal"`
	} `json:"details"`
}

func (j userJSON) user() User {
	u := User{
		Key:         j.UserKey,
		Username:    j.Username,
		DisplayName: j.DisplayName,
		Email:       j.Email,
		Status:      UserStatus(j.Status),
	}
	if u.Email == "" {
		u.Email = j.Details.Personal.Email
	}
	u.Active = u.Status != StatusDeactivated
	return u
}

// CurrentUser returns the user the client's credential belongs to; use it to check a
// credential. A request Confluence treats as anonymous is an *Error with status 401.
func (c *Client) CurrentUser(ctx context.Context) (User, error) {
	const path = "/rest/api/user/current"
	var j userJSON
	if err := c.get(ctx, apiCurrentUser, path, url.Values{"expand": {userExpand}}, &j); err != nil {
		return User{}, err
	}
	// Without (valid) credentials Data Center answers 200 with an anonymous user.
	if j.Type == "anonymous" || (j.UserKey == "" && j.Username == "") {
		return User{}, &Error{API: apiCurrentUser, Status: http.StatusUnauthorized, Method: http.MethodGet, Path: path,
			Message: "Confluence treated the request as anonymous"}
	}
	if j.UserKey == "" {
		return User{}, fmt.Errorf("confluence %s: user %q: %w", apiCurrentUser, j.Username, ErrNoUserKey)
	}
	return c.withEmail(ctx, j.user())
}

// UserByKey returns the user with the given userKey.
func (c *Client) UserByKey(ctx context.Context, key string) (User, error) {
	if key == "" {
		return User{}, errors.New("confluence: UserByKey: empty user key")
	}
	return c.lookupUser(ctx, apiUserByKey, url.Values{"key": {key}})
}

// UserByUsername returns the user with the given username.
func (c *Client) UserByUsername(ctx context.Context, username string) (User, error) {
	if username == "" {
		return User{}, errors.New("confluence: UserByUsername: empty username")
	}
	return c.lookupUser(ctx, apiUserByUsername, url.Values{"username": {username}})
}

func (c *Client) lookupUser(ctx context.Context, api string, q url.Values) (User, error) {
	q.Set("expand", userExpand)
	var j userJSON
	if err := c.get(ctx, api, "/rest/api/user", q, &j); err != nil {
		return User{}, err
	}
	return c.withEmail(ctx, j.user())
}

// withEmail fills a missing e-mail from the mobile profile, the only place some
// instances expose it (details.personal is silently dropped on some versions, or the
// e-mail is hidden by the visibility setting). An instance without the mobile plugin
// (404) or one that refuses it (403) leaves Email empty; other failures are errors, so
// a transient outage is not mistaken for "this user has no e-mail".
func (c *Client) withEmail(ctx context.Context, u User) (User, error) {
	if u.Email != "" || u.Username == "" {
		return u, nil
	}
	var p struct {
		Email string `json:"email"`
	}
	err := c.get(ctx, apiMobileProfile, "/rest/mobile/1.0/profile/"+url.PathEscape(u.Username), nil, &p)
	switch {
	case err == nil:
		u.Email = p.Email
	case IsNotFound(err) || IsForbidden(err):
		c.log.DebugContext(ctx, "confluence: no e-mail from the mobile profile",
			slog.String("user_key", u.Key), slog.Int("status", StatusCode(err)))
	default:
		return User{}, err
	}
	return u, nil
}
