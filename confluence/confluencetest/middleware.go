package confluencetest

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"time"

	"github.com/dingfluence/dingfluence/confluence"
)

// authOther marks an Authorization header of a scheme Confluence does not know.
const authOther confluence.AuthKind = "other"

// credentials is what an Authorization header carried.
type credentials struct {
	kind             confluence.AuthKind
	username, secret string
}

func parseAuthorization(h string) credentials {
	if h == "" {
		return credentials{kind: confluence.AuthNone}
	}
	scheme, rest, _ := strings.Cut(h, " ")
	rest = strings.TrimSpace(rest)
	switch strings.ToLower(scheme) {
	case "bearer":
		return credentials{kind: confluence.AuthBearer, secret: rest}
	case "basic":
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return credentials{kind: confluence.AuthBasic, secret: rest}
		}
		user, pass, _ := strings.Cut(string(raw), ":")
		return credentials{kind: confluence.AuthBasic, username: user, secret: pass}
	}
	return credentials{kind: authOther, secret: rest}
}

// caller is who a request acts as; the zero caller is anonymous.
type caller struct {
	key string
	// oauth is set for OAuth 2.0 access tokens, which Confluence keeps away from some
	// resources (watchers, §3.2) however privileged the user.
	oauth bool
	scope string
}

func (c caller) anonymous() bool { return c.key == "" }

type callerKey struct{}

func callerOf(r *http.Request) caller {
	c, _ := r.Context().Value(callerKey{}).(caller)
	return c
}

// authenticate resolves credentials to a caller; ok is false when they were refused.
// named is the username the credentials point at, for the request record. mu is held.
func (st *state) authenticate(c credentials, now time.Time) (who caller, named string, ok bool) {
	var u *User
	switch c.kind {
	case confluence.AuthNone:
		return caller{}, "", true
	case confluence.AuthBearer:
		if key, found := st.pats[c.secret]; found {
			u = st.users[key]
		} else if t := st.access[c.secret]; t != nil {
			u = st.users[t.userKey]
			if u != nil && now.Before(t.expires) {
				who.oauth, who.scope = true, t.scope
			} else {
				return caller{}, nameOf(u), false
			}
		}
	case confluence.AuthBasic:
		u = st.userByName(c.username)
		// Basic takes the password only: Data Center's personal access tokens are sent as
		// "Bearer <token>" (confluence-api.md §4.3), and a PAT used as a Basic password is
		// a failed password login.
		if u != nil && !(u.Password != "" && c.secret == u.Password) {
			return caller{}, u.Username, false
		}
	}
	if u == nil || u.Deactivated {
		return caller{}, nameOf(u), false
	}
	who.key = u.Key
	return who, u.Username, true
}

func nameOf(u *User) string {
	if u == nil {
		return ""
	}
	return u.Username
}

// takeFault consumes one use of the first fault matching path; mu is held.
func (st *state) takeFault(path string) (Fault, bool) {
	for i := range st.faults {
		f := &st.faults[i]
		if f.left > 0 && strings.HasPrefix(path, f.Path) {
			f.left--
			return f.Fault, true
		}
	}
	return Fault{}, false
}

// middleware records every request, applies injected faults, refuses bad credentials
// with Confluence's 401 and passes the caller on to the handlers.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read a form body before taking the lock so a slow client stalls nobody else.
		if r.Method == http.MethodPost {
			_ = r.ParseForm()
		}
		creds := parseAuthorization(r.Header.Get("Authorization"))

		st := &s.st
		st.mu.Lock()
		who, named, ok := st.authenticate(creds, s.clock.Now())
		if creds.kind == confluence.AuthBasic && named == "" {
			named = creds.username
		}
		idx := len(st.requests)
		st.requests = append(st.requests, Request{
			Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Form: cloneValues(r.PostForm),
			Auth: creds.kind, Username: named, Secret: creds.secret, Authenticated: ok && !who.anonymous(),
		})
		fault, faulty := st.takeFault(r.URL.Path)
		st.mu.Unlock()

		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			st.mu.Lock()
			defer st.mu.Unlock()
			if idx < len(st.requests) { // ResetRequests may have run meanwhile
				st.requests[idx].Status = rec.status
			}
		}()
		if faulty && s.applyFault(rec, r, fault) {
			return
		}
		// The OAuth endpoints authenticate clients and browser users their own way.
		if !ok && !strings.HasPrefix(r.URL.Path, "/rest/oauth2/") {
			writeAuthFailed(rec, creds.kind)
			return
		}
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), callerKey{}, who)))
	})
}

// applyFault carries out f; it reports whether the request has been dealt with.
func (s *Server) applyFault(w *statusRecorder, r *http.Request, f Fault) bool {
	if f.Reached != nil {
		select {
		case f.Reached <- struct{}{}:
		case <-r.Context().Done():
			return true
		case <-s.stop:
			return true
		}
	}
	if f.Delay > 0 {
		select {
		case <-s.clock.After(f.Delay):
		case <-r.Context().Done():
			return true
		case <-s.stop:
			return true
		}
	}
	switch {
	case f.Stall:
		select {
		case <-r.Context().Done():
		case <-s.stop:
		}
		return true
	case f.Drop:
		// Cut the answer short after its headers: a connection closed before any answer
		// would be retried silently by Go's transport on a reused connection, making the
		// fault depend on connection reuse.
		if hj, ok := w.ResponseWriter.(http.Hijacker); ok {
			if conn, buf, err := hj.Hijack(); err == nil {
				_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: " + jsonContentType + "\r\nContent-Length: 1000\r\n\r\n{\"res")
				_ = buf.Flush()
				_ = conn.Close()
			}
		}
		return true
	case f.Status == 0 && f.Body == "":
		return false
	}
	status := f.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	if f.Body == "" {
		writeError(w, status, faultMessage(status))
		return true
	}
	ct := f.ContentType
	if ct == "" {
		ct = "text/plain;charset=UTF-8"
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(status)
	_, _ = w.Write([]byte(f.Body))
	return true
}

func faultMessage(status int) string {
	switch status {
	case http.StatusTooManyRequests:
		return "Rate limit exceeded. Please retry later."
	case http.StatusServiceUnavailable:
		return "Confluence is starting up. Please try again later."
	}
	return "confluencetest: injected " + http.StatusText(status)
}

// statusRecorder remembers the status written, for the request record.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}
