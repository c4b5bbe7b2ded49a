package dingtalk

import (
	"log/slog"
	"testing"
	"time"
)

// The race this guards (a cache miss just before another flight fills the cache) is too
// narrow to provoke from outside, so the re-check is tested directly.
func TestRefreshTokenReusesTokenCachedMeanwhile(t *testing.T) {
	c := New(Config{Endpoints: EndpointsAt("http://127.0.0.1:1"), Logger: slog.New(slog.DiscardHandler)})
	c.token, c.refreshAt = "cached", c.clock.Now().Add(time.Hour)

	tok, err := c.refreshToken(t.Context())
	if err != nil || tok != "cached" {
		t.Fatalf("refreshToken = %q, %v; want the cached token", tok, err)
	}
	if c.Calls() != 0 {
		t.Errorf("made %d requests, want none", c.Calls())
	}
}
