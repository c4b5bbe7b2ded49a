package confluencetest

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Consent is what the signed-in browser user answers when an app asks for access.
type Consent int

// The answers SetBrowserUser can be given.
const (
	// ConsentApprove approves at once, as if the user clicked Allow (the default).
	ConsentApprove Consent = iota
	// ConsentDeny refuses at once, as if the user clicked Deny.
	ConsentDeny
	// ConsentPage shows the consent page; its form posts decision=approve or deny back
	// to the authorize endpoint.
	ConsentPage
)

// knownScope reports whether sc is a scope of Confluence's OAuth 2.0 provider.
func knownScope(sc string) bool {
	switch sc {
	case "READ", "WRITE", "ADMIN", "SYSTEM_ADMIN":
		return true
	}
	return false
}

type oauthClient struct {
	id, secret, redirect string
}

// browserUser is who is signed in to Confluence in the browser that follows the
// authorize redirect, and what they answer.
type browserUser struct {
	username string
	consent  Consent
}

// authCode is one authorization code and the grant behind it.
type authCode struct {
	clientID      string
	redirectURI   string
	redirectGiven bool // redirect_uri was in the authorize request, so the token request must repeat it
	userKey       string
	challenge     string // PKCE S256 challenge; "" without PKCE
	scope         string
	expires       time.Time
	used          bool
	tokens        []*oauthToken // issued from this code, revoked if the code is replayed
}

// oauthToken is one access token with its refresh token.
type oauthToken struct {
	access, refresh string
	userKey         string
	clientID        string
	scope           string
	expires         time.Time
}

// RegisterOAuthClient registers an incoming application link: the app's client id and
// secret and the one redirect URL Confluence will send codes to.
func (s *Server) RegisterOAuthClient(id, secret, redirectURL string) {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	s.st.oauthClients[id] = &oauthClient{id: id, secret: secret, redirect: redirectURL}
}

// SetBrowserUser says who is signed in to Confluence in the browser that opens the
// authorize URL, and how they answer the consent question. An authorize request that
// carries credentials itself acts as their user instead. With nobody signed in,
// authorize redirects to Confluence's login page.
func (s *Server) SetBrowserUser(username string, consent Consent) {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	if username != "" {
		s.st.mustUser(username)
	}
	s.st.browser = browserUser{username: username, consent: consent}
}

func (s *Server) routeOAuth(mux *http.ServeMux) {
	mux.HandleFunc("GET /rest/oauth2/latest/authorize", s.authorize)
	mux.HandleFunc("POST /rest/oauth2/latest/authorize", s.authorize)
	mux.HandleFunc("POST /rest/oauth2/latest/token", s.token)
}

var consentPage = template.Must(template.New("consent").Parse(`<!DOCTYPE html>
<html><head><title>Allow access - Confluence</title></head><body>
<h1>{{.Client}} wants to access your Confluence account</h1>
<p>Signed in as {{.User}}. Scopes: {{.Scope}}</p>
<form method="post" action="{{.Action}}">
{{range $k, $vs := .Params}}{{range $vs}}<input type="hidden" name="{{$k}}" value="{{.}}">
{{end}}{{end}}<button type="submit" name="decision" value="approve">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form></body></html>
`))

// authorize is GET (and the consent form's POST) of /rest/oauth2/latest/authorize.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	p := r.Form
	st := &s.st
	st.mu.Lock()
	defer st.mu.Unlock()

	cl := st.oauthClients[p.Get("client_id")]
	if cl == nil {
		// Never redirect for an unknown client: the redirect URL is unverified.
		writeHTML(w, http.StatusBadRequest, "Invalid client_id")
		return
	}
	redirectURI, redirectGiven := p.Get("redirect_uri"), p.Has("redirect_uri")
	if !redirectGiven {
		redirectURI = cl.redirect
	} else if redirectURI != cl.redirect {
		writeHTML(w, http.StatusBadRequest, "redirect_uri does not match the application link")
		return
	}
	state := p.Get("state")
	back := func(params url.Values) {
		u, err := url.Parse(redirectURI)
		if err != nil {
			writeHTML(w, http.StatusBadRequest, "redirect_uri does not parse")
			return
		}
		q := u.Query()
		for k, v := range params {
			q[k] = v
		}
		if state != "" {
			q.Set("state", state)
		}
		u.RawQuery = q.Encode()
		http.Redirect(w, r, u.String(), http.StatusFound)
	}
	fail := func(code, desc string) { back(url.Values{"error": {code}, "error_description": {desc}}) }

	if p.Get("response_type") != "code" {
		fail("unsupported_response_type", "only response_type=code is supported")
		return
	}
	challenge, method := p.Get("code_challenge"), p.Get("code_challenge_method")
	if (challenge != "" || method != "") && (challenge == "" || method != "S256") {
		fail("invalid_request", "PKCE needs code_challenge with code_challenge_method=S256")
		return
	}
	scope := strings.Join(strings.Fields(p.Get("scope")), " ")
	for _, sc := range strings.Fields(scope) {
		if !knownScope(sc) {
			fail("invalid_scope", "unknown scope "+sc)
			return
		}
	}

	user := st.users[callerOf(r).key]
	if user == nil {
		user = st.userByName(st.browser.username)
	}
	if user == nil || user.Deactivated {
		http.Redirect(w, r, s.opts.ContextPath+"/login.action?os_destination="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
		return
	}

	decision := "approve"
	switch {
	case r.Method == http.MethodPost:
		decision = p.Get("decision")
	case st.browser.consent == ConsentDeny:
		decision = "deny"
	case st.browser.consent == ConsentPage:
		params := url.Values{}
		for _, k := range []string{"client_id", "redirect_uri", "response_type", "state", "scope", "code_challenge", "code_challenge_method"} {
			if p.Has(k) {
				params[k] = p[k]
			}
		}
		w.Header().Set("Content-Type", "text/html;charset=UTF-8")
		_ = consentPage.Execute(w, map[string]any{
			"Client": cl.id, "User": user.Username, "Scope": scope,
			"Action": s.opts.ContextPath + r.URL.Path, "Params": params,
		})
		return
	}
	if decision != "approve" {
		fail("access_denied", "the user denied access")
		return
	}
	code := newSecret()
	st.codes[code] = &authCode{
		clientID: cl.id, redirectURI: redirectURI, redirectGiven: redirectGiven, userKey: user.Key,
		challenge: challenge, scope: scope, expires: s.clock.Now().Add(CodeTTL),
	}
	back(url.Values{"code": {code}})
}

