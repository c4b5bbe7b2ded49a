package confluence

import (
	"context"
	"errors"
	"maps"
	"net/url"
	"strconv"
)

// pageJSON decodes both paging envelopes Data Center uses:
//
//	{"results":[…],"start":0,"limit":200,"size":200,"_links":{"next":"/rest/api/…&start=200"}}
//	{"pageRequest":{…},"nextCursor":{…},"results":[…],"start":0,"limit":25,"next":"http://…/paginate?limit=25&start=25"}
//
// Only the presence of a next link matters: it says more results follow.
type pageJSON[T any] struct {
	Results []T `json:"results"`
	Start   int `json:"start"`
	Limit   int `json:"limit"`
	Links   struct {
		Next string `json:"next"`
	} `json:"_links"`
	Next string `json:"next"`
}

func (p *pageJSON[T]) hasNext() bool { return p.Links.Next != "" || p.Next != "" }

// errStopPaging ends a page walk early without it counting as a failure.
var errStopPaging = errors.New("confluence: stop paging")

// eachPage GETs path page by page and calls fn with each non-empty page of results,
// until no next link is given or fn returns an error (returned as is).
//
// It asks for start = previous start + results received rather than following the next
// link: the documented cursor-form link points at a ".../paginate" path, and a server
// that caps limit below what was asked still lines up.
func eachPage[T any](ctx context.Context, c *Client, api, path string, query url.Values, fn func([]T) error) error {
	start := 0
	for {
		q := maps.Clone(query)
		if q == nil {
			q = url.Values{}
		}
		q.Set("start", strconv.Itoa(start))
		q.Set("limit", strconv.Itoa(c.pageSize))
		var p pageJSON[T]
		if err := c.get(ctx, api, path, q, &p); err != nil {
			return err
		}
		if len(p.Results) == 0 {
			// An empty page with a next link would otherwise loop forever.
			return nil
		}
		if err := fn(p.Results); err != nil {
			return err
		}
		if !p.hasNext() {
			return nil
		}
		start += len(p.Results)
	}
}
