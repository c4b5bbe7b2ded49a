package confluence

import (
	"context"
	"errors"
	"fmt"
	"net/url"
)

// Short API names of the watcher calls, for errors, logs and metric labels.
const (
	apiPageWatchers   = "content.watchers"
	apiSpaceWatchers  = "space.watchers"
	apiLegacyWatchers = "json.listwatchers"
)

// WatcherSource says where a watcher list came from.
type WatcherSource string

// The two ways Data Center lists watchers (§3.2, §3.3).
const (
	// WatchersREST: GET /rest/api/content/{id}/watchers and /rest/api/space/{key}/watchers (9.0+).
	WatchersREST WatcherSource = "rest"
	// WatchersLegacy: /json/listwatchers.action, the JSON behind "Manage watchers" on
	// versions without the REST resources.
	WatchersLegacy WatcherSource = "listwatchers"
)

// Watchers are the users watching a piece of content and those watching its space. A
// user can be in both; UserKeys de-duplicates.
type Watchers struct {
	Page   []User
	Space  []User
	Source WatcherSource
}

// UserKeys returns every watcher's userKey once, page watchers first, in listing order.
// Users without a key (which Confluence should never list) are left out.
func (w Watchers) UserKeys() []string {
	seen := make(map[string]struct{}, len(w.Page)+len(w.Space))
	keys := make([]string, 0, len(w.Page)+len(w.Space))
	for _, list := range [][]User{w.Page, w.Space} {
		for _, u := range list {
			if _, dup := seen[u.Key]; dup || u.Key == "" {
				continue
			}
			seen[u.Key] = struct{}{}
			keys = append(keys, u.Key)
		}
	}
	return keys
}

// watcherJSON is one result of the 9.0+ watcher resources: a user, per the docs; the
// Cloud-style {"type":"watch","watcher":{…}} wrapper is accepted too.
type watcherJSON struct {
	userJSON
	Watcher *userJSON `json:"watcher"`
}

func (j watcherJSON) user() User {
	if j.Watcher != nil {
		return j.Watcher.user()
	}
	return j.userJSON.user()
}

func watcherPages(ctx context.Context, c *Client, api, path string, fn func([]User) error) error {
	return eachPage(ctx, c, api, path, nil, func(page []watcherJSON) error {
		users := make([]User, len(page))
		for i, j := range page {
			users[i] = j.user()
		}
		return fn(users)
	})
}

// PageWatcherPages calls fn with each page of the users watching content id, through the
// 9.0+ resource (Confluence or space administrators only; OAuth tokens are refused).
// An older Confluence answers 404: see Watchers for the fallback.
func (c *Client) PageWatcherPages(ctx context.Context, id string, fn func([]User) error) error {
	if !ValidContentID(id) {
		return fmt.Errorf("confluence: PageWatcherPages: invalid content id %q", id)
	}
	return watcherPages(ctx, c, apiPageWatchers, "/rest/api/content/"+id+"/watchers", fn)
}

// SpaceWatcherPages calls fn with each page of the users watching the space, through the
// 9.0+ resource (same rights as PageWatcherPages).
func (c *Client) SpaceWatcherPages(ctx context.Context, spaceKey string, fn func([]User) error) error {
	if spaceKey == "" {
		return errors.New("confluence: SpaceWatcherPages: empty space key")
	}
	return watcherPages(ctx, c, apiSpaceWatchers, "/rest/api/space/"+url.PathEscape(spaceKey)+"/watchers", fn)
}

// legacyWatcherJSON is one entry of /json/listwatchers.action.
type legacyWatcherJSON struct {
	Name     string `json:"name"`
	UserKey  string `json:"userKey"`
	FullName string `json:"fullName"`
	Type     string `json:"type"`
}

func (j legacyWatcherJSON) user() User {
	// The action reports no account status; listed watchers count as active, as users
	// whose status was not reported do elsewhere.
	return User{Key: j.UserKey, Username: j.Name, DisplayName: j.FullName, Active: true}
}

// LegacyWatchers lists the page and space watchers of content id in one call to
// /json/listwatchers.action, the unsupported JSON behind Confluence's "Manage watchers"
// dialog (a space or Confluence administrator is needed). It does not page.
func (c *Client) LegacyWatchers(ctx context.Context, id string) (Watchers, error) {
	if !ValidContentID(id) {
		return Watchers{}, fmt.Errorf("confluence: LegacyWatchers: invalid content id %q", id)
	}
	var j struct {
		PageWatchers  []legacyWatcherJSON `json:"pageWatchers"`
		SpaceWatchers []legacyWatcherJSON `json:"spaceWatchers"`
	}
	if err := c.get(ctx, apiLegacyWatchers, "/json/listwatchers.action", url.Values{"pageId": {id}}, &j); err != nil {
		return Watchers{}, err
	}
	w := Watchers{Source: WatchersLegacy, Page: make([]User, 0, len(j.PageWatchers)), Space: make([]User, 0, len(j.SpaceWatchers))}
	for _, e := range j.PageWatchers {
		w.Page = append(w.Page, e.user())
	}
	for _, e := range j.SpaceWatchers {
		w.Space = append(w.Space, e.user())
	}
	return w, nil
}

// Watchers returns who watches content id and its space (spaceKey; "" skips the space).
// It uses the 9.0+ REST resources, every page of them; when the page resource answers
// 404 before any result — a Confluence older than 9.0 — it falls back to LegacyWatchers,
// which lists both at once. If the content itself is gone the fallback's 404 is returned.
func (c *Client) Watchers(ctx context.Context, id, spaceKey string) (Watchers, error) {
	w := Watchers{Source: WatchersREST}
	pages := 0
	err := c.PageWatcherPages(ctx, id, func(page []User) error {
		pages++
		w.Page = append(w.Page, page...)
		return nil
	})
	if IsNotFound(err) && pages == 0 {
		c.log.DebugContext(ctx, "confluence: no watcher REST resource, using listwatchers.action")
		return c.LegacyWatchers(ctx, id)
	}
	if err != nil {
		return Watchers{}, err
	}
	if spaceKey == "" {
		return w, nil
	}
	err = c.SpaceWatcherPages(ctx, spaceKey, func(page []User) error {
		w.Space = append(w.Space, page...)
		return nil
	})
	if err != nil {
		return Watchers{}, err
	}
	return w, nil
}
