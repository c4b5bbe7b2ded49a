package confluence

import (
	"context"
	"errors"
	"iter"
	"net/url"
	"strings"
)

// Group is a Confluence group.
type Group struct {
	Name string
}

type groupJSON struct {
	Type string `json:"type"`
	Name string `json:"name"`
}

// GroupMemberPages calls fn with each page of group's members, in Confluence's order,
// until the last page or until fn returns an error (which is returned as is).
// Deactivated users are listed too (Active false). Email is filled only when Confluence
// includes it in the listing; no per-member fallback is made (see UserByKey).
func (c *Client) GroupMemberPages(ctx context.Context, group string, fn func([]User) error) error {
	if group == "" {
		return errors.New("confluence: GroupMemberPages: empty group name")
	}
	path := "/rest/api/group/" + url.PathEscape(group) + "/member"
	return eachPage(ctx, c, apiGroupMembers, path, url.Values{"expand": {userExpand}}, func(page []userJSON) error {
		users := make([]User, len(page))
		for i, j := range page {
			users[i] = j.user()
		}
		return fn(users)
	})
}

// GroupMembers streams every member of group, fetching a page at a time as the loop
// asks for more; breaking out of the loop stops the paging. A failure is yielded once,
// as the last element.
func (c *Client) GroupMembers(ctx context.Context, group string) iter.Seq2[User, error] {
	return func(yield func(User, error) bool) {
		err := c.GroupMemberPages(ctx, group, func(page []User) error {
			for _, u := range page {
				if !yield(u, nil) {
					return errStopPaging
				}
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStopPaging) {
			yield(User{}, err)
		}
	}
}

// GroupsOfUser returns every group username belongs to.
func (c *Client) GroupsOfUser(ctx context.Context, username string) ([]Group, error) {
	if username == "" {
		return nil, errors.New("confluence: GroupsOfUser: empty username")
	}
	return c.groupsOf(ctx, url.Values{"username": {username}})
}

// GroupsOfUserKey returns every group of the user with userKey key.
func (c *Client) GroupsOfUserKey(ctx context.Context, key string) ([]Group, error) {
	if key == "" {
		return nil, errors.New("confluence: GroupsOfUserKey: empty user key")
	}
	return c.groupsOf(ctx, url.Values{"key": {key}})
}

func (c *Client) groupsOf(ctx context.Context, q url.Values) ([]Group, error) {
	var groups []Group
	err := eachPage(ctx, c, apiUserMemberOf, "/rest/api/user/memberof", q, func(page []groupJSON) error {
		for _, g := range page {
			groups = append(groups, Group{Name: g.Name})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return groups, nil
}

// IsMemberOf reports whether username belongs to group. Confluence group names are
// case-insensitive (stored lower-case), so the comparison is too.
func (c *Client) IsMemberOf(ctx context.Context, username, group string) (bool, error) {
	groups, err := c.GroupsOfUser(ctx, username)
	if err != nil {
		return false, err
	}
	for _, g := range groups {
		if strings.EqualFold(g.Name, group) {
			return true, nil
		}
	}
	return false, nil
}
