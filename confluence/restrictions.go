package confluence

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Short API names of the permission calls, for errors, logs and metric labels.
const (
	apiReadRestriction = "content.restriction.read"
	apiSpacePerms      = "space.permissions"
)

// ReadRestriction is the "view" restriction set directly on one piece of content: when
// it names anyone, only those users and members of those groups may view the content
// and everything below it.
type ReadRestriction struct {
	ContentID string
	Users     []User
	Groups    []string // group names, lower case as Confluence stores them
}

// Restricted reports whether the restriction names anyone; an empty one restricts nothing.
func (r ReadRestriction) Restricted() bool { return len(r.Users) > 0 || len(r.Groups) > 0 }

// Permits reports whether the user with userKey, member of groups, passes this restriction.
func (r ReadRestriction) Permits(userKey string, groups []string) bool {
	if !r.Restricted() {
		return true
	}
	for _, u := range r.Users {
		if u.Key != "" && u.Key == userKey {
			return true
		}
	}
	for _, g := range r.Groups {
		for _, mine := range groups {
			if strings.EqualFold(g, mine) {
				return true
			}
		}
	}
	return false
}

// ViewRestrictions are the view restrictions that apply to a piece of content: its own
// and each ancestor's. Confluence lets a user view the content only when every one of
// them permits the user.
type ViewRestrictions []ReadRestriction

// Permits reports whether the user with userKey, member of groups, may view the content
// as far as restrictions go (space permission is separate, see SpaceViewPermission).
func (v ViewRestrictions) Permits(userKey string, groups []string) bool {
	for _, r := range v {
		if !r.Permits(userKey, groups) {
			return false
		}
	}
	return true
}

// Restricted reports whether any level restricts viewing.
func (v ViewRestrictions) Restricted() bool {
	for _, r := range v {
		if r.Restricted() {
			return true
		}
	}
	return false
}

// NeedsGroups reports whether a decision depends on group membership, so the caller can
// skip fetching memberships when it does not.
func (v ViewRestrictions) NeedsGroups() bool {
	for _, r := range v {
		if len(r.Groups) > 0 {
			return true
		}
	}
	return false
}

// restrictionListJSON is one of the inner user/group lists of a restriction answer.
type restrictionListJSON[T any] struct {
	Results []T `json:"results"`
	Start   int `json:"start"`
	Limit   int `json:"limit"`
	Size    int `json:"size"`
	// Links is nil when the list carries no _links at all; then only a full page says
	// that more may follow.
	Links map[string]any `json:"_links"`
}

// more reports whether the list says more follow, given the limit the server applied.
func (l restrictionListJSON[T]) more(limit int) bool {
	if l.Links != nil {
		next, _ := l.Links["next"].(string)
		return next != ""
	}
	return len(l.Results) >= limit
}

// ReadRestrictions returns the view restriction set directly on content id, from
// GET /rest/api/content/{id}/restriction/byOperation/read. start and limit page the
// user and group lists together; the walk goes on while either list has a next link,
// or, when the lists carry no links, while either is full.
func (c *Client) ReadRestrictions(ctx context.Context, id string) (ReadRestriction, error) {
	if !ValidContentID(id) {
		return ReadRestriction{}, fmt.Errorf("confluence: ReadRestrictions: invalid content id %q", id)
	}
	path := "/rest/api/content/" + id + "/restriction/byOperation/read"
	r := ReadRestriction{ContentID: id}
	for start := 0; ; {
		var j struct {
			Restrictions struct {
				User  restrictionListJSON[userJSON]  `json:"user"`
				Group restrictionListJSON[groupJSON] `json:"group"`
			} `json:"restrictions"`
		}
		q := url.Values{
			"expand": {"restrictions.user,restrictions.group"},
			"start":  {strconv.Itoa(start)},
			"limit":  {strconv.Itoa(c.pageSize)},
		}
		if err := c.get(ctx, apiReadRestriction, path, q, &j); err != nil {
			return ReadRestriction{}, err
		}
		users, groups := j.Restrictions.User, j.Restrictions.Group
		for _, u := range users.Results {
			r.Users = append(r.Users, u.user())
		}
		for _, g := range groups.Results {
			r.Groups = append(r.Groups, strings.ToLower(g.Name))
		}
		got := max(len(users.Results), len(groups.Results))
		// The limit the server applied (it may cap what was asked).
		limit := max(users.Limit, groups.Limit)
		if limit <= 0 {
			limit = c.pageSize
		}
		more := users.more(limit) || groups.more(limit)
		if got == 0 || !more {
			return r, nil
		}
		start += got
	}
}