// token is POST /rest/oauth2/latest/token: authorization_code (with PKCE when the
// authorize request had a challenge) and refresh_token grants.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	p := r.PostForm
	id, secret := p.Get("client_id"), p.Get("client_secret")
	if u, pw, ok := r.BasicAuth(); ok {
		// RFC 6749 §2.3.1: the header form is URL-encoded first.
		id, _ = url.QueryUnescape(u)
		secret, _ = url.QueryUnescape(pw)
	}
	st := &s.st
	st.mu.Lock()
	defer st.mu.Unlock()
	cl := st.oauthClients[id]
	if cl == nil || subtle.ConstantTimeCompare([]byte(secret), []byte(cl.secret)) != 1 {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	now := s.clock.Now()
	switch p.Get("grant_type") {
	case "authorization_code":
		code := st.codes[p.Get("code")]
		switch {
		case code == nil || code.clientID != cl.id:
			oauthError(w, http.StatusBadRequest, "invalid_grant", "unknown authorization code")
		case code.used:
			// RFC 6749 §4.1.2: a replayed code revokes what it was exchanged for.
			for _, t := range code.tokens {
				delete(st.access, t.access)
				delete(st.refresh, t.refresh)
			}
			oauthError(w, http.StatusBadRequest, "invalid_grant", "authorization code already used")
		case !now.Before(code.expires):
			oauthError(w, http.StatusBadRequest, "invalid_grant", "authorization code expired")
		case (code.redirectGiven || p.Has("redirect_uri")) && p.Get("redirect_uri") != code.redirectURI:
			oauthError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri does not match the authorize request")
		case code.challenge != "" && !pkceMatches(p.Get("code_verifier"), code.challenge):
			oauthError(w, http.StatusBadRequest, "invalid_grant", "PKCE verification failed")
		default:
			code.used = true
			t := st.issueToken(code.userKey, cl.id, code.scope, now.Add(s.opts.AccessTokenTTL))
			code.tokens = append(code.tokens, t)
			s.writeToken(w, t, now)
		}
	case "refresh_token":
		old := st.refresh[p.Get("refresh_token")]
		if old == nil || old.clientID != cl.id {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "unknown refresh token")
			return
		}
		delete(st.access, old.access)
		delete(st.refresh, old.refresh)
		t := st.issueToken(old.userKey, cl.id, old.scope, now.Add(s.opts.AccessTokenTTL))
		s.writeToken(w, t, now)
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
	}
}

// issueToken creates an access token with its refresh token; mu is held.
func (st *state) issueToken(userKey, clientID, scope string, expires time.Time) *oauthToken {
	t := &oauthToken{access: newSecret(), refresh: newSecret(), userKey: userKey, clientID: clientID, scope: scope, expires: expires}
	st.access[t.access] = t
	st.refresh[t.refresh] = t
	return t
}

func (s *Server) writeToken(w http.ResponseWriter, t *oauthToken, now time.Time) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": t.access, "refresh_token": t.refresh, "token_type": "Bearer",
		"expires_in": int64(t.expires.Sub(now) / time.Second), "scope": t.scope,
	})
}

// pkceMatches checks BASE64URL(SHA256(verifier)) against the S256 challenge (RFC 7636).
func pkceMatches(verifier, challenge string) bool {
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, map[string]any{"error": code, "error_description": desc})
}

func writeHTML(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/html;charset=UTF-8")
	w.WriteHeader(status)
	_ = consentError.Execute(w, msg)
}

var consentError = template.Must(template.New("error").Parse(
	`<!DOCTYPE html><html><head><title>{{.}} - Confluence</title></head><body><p>{{.}}</p></body></html>`))
