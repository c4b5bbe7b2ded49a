package notify

import (
	"fmt"

	"github.com/dingfluence/dingfluence/dingtalk"
	"github.com/dingfluence/dingfluence/locale"
)

// Notice is what one notification says: the latest version of a page or blog post and
// how many publishes it covers.
type Notice struct {
	// Created is true for page_created and blog_created.
	Created bool
	// Blog is true for blog posts.
	Blog           bool
	Title          string
	SpaceKey       string
	SpaceName      string
	Version        int
	VersionMessage string
	ActorName      string
	// Edits is how many publishes the notification covers (1 unless coalesced).
	Edits   int
	WebURL  string
	DiffURL string
}

// ComposeMessage returns the work notification for n in l's language.
func ComposeMessage(l *locale.Localizer, n Notice) (dingtalk.Message, error) {
	title := fmt.Sprintf("%s (v%d)", n.Title, n.Version)
	return dingtalk.ActionCardMessage(title, title, "View page", n.WebURL), nil
}
