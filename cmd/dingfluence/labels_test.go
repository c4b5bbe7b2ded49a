package main

import (
	"net/http"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// Every form control a person fills in has a <label for> naming it, on
// every screen, so screen readers and label clicks work.
func TestEveryFormControlHasALabel(t *testing.T) {
	app := startApp(t)
	admin := newClient(t)
	signIn(t, admin, app.URL, "admin", testAdminPassword)
	pages := []struct {
		client *http.Client
		path   string
	}{
		{newClient(t), "/login"},
		{admin, "/profile"},
		{admin, "/admin/dingtalk/settings"},
		{admin, "/admin/dingtalk/departments"},
		{admin, "/admin/dingtalk/members"},
		{admin, "/admin/audit"},
	}
	for _, p := range pages {
		t.Run(p.path, func(t *testing.T) {
			status, body, _ := get(t, p.client, app.URL, p.path)
			if status != http.StatusOK {
				t.Fatalf("status %d", status)
			}
			doc, err := html.Parse(strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			labelled := map[string]bool{}
			var controls []*html.Node
			var walk func(n *html.Node)
			walk = func(n *html.Node) {
				if n.Type == html.ElementNode {
					switch n.Data {
					case "label":
						labelled[attr(n, "for")] = true
					case "input", "select", "textarea":
						if typ := attr(n, "type"); typ != "hidden" && typ != "submit" && typ != "button" {
							controls = append(controls, n)
						}
					}
				}
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c)
				}
			}
			walk(doc)
			if len(controls) == 0 {
				t.Fatal("no form controls found; the page did not render its forms")
			}
			for _, c := range controls {
				id := attr(c, "id")
				if id == "" || !labelled[id] {
					t.Errorf("<%s name=%q id=%q> has no <label for>", c.Data, attr(c, "name"), id)
				}
			}
		})
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}
