package confluence

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/url"
	"strconv"
	"time"
)

// Short API names of the content area, for errors, logs and metric labels.
const (
	apiContent       = "content.by_id"
	apiContentSearch = "content.search"
)

// ContentType is the kind of a piece of content.
type ContentType string

// The content types dingfluence notifies about.
const (
	ContentPage     ContentType = "page"
	ContentBlogPost ContentType = "blogpost"
)

// ContentStatus is a piece of content's status.
type ContentStatus string

// The statuses Data Center reports; only current content is worth a notification.
const (
	ContentCurrent    ContentStatus = "current"
	ContentDraft      ContentStatus = "draft"
	ContentTrashed    ContentStatus = "trashed"
	ContentHistorical ContentStatus = "historical"
)

// Space is the space a piece of content lives in.
type Space struct {
	Key  string
	Name string
}

// Version is one version of a piece of content.
type Version struct {
	Number  int
	Message string // the "What did you change?" comment; usually ""
	// MinorEdit is true when "Notify watchers" was unticked. Reported unreliable
	// (it may come back false for minor edits, §1.6), but true is worth honouring.
	MinorEdit bool
	When      time.Time
	By        User // the editor; Key is the userKey webhooks carry
}

// Content is a page or blog post with what a notification needs.
type Content struct {
	ID      string
	Type    ContentType
	Status  ContentStatus
	Title   string
	Space   Space
	Version Version
	// CreatedBy is the author of the first version (history.createdBy).
	CreatedBy User
	// WebURL opens the content: _links.base + _links.webui.
	WebURL string
	// DiffURL is Confluence's "View changes" between the previous version and this one;
	// "" for version 1, which has nothing to compare with.
	DiffURL string
	// AncestorIDs are the ids of the parent pages, the space's root first; view
	// restrictions of each of them apply to this content too.
	AncestorIDs []string
}

// contentExpand asks for everything Content carries in one call.
const contentExpand = "space,version,history,ancestors"

// restContentJSON is /rest/api/content/{id} with contentExpand.
type restContentJSON struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Status string `json:"status"`
	Title  string `json:"title"`
	Space  struct {
		Key  string `json:"key"`
		Name string `json:"name"`
	} `json:"space"`
	Version struct {
		Number    int      `json:"number"`
		Message   string   `json:"message"`
		MinorEdit bool     `json:"minorEdit"`
		When      string   `json:"when"`
		By        userJSON `json:"by"`
	} `json:"version"`
	History struct {
		CreatedBy userJSON `json:"createdBy"`
	} `json:"history"`
	Ancestors []struct {
		ID string `json:"id"`
	} `json:"ancestors"`
	Links struct {
		Base  string `json:"base"`
		WebUI string `json:"webui"`
	} `json:"_links"`
}

func (j restContentJSON) content(fallbackBase string) Content {
	c := Content{
		ID:     j.ID,
		Type:   ContentType(j.Type),
		Status: ContentStatus(j.Status),
		Title:  j.Title,
		Space:  Space{Key: j.Space.Key, Name: j.Space.Name},
		Version: Version{
			Number:    j.Version.Number,
			Message:   j.Version.Message,
			MinorEdit: j.Version.MinorEdit,
			By:        j.Version.By.user(),
		},
		CreatedBy: j.History.CreatedBy.user(),
	}
	if t, err := time.Parse(time.RFC3339Nano, j.Version.When); err == nil {
		c.Version.When = t
	}
	for _, a := range j.Ancestors {
		c.AncestorIDs = append(c.AncestorIDs, a.ID)
	}
	base := j.Links.Base
	if base == "" {
		base = fallbackBase
	}
	if j.Links.WebUI != "" {
		c.WebURL = base + j.Links.WebUI
	}
	c.DiffURL = DiffURL(base, c.ID, c.Version.Number)
	return c
}

// DiffURL is Confluence's "View changes" link between version n-1 and n of content id,
// below base (Confluence's base URL); "" when n < 2.
func DiffURL(base, id string, n int) string {
	if n < 2 || id == "" {
		return ""
	}
	q := url.Values{
		"pageId":               {id},
		"selectedPageVersions": {strconv.Itoa(n - 1), strconv.Itoa(n)},
	}
	return base + "/pages/diffpagesbyversion.action?" + q.Encode()
}

// Content returns the page or blog post with the given id in any status (status=any, so
// trashed content is reported as such rather than missing). Content that was purged,
// or that the credential may not see, is an *Error with status 404 (IsNotFound).
func (c *Client) Content(ctx context.Context, id string) (Content, error) {
	if !ValidContentID(id) {
		return Content{}, fmt.Errorf("confluence: Content: invalid content id %q", id)
	}
	var j restContentJSON
	q := url.Values{"status": {"any"}, "expand": {contentExpand}}
	if err := c.get(ctx, apiContent, "/rest/api/content/"+id, q, &j); err != nil {
		return Content{}, err
	}
	return j.content(c.base), nil
}

// SearchContentPages runs a CQL query through /rest/api/content/search and calls fn with
// each page of results until the last page or until fn returns an error (returned as
// is). Results carry the same fields as Content.
func (c *Client) SearchContentPages(ctx context.Context, cql string, fn func([]Content) error) error {
	if cql == "" {
		return fmt.Errorf("confluence: SearchContentPages: empty CQL")
	}
	q := url.Values{"cql": {cql}, "expand": {contentExpand}}
	return eachPage(ctx, c, apiContentSearch, "/rest/api/content/search", q, func(page []restContentJSON) error {
		out := make([]Content, len(page))
		for i, j := range page {
			out[i] = j.content(c.base)
		}
		return fn(out)
	})
}

// SearchContent streams the results of a CQL query; breaking out of the loop stops the
// paging. A failure is yielded once, as the last element.
func (c *Client) SearchContent(ctx context.Context, cql string) iter.Seq2[Content, error] {
	return func(yield func(Content, error) bool) {
		err := c.SearchContentPages(ctx, cql, func(page []Content) error {
			for _, ct := range page {
				if !yield(ct, nil) {
					return errStopPaging
				}
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStopPaging) {
			yield(Content{}, err)
		}
	}
}

// cqlTimeLayout is the CQL date-time form ("yyyy/MM/dd HH:mm"); CQL has minute precision.
const cqlTimeLayout = "2006/01/02 15:04"

// ChangedSinceCQL is the reconciliation query: pages and blog posts modified at or after
// since, oldest first. CQL reads dates in the time zone of the calling user's Confluence
// profile, so pass since in that zone (time.In); the minute is rounded down, so the
// window overlaps rather than misses and the caller dedupes on (content id, version).
func ChangedSinceCQL(since time.Time) string {
	return fmt.Sprintf(`type in (page,blogpost) and lastmodified >= "%s" order by lastmodified asc`,
		since.Format(cqlTimeLayout))
}
