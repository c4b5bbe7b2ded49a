package confluence

import (
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
)

// AuthKind says how a Credential authenticates.
type AuthKind string

// The ways a request can authenticate.
const (
	AuthNone   AuthKind = "none"   // anonymous
	AuthBearer AuthKind = "bearer" // personal access token or OAuth 2.0 access token
	AuthBasic  AuthKind = "basic"  // username with password
)

// Credential is how a Client authenticates. Its secret is only ever written into the
// Authorization header: String, GoString and LogValue leave it out, so a Credential
// printed by mistake leaks nothing.
type Credential struct {
	kind     AuthKind
	username string
	secret   string
}

// BearerToken authenticates with a personal access token (Confluence 7.9+) or an OAuth
// 2.0 access token.
func BearerToken(token string) Credential {
	return Credential{kind: AuthBearer, secret: token}
}

// BasicAuth authenticates as username with a password. Data Center takes personal access
// tokens only as BearerToken (confluence-api.md §4.3).
func BasicAuth(username, secret string) Credential {
	return Credential{kind: AuthBasic, username: username, secret: secret}
}

// Kind reports how the credential authenticates; the zero Credential is AuthNone.
func (c Credential) Kind() AuthKind {
	if c.kind == "" || c.secret == "" {
		return AuthNone
	}
	return c.kind
}

// Username is the username of a Basic credential, "" otherwise.
func (c Credential) Username() string { return c.username }

// String describes the credential without its secret.
func (c Credential) String() string {
	switch c.Kind() {
	case AuthBearer:
		return "bearer token"
	case AuthBasic:
		return fmt.Sprintf("basic auth as %q", c.username)
	}
	return "anonymous"
}

// GoString keeps %#v from printing the secret.
func (c Credential) GoString() string { return "confluence.Credential(" + c.String() + ")" }

// LogValue keeps slog from printing the secret.
func (c Credential) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("kind", string(c.Kind()))}
	if c.Kind() == AuthBasic {
		attrs = append(attrs, slog.String("username", c.username))
	}
	return slog.GroupValue(attrs...)
}

// apply sets the Authorization header; the anonymous credential sets none.
func (c Credential) apply(h http.Header) {
	switch c.Kind() {
	case AuthBearer:
		h.Set("Authorization", "Bearer "+c.secret)
	case AuthBasic:
		h.Set("Authorization", "Basic "+c.basicBlob())
	}
}

func (c Credential) basicBlob() string {
	return base64.StdEncoding.EncodeToString([]byte(c.username + ":" + c.secret))
}

// scrub removes every form of the secret that could have been echoed back (the raw
// secret, and the Basic header value), so an answer body can become an error message.
func (c Credential) scrub(s string) string {
	if c.Kind() == AuthNone {
		return s
	}
	s = strings.ReplaceAll(s, c.secret, "[redacted]")
	if c.Kind() == AuthBasic {
		s = strings.ReplaceAll(s, c.basicBlob(), "[redacted]")
	}
	return s
}
