package confluence_test

import (
	"errors"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/dingfluence/dingfluence/confluence"
	"github.com/dingfluence/dingfluence/confluence/confluencetest"
)

const (
	oauthClientID     = "dingfluence-app"
	oauthClientSecret = "oauth-client-secret-42"
	oauthRedirect     = "https://dingfluence.example.com/auth/confluence/callback"
)

type oauthFixture struct {
	fixture
	conf *oauth2.Config
	// browser stops at every redirect, so the test sees where Confluence sends it.
	browser *http.Client
}

func oauthSetup(t *testing.T, opts confluencetest.Options) oauthFixture {
	t.Helper()
	f := setup(t, opts, confluence.Config{})
	f.srv.RegisterOAuthClient(oauthClientID, oauthClientSecret, oauthRedirect)
	f.srv.SetBrowserUser("alice", confluencetest.ConsentApprove)
	return oauthFixture{
		fixture: f,
		conf: &oauth2.Config{
			ClientID: oauthClientID, ClientSecret: oauthClientSecret, RedirectURL: oauthRedirect,
			Endpoint: f.c.OAuth2Endpoint(), Scopes: []string{confluence.ScopeRead},
		},
		browser: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
}

// redirectBack asserts resp redirects to the app and returns the query it carries.
func redirectBack(t *testing.T, resp *http.Response) url.Values {
	t.Helper()
	defer resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, oauthRedirect+"?") {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("authorize answered %d, Location %q, body %s; want a redirect to the app", resp.StatusCode, loc, body)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// authorize opens authURL in the browser and returns the query of the redirect back.
func (o oauthFixture) authorize(t *testing.T, authURL string) url.Values {
	t.Helper()
	resp, err := o.browser.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	return redirectBack(t, resp)
}

// codeWithPKCE runs the authorize step with a fresh verifier.
func (o oauthFixture) codeWithPKCE(t *testing.T) (code, verifier string) {
	t.Helper()
	verifier = oauth2.GenerateVerifier()
	q := o.authorize(t, o.conf.AuthCodeURL("state-1", oauth2.S256ChallengeOption(verifier)))
	if q.Get("code") == "" {
		t.Fatalf("no code in %v", q)
	}
	return q.Get("code"), verifier
}

func retrieveError(t *testing.T, err error) *oauth2.RetrieveError {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("error %v is not an *oauth2.RetrieveError", err)
	}
	return re
}

func TestOAuthCodeFlowWithPKCE(t *testing.T) {
	o := oauthSetup(t, confluencetest.Options{ContextPath: "/confluence"})
	verifier := oauth2.GenerateVerifier()
	q := o.authorize(t, o.conf.AuthCodeURL("xyz-state", oauth2.S256ChallengeOption(verifier)))
	if q.Get("state") != "xyz-state" || q.Get("code") == "" || q.Has("error") {
		t.Fatalf("redirect query %v: want the code and the state back", q)
	}

	tok, err := o.conf.Exchange(t.Context(), q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.TokenType != "Bearer" || !tok.Expiry.After(time.Now()) {
		t.Errorf("token %+v: want access and refresh tokens, Bearer, a future expiry", tok)
	}
	u, err := o.c.WithCredential(confluence.BearerToken(tok.AccessToken)).CurrentUser(t.Context())
	if err != nil || u.Username != "alice" || u.Email != "alice@example.com" {
		t.Fatalf("CurrentUser with the access token = %+v, %v; want alice", u, err)
	}

	auth := o.srv.RequestsTo("/rest/oauth2/latest/authorize")[0].Query
	if auth.Get("code_challenge_method") != "S256" || auth.Get("code_challenge") == "" || auth.Get("scope") != "READ" {
		t.Errorf("authorize query %v: want an S256 challenge and scope READ", auth)
	}
	form := o.srv.RequestsTo("/rest/oauth2/latest/token")[0].Form
	if form.Get("code_verifier") != verifier || form.Get("client_secret") != oauthClientSecret || form.Get("grant_type") != "authorization_code" {
		t.Errorf("token form %v: want the verifier and the client secret in the body", form)
	}
	last := o.srv.Requests()[len(o.srv.Requests())-1]
	if last.Auth != confluence.AuthBearer || last.Username != "alice" || !last.Authenticated {
		t.Errorf("REST call with the access token recorded as %+v", last)
	}
}

func TestOAuthTokenRefusals(t *testing.T) {
	t.Run("wrong verifier, then the right one", func(t *testing.T) {
		o := oauthSetup(t, confluencetest.Options{})
		code, verifier := o.codeWithPKCE(t)
		_, err := o.conf.Exchange(t.Context(), code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
		if re := retrieveError(t, err); re.ErrorCode != "invalid_grant" || re.Response.StatusCode != 400 {
			t.Fatalf("wrong verifier: %v", err)
		}
		if _, err := o.conf.Exchange(t.Context(), code); retrieveError(t, err).ErrorCode != "invalid_grant" {
			t.Fatalf("no verifier: %v", err)
		}
		// A refused attempt does not use the code up: the check is on the verifier.
		if _, err := o.conf.Exchange(t.Context(), code, oauth2.VerifierOption(verifier)); err != nil {
			t.Fatalf("right verifier after wrong ones: %v", err)
		}
	})

	t.Run("replayed code revokes the first token", func(t *testing.T) {
		o := oauthSetup(t, confluencetest.Options{})
		code, verifier := o.codeWithPKCE(t)
		tok, err := o.conf.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		_, err = o.conf.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
		if re := retrieveError(t, err); re.ErrorCode != "invalid_grant" || !strings.Contains(re.ErrorDescription, "already used") {
			t.Fatalf("replay: %v", err)
		}
		if _, err := o.c.WithCredential(confluence.BearerToken(tok.AccessToken)).CurrentUser(t.Context()); !confluence.IsUnauthorized(err) {
			t.Errorf("token of a replayed code still works: %v", err)
		}
	})

	t.Run("wrong client secret", func(t *testing.T) {
		o := oauthSetup(t, confluencetest.Options{})
		code, verifier := o.codeWithPKCE(t)
		bad := *o.conf
		bad.ClientSecret = "not-the-secret"
		_, err := bad.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
		if re := retrieveError(t, err); re.ErrorCode != "invalid_client" || re.Response.StatusCode != 401 {
			t.Fatalf("wrong secret: %v", err)
		}
	})

	t.Run("another client's code", func(t *testing.T) {
		o := oauthSetup(t, confluencetest.Options{})
		o.srv.RegisterOAuthClient("other-app", "other-secret", oauthRedirect)
		code, verifier := o.codeWithPKCE(t)
		other := *o.conf
		other.ClientID, other.ClientSecret = "other-app", "other-secret"
		if _, err := other.Exchange(t.Context(), code, oauth2.VerifierOption(verifier)); retrieveError(t, err).ErrorCode != "invalid_grant" {
			t.Fatalf("other client's code: %v", err)
		}
	})

	t.Run("expired code", func(t *testing.T) {
		clock := newClock()
		o := oauthSetup(t, confluencetest.Options{Clock: clock})
		code, verifier := o.codeWithPKCE(t)
		clock.Advance(confluencetest.CodeTTL)
		_, err := o.conf.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
		if re := retrieveError(t, err); re.ErrorCode != "invalid_grant" || !strings.Contains(re.ErrorDescription, "expired") {
			t.Fatalf("expired code: %v", err)
		}
	})
}

func TestOAuthAccessTokenLifetimeAndRefresh(t *testing.T) {
	clock := newClock()
	o := oauthSetup(t, confluencetest.Options{Clock: clock, AccessTokenTTL: time.Hour})
	code, verifier := o.codeWithPKCE(t)
	tok, err := o.conf.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	asAlice := func(access string) error {
		_, err := o.c.WithCredential(confluence.BearerToken(access)).CurrentUser(t.Context())
		return err
	}
	clock.Advance(time.Hour - time.Second)
	if err := asAlice(tok.AccessToken); err != nil {
		t.Fatalf("just before expiry: %v", err)
	}
	clock.Advance(time.Second)
	if err := asAlice(tok.AccessToken); !confluence.IsUnauthorized(err) {
		t.Fatalf("expired access token: %v, want 401", err)
	}

	fresh, err := o.conf.TokenSource(t.Context(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if err := asAlice(fresh.AccessToken); err != nil {
		t.Errorf("refreshed token: %v", err)
	}
	// Refresh tokens rotate: the old one is spent.
	if _, err := o.conf.TokenSource(t.Context(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); retrieveError(t, err).ErrorCode != "invalid_grant" {
		t.Errorf("old refresh token: %v", err)
	}

	o.srv.Deactivate("alice")
	if err := asAlice(fresh.AccessToken); !confluence.IsUnauthorized(err) {
		t.Errorf("token of a deactivated user: %v, want 401", err)
	}
}

var (
	hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
	formAction  = regexp.MustCompile(`<form method="post" action="([^"]+)">`)
)

func TestOAuthConsent(t *testing.T) {
	t.Run("denied at once", func(t *testing.T) {
		o := oauthSetup(t, confluencetest.Options{})
		o.srv.SetBrowserUser("alice", confluencetest.ConsentDeny)
		q := o.authorize(t, o.conf.AuthCodeURL("s-deny", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		if q.Get("error") != "access_denied" || q.Get("state") != "s-deny" || q.Has("code") {
			t.Errorf("denied consent redirected with %v; want error=access_denied, the state, no code", q)
		}
	})

	for _, decision := range []string{"approve", "deny"} {
		t.Run("consent page: "+decision, func(t *testing.T) {
			o := oauthSetup(t, confluencetest.Options{ContextPath: "/wiki"})
			o.srv.SetBrowserUser("alice", confluencetest.ConsentPage)
			verifier := oauth2.GenerateVerifier()
			resp, err := o.browser.Get(o.conf.AuthCodeURL("s-page", oauth2.S256ChallengeOption(verifier)))
			if err != nil {
				t.Fatal(err)
			}
			page, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			action := formAction.FindStringSubmatch(string(page))
			if resp.StatusCode != http.StatusOK || action == nil || !strings.Contains(string(page), "alice") {
				t.Fatalf("consent page: %d %s", resp.StatusCode, page)
			}
			form := url.Values{"decision": {decision}}
			for _, m := range hiddenInput.FindAllStringSubmatch(string(page), -1) {
				form.Add(m[1], html.UnescapeString(m[2]))
			}
			target, err := url.Parse(o.srv.URL())
			if err != nil {
				t.Fatal(err)
			}
			target.Path = html.UnescapeString(action[1])
			resp, err = o.browser.PostForm(target.String(), form)
			if err != nil {
				t.Fatal(err)
			}
			q := redirectBack(t, resp)
			if q.Get("state") != "s-page" {
				t.Errorf("state %q, want s-page", q.Get("state"))
			}
			if decision == "deny" {
				if q.Get("error") != "access_denied" || q.Has("code") {
					t.Errorf("denied on the page: %v", q)
				}
				return
			}
			if _, err := o.conf.Exchange(t.Context(), q.Get("code"), oauth2.VerifierOption(verifier)); err != nil {
				t.Errorf("code approved on the page: %v", err)
			}
		})
	}
}

func TestOAuthAuthorizeRefusals(t *testing.T) {
	tests := []struct {
		name      string
		prepare   func(o oauthFixture)
		params    func(o oauthFixture) url.Values
		wantCode  int    // HTTP status when Confluence must not redirect back
		wantError string // error= on the redirect back
		wantLogin bool   // redirected to Confluence's login page
	}{
		{"unknown client", nil, func(o oauthFixture) url.Values {
			return url.Values{"client_id": {"nope"}, "redirect_uri": {oauthRedirect}, "response_type": {"code"}}
		}, 400, "", false},
		{"redirect URL not registered", nil, func(o oauthFixture) url.Values {
			return url.Values{"client_id": {oauthClientID}, "redirect_uri": {"https://evil.example.com/cb"}, "response_type": {"code"}}
		}, 400, "", false},
		{"plain PKCE", nil, func(o oauthFixture) url.Values {
			return url.Values{"client_id": {oauthClientID}, "response_type": {"code"}, "code_challenge": {"abc"}, "code_challenge_method": {"plain"}}
		}, 0, "invalid_request", false},
		{"implicit grant", nil, func(o oauthFixture) url.Values {
			return url.Values{"client_id": {oauthClientID}, "response_type": {"token"}}
		}, 0, "unsupported_response_type", false},
		{"unknown scope", nil, func(o oauthFixture) url.Values {
			return url.Values{"client_id": {oauthClientID}, "response_type": {"code"}, "scope": {"READ EVERYTHING"}}
		}, 0, "invalid_scope", false},
		{"nobody signed in", func(o oauthFixture) { o.srv.SetBrowserUser("", confluencetest.ConsentApprove) }, func(o oauthFixture) url.Values {
			return url.Values{"client_id": {oauthClientID}, "response_type": {"code"}}
		}, 0, "", true},
		{"browser user deactivated", func(o oauthFixture) { o.srv.Deactivate("alice") }, func(o oauthFixture) url.Values {
			return url.Values{"client_id": {oauthClientID}, "response_type": {"code"}}
		}, 0, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := oauthSetup(t, confluencetest.Options{})
			if tt.prepare != nil {
				tt.prepare(o)
			}
			resp, err := o.browser.Get(o.conf.Endpoint.AuthURL + "?" + tt.params(o).Encode())
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.wantCode != 0:
				resp.Body.Close()
				if resp.StatusCode != tt.wantCode || resp.Header.Get("Location") != "" {
					t.Errorf("got %d to %q, want %d and no redirect", resp.StatusCode, resp.Header.Get("Location"), tt.wantCode)
				}
			case tt.wantLogin:
				resp.Body.Close()
				if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.Contains(loc, "/login.action?os_destination=") {
					t.Errorf("got %d to %q, want the login page", resp.StatusCode, loc)
				}
			default:
				if q := redirectBack(t, resp); q.Get("error") != tt.wantError || q.Has("code") {
					t.Errorf("redirect query %v, want error=%s", q, tt.wantError)
				}
			}
		})
	}
}
