package main

import (
	"mime"
	"net/http"
	"strings"
	"testing"
)

// Every page asks for /favicon.ico; it and the SVG the pages link to are
// images, served without a session.
func TestFaviconIsServed(t *testing.T) {
	app := startApp(t)
	tests := []struct {
		path, wantType string
	}{
		{"/favicon.ico", "image/x-icon"},
		{"/static/logo.svg", "image/svg+xml"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res, body := fetch(t, newClient(t), http.MethodGet, app.URL+tt.path, nil)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d", res.StatusCode)
			}
			mediaType, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type"))
			if mediaType != tt.wantType && !(tt.wantType == "image/x-icon" && mediaType == "image/vnd.microsoft.icon") {
				t.Fatalf("Content-Type %q, want %s", res.Header.Get("Content-Type"), tt.wantType)
			}
			if len(body) < 100 || res.Header.Get("Set-Cookie") != "" {
				t.Fatalf("%d bytes, Set-Cookie %q", len(body), res.Header.Get("Set-Cookie"))
			}
		})
	}
	if _, body, _ := get(t, newClient(t), app.URL, "/login"); !strings.Contains(body, `<link rel="icon" href="/static/logo.svg"`) {
		t.Fatalf("the log-in page links no icon: %.400s", body)
	}
}

// After Log out the log-in page says so, once, in the visitor's language.
func TestLogOutSaysSo(t *testing.T) {
	app := startApp(t)
	for _, lang := range []struct{ accept, want string }{{"en", "You have been logged out."}, {"zh-CN", "您已退出登录。"}} {
		t.Run(lang.accept, func(t *testing.T) {
			c, token := app.adminSession(t, "/profile")
			req, _ := http.NewRequest(http.MethodPost, app.URL+"/logout", strings.NewReader("_csrf="+token))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Accept-Language", lang.accept)
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login" {
				t.Fatalf("log out: status %d to %q", res.StatusCode, res.Header.Get("Location"))
			}
			_, body := fetch(t, c, http.MethodGet, app.URL+"/login", map[string]string{"Accept-Language": lang.accept})
			if !strings.Contains(body, `id="flash"><p>`+lang.want+`</p>`) {
				t.Fatalf("log-in page after log out lacks %q: %.1500s", lang.want, body)
			}
			if _, again := fetch(t, c, http.MethodGet, app.URL+"/login", nil); strings.Contains(again, `id="flash"`) {
				t.Fatal("the message is shown again on the next visit")
			}
		})
	}
}
