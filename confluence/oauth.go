package confluence

import (
	"strings"

	"golang.org/x/oauth2"
)

// OAuth 2.0 scopes of Confluence's provider (7.17+). What a token may do is further
// capped by what the authorizing user may do.
const (
	ScopeRead        = "READ" // view content and the user's own profile
	ScopeWrite       = "WRITE"
	ScopeAdmin       = "ADMIN"
	ScopeSystemAdmin = "SYSTEM_ADMIN"
)

// OAuth2Endpoint returns the authorize and token URLs of the OAuth 2.0 provider of the
// Confluence at baseURL. Confluence reads client_id and client_secret from the form body.
// Its access tokens call the REST API as the user: BearerToken(token.AccessToken).
func OAuth2Endpoint(baseURL string) oauth2.Endpoint {
	base := strings.TrimRight(baseURL, "/")
	return oauth2.Endpoint{
		AuthURL:   base + "/rest/oauth2/latest/authorize",
		TokenURL:  base + "/rest/oauth2/latest/token",
		AuthStyle: oauth2.AuthStyleInParams,
	}
}

// OAuth2Endpoint returns the OAuth 2.0 endpoints of the Confluence c talks to.
func (c *Client) OAuth2Endpoint() oauth2.Endpoint { return OAuth2Endpoint(c.base) }