// ViewRestrictions returns the view restrictions of ct and of each of its ancestors
// (ct.AncestorIDs, from Content), only those that restrict. An error for any level is
// returned as is: a caller that cannot learn every level must not assume none.
func (c *Client) ViewRestrictions(ctx context.Context, ct Content) (ViewRestrictions, error) {
	var out ViewRestrictions
	for _, id := range append(append([]string(nil), ct.AncestorIDs...), ct.ID) {
		r, err := c.ReadRestrictions(ctx, id)
		if err != nil {
			return nil, err
		}
		if r.Restricted() {
			out = append(out, r)
		}
	}
	return out, nil
}

// SpaceViewers are who hold the "View space" permission of a space.
type SpaceViewers struct {
	SpaceKey  string
	UserKeys  []string
	Groups    []string // lower case
	Anonymous bool     // anonymous users may view the space
}

// Permits reports whether the user with userKey, member of groups, may view the space.
func (s SpaceViewers) Permits(userKey string, groups []string) bool {
	if s.Anonymous {
		return true
	}
	for _, k := range s.UserKeys {
		if k != "" && k == userKey {
			return true
		}
	}
	for _, g := range s.Groups {
		for _, mine := range groups {
			if strings.EqualFold(g, mine) {
				return true
			}
		}
	}
	return false
}

// spacePermissionJSON is one grant of GET /rest/api/space/{key}/permissions (9.1+,
// CONFSERVER-100505): groups by name, users by userKey.
type spacePermissionJSON struct {
	Operation struct {
		TargetType   string `json:"targetType"`
		OperationKey string `json:"operationKey"`
	} `json:"operation"`
	Subject struct {
		Type    string `json:"type"`
		Name    string `json:"name"`
		UserKey string `json:"userKey"`
	} `json:"subject"`
}

// SpaceViewPermission returns who may view the space, from the space permission resource
// of Data Center 9.1+ (administrators only). Older versions answer 404 (IsNotFound):
// there the permission cannot be read and the caller decides what that means. The
// documented answer is a JSON array; a paged {results,…} envelope is followed too.
func (c *Client) SpaceViewPermission(ctx context.Context, spaceKey string) (SpaceViewers, error) {
	if spaceKey == "" {
		return SpaceViewers{}, errors.New("confluence: SpaceViewPermission: empty space key")
	}
	path := "/rest/api/space/" + url.PathEscape(spaceKey) + "/permissions"
	v := SpaceViewers{SpaceKey: spaceKey}
	add := func(grants []spacePermissionJSON) {
		for _, g := range grants {
			if g.Operation.TargetType != "space" || g.Operation.OperationKey != "read" {
				continue
			}
			switch g.Subject.Type {
			case "user":
				v.UserKeys = append(v.UserKeys, g.Subject.UserKey)
			case "group":
				v.Groups = append(v.Groups, strings.ToLower(g.Subject.Name))
			case "anonymous":
				v.Anonymous = true
			}
		}
	}
	for start := 0; ; {
		q := url.Values{"start": {strconv.Itoa(start)}, "limit": {strconv.Itoa(c.pageSize)}}
		var raw json.RawMessage
		if err := c.get(ctx, apiSpacePerms, path, q, &raw); err != nil {
			return SpaceViewers{}, err
		}
		if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '[' {
			var grants []spacePermissionJSON
			if err := json.Unmarshal(t, &grants); err != nil {
				return SpaceViewers{}, fmt.Errorf("confluence %s: decode answer: %w", apiSpacePerms, err)
			}
			add(grants)
			return v, nil
		}
		var p pageJSON[spacePermissionJSON]
		if err := json.Unmarshal(raw, &p); err != nil {
			return SpaceViewers{}, fmt.Errorf("confluence %s: decode answer: %w", apiSpacePerms, err)
		}
		add(p.Results)
		if len(p.Results) == 0 || !p.hasNext() {
			return v, nil
		}
		start += len(p.Results)
	}
}
