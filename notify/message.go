package notify

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

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

// ErrNoticeTooLarge is returned by ComposeMessage when even the shortest card it can make
// (no change comment, the title and names cut to an ellipsis) is over DingTalk's 2,048
// bytes, which only absurdly long links can cause.
var ErrNoticeTooLarge = errors.New("notify: the notification does not fit DingTalk's 2048-byte message limit")

// ErrNoticeWithoutURL is returned by ComposeMessage for a notice without a web URL: the
// card's button needs somewhere to go.
var ErrNoticeWithoutURL = errors.New("notify: the notice has no web URL")

// MaxCardTitleChars bounds the card title, the text DingTalk shows in the conversation
// list and the push notification; DingTalk's SDKs document it as at most 64 characters.
const MaxCardTitleChars = 64

// ellipsis marks text that was cut.
const ellipsis = "…"

// ComposeMessage returns the work notification for n in l's language: an action card
// titled "Page updated: <title>" (created, blog posts alike) whose markdown names the
// editor, the space, the version, the change comment and how many edits it covers, with
// a "View page" button and, for an update with a diff link, a "View changes" button.
//
// The version is always in the text, even on a card that would read fine without it:
// DingTalk delivers identical content to the same person only once a day and drops the
// repeat silently (flow-control code 143106, seen only in getsendresult), so two edits
// of one page on one day with the same comment would otherwise leave the second
// notification undelivered while the send reports success.
//
// The encoded message is kept to dingtalk.MaxMessageBytes: the change comment is cut
// first, then the title, then the space and editor names, each at a character boundary
// and marked with an ellipsis. Everything from Confluence is user input, so it is put
// on one line and its markdown characters escaped; a cut never splits an escape.
func ComposeMessage(l *locale.Localizer, n Notice) (dingtalk.Message, error) {
	if n.WebURL == "" {
		return dingtalk.Message{}, ErrNoticeWithoutURL
	}
	c := newCard(l, n)
	if utf8.RuneCountInString(c.webURL) > dingtalk.MaxSingleURLChars {
		c.shortenURLs()
	}
	m, ok := c.fit()
	if !ok && c.shortenURLs() {
		// Links this long leave no room for the text: Confluence's short link may.
		m, ok = c.fit()
	}
	if !ok {
		return dingtalk.Message{}, fmt.Errorf("%w (page link of %d bytes)", ErrNoticeTooLarge, len(n.WebURL))
	}
	if !c.showDiff && utf8.RuneCountInString(c.webURL) > dingtalk.MaxSingleURLChars {
		return dingtalk.Message{}, fmt.Errorf("%w: page link of %d characters, DingTalk takes %d",
			ErrNoticeTooLarge, utf8.RuneCountInString(c.webURL), dingtalk.MaxSingleURLChars)
	}
	return m, nil
}

// card is a notice ready to be rendered at any cut of its user-supplied texts.
type card struct {
	n                     Notice
	titleID               string
	title, space, actor   userText
	comment               userText
	webURL, diffURL       string
	showDiff              bool
	viewPage, viewChanges string
	titleLimit            int // characters of the title the card title has room for
	// The messages with a user text in them, translated once with a marker where the text
	// goes (rendering is tried many times while cutting), and the fixed lines.
	titleMsg, actorMsg, spaceMsg, commentMsg string
	versionLine, editsLine                   string
}

// slot marks where a user text goes in a translated message; clean turns any control
// character in user text into a space, so it cannot occur there.
const slot = "\x00"

// fill puts text into msg's slot.
func fill(msg, text string) string { return strings.Replace(msg, slot, text, 1) }

// cut is how many characters of each user text a rendering keeps.
type cut struct{ comment, title, space, actor int }

