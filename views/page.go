// Package views renders the screens with templ. Components only format what
// they are given; they never load data.
package views

import (
	"context"
	"strings"

	"github.com/dingfluence/dingfluence/locale"
)

// Viewer is the signed-in person as the chrome shows them.
type Viewer struct {
	Username    string
	DisplayName string // already translated where it is ours (the local admin's)
	IsAdmin     bool   // the header links to the administration console
}

// Page carries what every full page needs besides its own content.
type Page struct {
	Title  string // already translated
	Nav    string // key of the selected left-navigation entry
	Viewer *Viewer
	CSRF   string
	Flash  string // already translated success message, shown once
}

// NavItem is one entry of the administration sidebar.
type NavItem struct {
	Key   string
	Href  string
	Label string // message id
	Icon  string // AUI icon-font class, shown alone when the sidebar is collapsed
}

// NavGroup is one headed group of the administration sidebar.
type NavGroup struct {
	Heading string // message id
	Items   []NavItem
}

// adminNav lists the groups of administration screens, in sidebar order.
// Only screens that exist are listed.
func adminNav() []NavGroup {
	return []NavGroup{
		{Heading: "nav.confluence", Items: []NavItem{
			{Key: "confluence", Href: "/admin/confluence", Label: "nav.confluenceConnection", Icon: "aui-iconfont-confluence"},
		}},
		{Heading: "nav.dingtalk", Items: []NavItem{
			{Key: "settings", Href: "/admin/dingtalk/settings", Label: "nav.settings", Icon: "aui-iconfont-settings"},
			{Key: "departments", Href: "/admin/dingtalk/departments", Label: "nav.departments", Icon: "aui-iconfont-people-group"},
			{Key: "members", Href: "/admin/dingtalk/members", Label: "nav.members", Icon: "aui-iconfont-people"},
			{Key: "deliveries", Href: DeliveriesPath, Label: "nav.deliveries", Icon: "aui-iconfont-send"},
		}},
		{Heading: "nav.system", Items: []NavItem{
			{Key: "audit", Href: "/admin/audit", Label: "nav.audit", Icon: "aui-iconfont-recent"},
		}},
	}
}

// NavFor is the key of the sidebar entry whose screen path lies under, or ""
// for none: an error page keeps the entry of the screen it happened on
// selected.
func NavFor(path string) string {
	for _, g := range adminNav() {
		for _, item := range g.Items {
			if path == item.Href || strings.HasPrefix(path, item.Href+"/") {
				return item.Key
			}
		}
	}
	return ""
}

// Crumb is one step of the breadcrumbs above a page's title.
type Crumb struct {
	Label string // message id
	Href  string
}

// adminCrumbs are the breadcrumbs of an administration screen, as
// Confluence's console has them: Administration › group › screen. An
// administration page outside the sidebar (an error) gets Administration alone.
func adminCrumbs(nav string) []Crumb {
	crumbs := []Crumb{{Label: "nav.admin", Href: "/admin"}}
	for _, g := range adminNav() {
		for _, item := range g.Items {
			if item.Key == nav {
				return append(crumbs, Crumb{Label: g.Heading, Href: g.Items[0].Href}, Crumb{Label: item.Label, Href: item.Href})
			}
		}
	}
	return crumbs
}

// name returns what the header shows for the viewer.
func (v *Viewer) name() string {
	if v.DisplayName != "" {
		return v.DisplayName
	}
	return v.Username
}

// isolationMarker stands in for a value while its sentence is translated;
// no translation or value contains it.
const isolationMarker = "\x00"

// splitAround translates id with the placeholder key left open and returns
// the text before and after it, so a screen can put the value in an element
// of its own (a <bdi>): a name from DingTalk carrying U+202E then cannot turn
// the words around it backwards.
func splitAround(ctx context.Context, id string, data map[string]any, key string) (before, after string) {
	filled := make(map[string]any, len(data)+1)
	for k, v := range data {
		filled[k] = v
	}
	filled[key] = isolationMarker
	before, after, _ = strings.Cut(locale.T(ctx, id, filled), isolationMarker)
	return before, after
}
