package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// loginFrom posts a sign-in as if it arrived from peer (ip:port), with an
// X-Forwarded-For header when forwardedFor is not empty, and returns the
// status.
func loginFrom(t *testing.T, app *testApp, peer, forwardedFor, username, password string) int {
	t.Helper()
	session, token := app.signedOutSession(t)
	form := url.Values{"username": {username}, "password": {password}, "_csrf": {token}}
	req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
	req.RemoteAddr = peer
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(session)
	if forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", forwardedFor)
	}
	rec := httptest.NewRecorder()
	app.Handler.ServeHTTP(rec, req)
	return rec.Code
}

// lastSignInAddress is the client address the newest audit entry recorded.
func lastSignInAddress(t *testing.T, app *testApp) string {
	t.Helper()
	entries, err := app.Store.RecentAudit(context.Background(), 1)
	if err != nil || len(entries) != 1 {
		t.Fatalf("audit: %v, %v", entries, err)
	}
	return entries[0].Address
}

// Without DINGFLUENCE_TRUSTED_PROXIES the peer is the client, whatever
// X-Forwarded-For says, also from loopback and private networks (an intranet
// or Docker set-up, where every peer is one of those).
func TestForwardedForFromAnUntrustedPeerIsIgnored(t *testing.T) {
	for _, peer := range []string{"127.0.0.1:41000", "10.1.2.3:41000", "172.17.0.1:41000", "192.168.1.20:41000"} {
		t.Run(peer, func(t *testing.T) {
			app := startApp(t)
			for i := range 5 {
				if code := loginFrom(t, app, peer, "", "admin", "wrong"); code != http.StatusUnauthorized {
					t.Fatalf("attempt %d: status %d, want 401", i+1, code)
				}
			}
			// The right password with a forged address is still the sixth attempt from peer.
			if code := loginFrom(t, app, peer, "203.0.113.3", "admin", testAdminPassword); code != http.StatusTooManyRequests {
				t.Fatalf("sign-in with a forged X-Forwarded-For after five failures: status %d, want 429", code)
			}
		})
	}

	t.Run("no lock-out of another address, no forged address in the log", func(t *testing.T) {
		app := startApp(t)
		// An attacker names the victim's address five times.
		for range 5 {
			loginFrom(t, app, "10.0.0.66:41000", "10.0.0.7", "admin", "wrong")
		}
		if got := lastSignInAddress(t, app); got != "10.0.0.66" {
			t.Fatalf("failed sign-in logged from %q, want the peer 10.0.0.66", got)
		}
		if code := loginFrom(t, app, "10.0.0.7:52000", "", "admin", testAdminPassword); code != http.StatusSeeOther {
			t.Fatalf("the victim's own sign-in: status %d, want 303", code)
		}
	})
}

// From a configured proxy the client is the rightmost X-Forwarded-For hop
// that is not a proxy: hops the client wrote itself, further left, are not
// believed.
func TestForwardedForFromATrustedProxy(t *testing.T) {
	app := startApp(t, func(c *Config) { c.TrustedProxies = "10.0.0.0/24, 10.9.9.9" })
	tests := []struct {
		name, peer, forwardedFor, want string
	}{
		{"one proxy", "10.0.0.5:3000", "198.51.100.77", "198.51.100.77"},
		{"two proxies", "10.0.0.5:3000", "198.51.100.78, 10.9.9.9", "198.51.100.78"},
		{"client-forged hop on the left", "10.0.0.5:3000", "203.0.113.1, 198.51.100.79", "198.51.100.79"},
		{"not a proxy", "10.0.1.5:3000", "198.51.100.80", "10.0.1.5"},
		{"garbage in the header", "10.0.0.5:3000", "not-an-address", "10.0.0.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loginFrom(t, app, tt.peer, tt.forwardedFor, "nobody", "wrong")
			if got := lastSignInAddress(t, app); got != tt.want {
				t.Fatalf("client address %q, want %q", got, tt.want)
			}
		})
	}
}

// A username the users table could not hold is refused with its message and
// the form keeps what was typed.
func TestLoginRefusesUnusableUsernames(t *testing.T) {
	app := startApp(t)
	tests := []struct {
		name, username, want string
	}{
		{"too long", strings.Repeat("u", 100_000), "at most 255 characters"},
		{"invalid UTF-8", "adm\xffin", "not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t)
			_, _, token := get(t, c, app.URL, "/login")
			res, body := post(t, c, app.URL, "/login", url.Values{"username": {tt.username}, "password": {"x"}, "_csrf": {token}})
			if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, tt.want) {
				t.Fatalf("status %d, want 422 with %q: %.300s", res.StatusCode, tt.want, body)
			}
			if tt.name == "too long" && !strings.Contains(body, `value="`+tt.username+`"`) {
				t.Fatal("the typed username is not in the form any more")
			}
		})
	}
}