func newCard(l *locale.Localizer, n Notice) *card {
	c := &card{n: n, webURL: n.WebURL, diffURL: n.DiffURL,
		title: newUserText(n.Title), comment: newUserText(n.VersionMessage), actor: newUserText(n.ActorName),
		viewPage: l.T("notice.button.viewPage"), viewChanges: l.T("notice.button.viewChanges")}
	space := n.SpaceName
	if strings.TrimSpace(space) == "" {
		space = n.SpaceKey
	}
	c.space = newUserText(space)
	switch {
	case n.Blog && n.Created:
		c.titleID = "notice.title.blogCreated"
	case n.Blog:
		c.titleID = "notice.title.blogUpdated"
	case n.Created:
		c.titleID = "notice.title.pageCreated"
	default:
		c.titleID = "notice.title.pageUpdated"
	}
	c.showDiff = !n.Created && n.DiffURL != ""
	c.titleMsg = l.T(c.titleID, map[string]any{"Title": slot})
	c.titleLimit = max(1, MaxCardTitleChars-utf8.RuneCountInString(fill(c.titleMsg, "")))
	actorID := "notice.body.editedBy"
	if n.Created {
		actorID = "notice.body.createdBy"
	}
	c.actorMsg = l.T(actorID, map[string]any{"Name": slot})
	c.spaceMsg = l.T("notice.body.space", map[string]any{"Name": slot})
	c.commentMsg = l.T("notice.body.comment", map[string]any{"Comment": slot})
	c.versionLine = l.T("notice.body.version", map[string]any{"Version": n.Version})
	if n.Edits > 1 {
		c.editsLine = l.N("notice.body.edits", n.Edits)
	}
	return c
}

// fit renders the card with as much of the user texts as fits, cutting them in order.
func (c *card) fit() (dingtalk.Message, bool) {
	k := cut{c.comment.chars(), c.title.chars(), c.space.chars(), c.actor.chars()}
	if m, ok := c.render(k); ok {
		return m, true
	}
	for _, field := range []*int{&k.comment, &k.title, &k.space, &k.actor} {
		full := *field
		*field = 0
		m, ok := c.render(k)
		if !ok {
			continue // nothing of this text fits; cut the next one too
		}
		// The largest cut in [0, full) that fits: the whole text did not.
		lo, hi := 0, full-1
		for lo < hi {
			mid := (lo + hi + 1) / 2
			*field = mid
			if _, ok := c.render(k); ok {
				lo = mid
			} else {
				hi = mid - 1
			}
		}
		*field = lo
		if lo > 0 {
			m, _ = c.render(k)
		}
		return m, true
	}
	return dingtalk.Message{}, false
}

// render builds the card at cut k and reports whether it is within DingTalk's limit.
func (c *card) render(k cut) (dingtalk.Message, bool) {
	plainTitle := c.title.plain
	if k.title < c.title.chars() || c.title.chars() > c.titleLimit {
		plainTitle = c.title.cutPlain(min(k.title, c.titleLimit-1))
	}
	// The card title is plain text (DingTalk does not render markdown there).
	cardTitle := fill(c.titleMsg, plainTitle)

	var md strings.Builder
	md.WriteString("#### ")
	md.WriteString(fill(c.titleMsg, c.title.cutMarkdown(k.title)))
	line := func(s string) {
		md.WriteString("\n\n")
		md.WriteString(s)
	}
	if c.actor.chars() > 0 {
		line(fill(c.actorMsg, c.actor.cutMarkdown(k.actor)))
	}
	if c.space.chars() > 0 {
		line(fill(c.spaceMsg, c.space.cutMarkdown(k.space)))
	}
	line(c.versionLine)
	if c.editsLine != "" {
		line(c.editsLine)
	}
	if c.comment.chars() > 0 && k.comment > 0 {
		line(fill(c.commentMsg, c.comment.cutMarkdown(k.comment)))
	}

	var m dingtalk.Message
	if c.showDiff {
		m = dingtalk.ActionCardButtonsMessage(cardTitle, md.String(), dingtalk.ButtonsHorizontal,
			dingtalk.CardButton{Title: c.viewPage, ActionURL: c.webURL},
			dingtalk.CardButton{Title: c.viewChanges, ActionURL: c.diffURL})
	} else {
		m = dingtalk.ActionCardMessage(cardTitle, md.String(), c.viewPage, c.webURL)
	}
	_, err := m.Encode()
	return m, err == nil
}

