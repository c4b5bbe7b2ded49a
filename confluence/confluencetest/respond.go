package confluencetest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/dingfluence/dingfluence/confluence"
)

const jsonContentType = "application/json;charset=UTF-8"

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", jsonContentType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers in the shape of Confluence's REST error body.
func writeError(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, map[string]any{
		"statusCode": status,
		"data":       map[string]any{"authorized": false, "valid": true, "errors": []any{}, "successful": false},
		"message":    message,
		"reason":     http.StatusText(status),
	})
}

// writeAuthFailed is Confluence's answer to credentials it refuses.
func writeAuthFailed(w http.ResponseWriter, kind confluence.AuthKind) {
	if kind == confluence.AuthBasic {
		// Seraph, Confluence's authenticator, says why in a header.
		w.Header().Set("X-Seraph-LoginReason", "AUTHENTICATED_FAILED")
	}
	writeError(w, http.StatusUnauthorized, "Authentication failed. Please check your credentials and try again.")
}

// requireUser answers 401 for anonymous requests and reports whether to go on.
func requireUser(w http.ResponseWriter, r *http.Request) (caller, bool) {
	c := callerOf(r)
	if c.anonymous() {
		writeError(w, http.StatusUnauthorized, "This resource requires a signed-in user.")
		return c, false
	}
	return c, true
}

// baseURL is the absolute base of this request's Confluence, context path included.
func (s *Server) baseURL(r *http.Request) string {
	return "http://" + r.Host + s.opts.ContextPath
}

// expands returns the set of expand= values, which Confluence takes comma-separated.
func expands(r *http.Request) map[string]bool {
	out := map[string]bool{}
	for _, v := range r.URL.Query()["expand"] {
		for _, e := range strings.Split(v, ",") {
			if e = strings.TrimSpace(e); e != "" {
				out[e] = true
			}
		}
	}
	return out
}

// writePage answers one page of items from start/limit in the request, capping limit at
// Options.MaxLimit, in the envelope the server is configured for.
func (s *Server) writePage(w http.ResponseWriter, r *http.Request, items []any) {
	s.writePageFunc(w, r, len(items), func(i int) any { return items[i] })
}

// writePageFunc is writePage over n items that item renders on demand, so a page of 200
// out of 10,000 watchers renders 200 users, not 10,000.
func (s *Server) writePageFunc(w http.ResponseWriter, r *http.Request, n int, item func(i int) any) {
	q := r.URL.Query()
	start, _ := strconv.Atoi(q.Get("start"))
	start = max(start, 0)
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil || limit <= 0 || limit > s.opts.MaxLimit {
		limit = s.opts.MaxLimit
	}
	from, to := min(start, n), min(start+limit, n)
	page := make([]any, 0, to-from)
	for i := from; i < to; i++ {
		page = append(page, item(i))
	}
	more := start+limit < n
	base := s.baseURL(r)
	// Links are built from the request path and query, with start moved.
	link := func(at int) string {
		lq := url.Values{}
		for k, v := range q {
			lq[k] = v
		}
		lq.Set("start", strconv.Itoa(at))
		lq.Set("limit", strconv.Itoa(limit))
		return r.URL.Path + "?" + lq.Encode()
	}

	if s.opts.Envelope == EnvelopeCursor {
		// Exactly the documented shape, odd "../paginate" links included.
		paginate := func(at int) string {
			return base + "/rest/api/latest/../paginate?limit=" + strconv.Itoa(limit) + "&start=" + strconv.Itoa(at)
		}
		body := map[string]any{
			"pageRequest": map[string]any{"start": start, "limit": limit},
			"results":     page,
			"start":       start,
			"limit":       limit,
			"self":        paginate(start),
		}
		if more {
			body["nextCursor"] = map[string]any{"reverse": false, "cursorType": "USER"}
			body["next"] = paginate(start + limit)
		}
		if start > 0 {
			body["prevCursor"] = map[string]any{"reverse": true, "cursorType": "USER"}
			body["prev"] = paginate(max(start-limit, 0))
		}
		writeJSON(w, http.StatusOK, body)
		return
	}
	links := map[string]any{"base": base, "context": s.opts.ContextPath, "self": base + link(start)}
	if more {
		links["next"] = link(start + limit)
	}
	if start > 0 {
		links["prev"] = link(max(start-limit, 0))
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"results": page, "start": start, "limit": limit, "size": len(page), "_links": links,
	})
}
