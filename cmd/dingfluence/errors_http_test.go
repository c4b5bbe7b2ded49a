package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// fetch sends method to path with headers and returns the response with its
// body read.
func fetch(t *testing.T, c *http.Client, method, url string, headers map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

// A domain error reaches the visitor through the one mapper: as a page in the
// chrome for a browser, as a fragment for htmx, as plain status text on a
// machine route, in the visitor's language.
func TestErrorsAreAnsweredByKind(t *testing.T) {
	app := startApp(t)
	admin, _ := app.adminSession(t, "/admin")
	tests := []struct {
		name       string
		client     *http.Client
		method     string
		path       string
		headers    map[string]string
		status     int
		want       []string
		wantAbsent []string
	}{
		{"unknown department, full page", admin, http.MethodGet, "/admin/dingtalk/members?dept=42", nil, http.StatusNotFound,
			[]string{"<title>Page not found - dingfluence</title>", `class="aui-header`, `id="admin-sidebar"`, `id="nav-members" aria-current`, `id="error-message"`, "That department has not been synced"}, nil},
		{"unknown department, in Chinese", admin, http.MethodGet, "/admin/dingtalk/members?dept=42", map[string]string{"Accept-Language": "zh-CN"}, http.StatusNotFound,
			[]string{`id="error-message"`}, []string{"That department has not been synced"}},
		{"unknown sync run, htmx", admin, http.MethodGet, "/admin/dingtalk/syncs/999", map[string]string{"HX-Request": "true"}, http.StatusNotFound,
			[]string{`id="error-message"`, "That sync run does not exist."}, []string{"<html", "aui-header"}},
		// Refused by whichever guard comes first (status 0: any 4xx), in words
		// a load balancer's log can show.
		{"probe with a wrong method", newClient(t), http.MethodPost, "/healthz", nil, 0,
			nil, []string{"<", "error."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := fetch(t, tt.client, tt.method, app.URL+tt.path, tt.headers)
			if tt.status == 0 && (res.StatusCode < 400 || res.StatusCode > 499 || body != http.StatusText(res.StatusCode)) {
				t.Fatalf("status %d, body %q; want a 4xx with its status text", res.StatusCode, body)
			}
			if tt.status != 0 && res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d; body %.400s", res.StatusCode, tt.status, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %q: %.600s", w, body)
				}
			}
			for _, w := range tt.wantAbsent {
				if strings.Contains(body, w) {
					t.Errorf("body has %q: %.600s", w, body)
				}
			}
		})
	}
}
