// Package views renders the screens with templ. Components only format what
// they are given; they never load data.
package views

// Viewer is the signed-in person as the chrome shows them.
type Viewer struct {
	Username    string
	DisplayName string
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
		{Heading: "nav.dingtalk", Items: []NavItem{
			{Key: "settings", Href: "/admin/dingtalk/settings", Label: "nav.settings"},
			{Key: "departments", Href: "/admin/dingtalk/departments", Label: "nav.departments"},
			{Key: "members", Href: "/admin/dingtalk/members", Label: "nav.members"},
		}},
		{Heading: "nav.system", Items: []NavItem{
			{Key: "audit", Href: "/admin/audit", Label: "nav.audit"},
		}},
	}
}

// name returns what the header shows for the viewer.
func (v *Viewer) name() string {
	if v.DisplayName != "" {
		return v.DisplayName
	}
	return v.Username
}