// userText is one text from Confluence, cleaned, as plain text and as markdown, with
// where each character starts in both, so that any cut is a slice at a character (and
// escape) boundary.
type userText struct {
	plain, md     string
	plainAt, mdAt []int // byte offset of character i; one more entry for the end
}

func newUserText(s string) userText {
	t := userText{plain: clean(s)}
	var md strings.Builder
	for i, r := range t.plain {
		t.plainAt = append(t.plainAt, i)
		t.mdAt = append(t.mdAt, md.Len())
		if strings.ContainsRune(markdownSpecials, r) {
			md.WriteByte('\\')
		}
		md.WriteRune(r)
	}
	t.plainAt = append(t.plainAt, len(t.plain))
	t.mdAt = append(t.mdAt, md.Len())
	t.md = md.String()
	return t
}

// chars is how many characters the text has.
func (t userText) chars() int { return len(t.plainAt) - 1 }

// cutPlain is the first k characters, with an ellipsis when that is not all of them.
func (t userText) cutPlain(k int) string {
	if k >= t.chars() {
		return t.plain
	}
	return t.plain[:t.plainAt[max(0, k)]] + ellipsis
}

// cutMarkdown is cutPlain escaped for markdown.
func (t userText) cutMarkdown(k int) string {
	if k >= t.chars() {
		return t.md
	}
	return t.md[:t.mdAt[max(0, k)]] + ellipsis
}

// markdownSpecials are the characters that can start or end a markdown construct inside
// a line (emphasis, code, links, images, headings, strike-through, HTML, entities,
// tables); each is written with a backslash before it. Block constructs at the start of
// a line (lists, quotes) cannot arise: user text never starts a line.
const markdownSpecials = "\\`*_[](){}#~<>|!&"

// clean makes user text one line of valid UTF-8: invalid bytes become U+FFFD, control
// and line-breaking characters spaces, and runs of white space one space.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// contentIDPattern finds the content id in the links Confluence gives: Data Center's
// /spaces/KEY/pages/<id>/Title and /spaces/KEY/blog/yyyy/mm/dd/<id>/Title, and the
// ?pageId=<id> of the .action links.
var contentIDPattern = regexp.MustCompile(`[?&]pageId=(\d+)|/pages/(\d+)(?:[/?#]|$)|/blog/\d{4}/\d{2}/\d{2}/(\d+)(?:[/?#]|$)`)

// shortenURLs replaces the links by Confluence's short viewpage.action / diff links
// when the content id can be read from them, and reports whether anything changed. A
// page link carries the title (URL-encoded: nine bytes a Chinese character), which for
// a long title is more than the 500 characters a button link may have.
func (c *card) shortenURLs() bool {
	base, id := contentLink(c.n.WebURL)
	if id == "" {
		base, id = contentLink(c.n.DiffURL)
	}
	if id == "" {
		return false
	}
	short := base + "/pages/viewpage.action?pageId=" + id
	changed := false
	if len(short) < len(c.webURL) {
		c.webURL, changed = short, true
	}
	return changed
}

// contentLink splits a Confluence link into its base URL and the content id it names.
func contentLink(u string) (base, id string) {
	m := contentIDPattern.FindStringSubmatchIndex(u)
	if m == nil {
		return "", ""
	}
	for g := 1; g < len(m)/2; g++ {
		if m[2*g] >= 0 {
			id = u[m[2*g]:m[2*g+1]]
		}
	}
	end := len(u)
	for _, marker := range []string{"/spaces/", "/display/", "/pages/"} {
		if i := strings.Index(u, marker); i >= 0 && i < end {
			end = i
		}
	}
	return u[:end], id
}
