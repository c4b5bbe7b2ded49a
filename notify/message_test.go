package notify_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dingfluence/dingfluence/dingtalk"
	"github.com/dingfluence/dingfluence/dingtalk/dingtalktest"
	"github.com/dingfluence/dingfluence/locale"
	"github.com/dingfluence/dingfluence/notify"
)

const (
	pageURL = "https://wiki.example/spaces/ENG/pages/123456/Install+guide"
	diffURL = "https://wiki.example/pages/diffpagesbyversion.action?pageId=123456&selectedPageVersions=6&selectedPageVersions=7"
)

// wireCard is an encoded action card as DingTalk reads it.
type wireCard struct {
	MsgType    string `json:"msgtype"`
	ActionCard struct {
		Title          string                `json:"title"`
		Markdown       string                `json:"markdown"`
		SingleTitle    string                `json:"single_title"`
		SingleURL      string                `json:"single_url"`
		BtnOrientation string                `json:"btn_orientation"`
		Buttons        []dingtalk.CardButton `json:"btn_json_list"`
	} `json:"action_card"`
}

// buttons lists the card's buttons, single or not, as title → URL pairs.
func (c wireCard) buttons() []dingtalk.CardButton {
	if c.ActionCard.SingleTitle != "" || c.ActionCard.SingleURL != "" {
		return []dingtalk.CardButton{{Title: c.ActionCard.SingleTitle, ActionURL: c.ActionCard.SingleURL}}
	}
	return c.ActionCard.Buttons
}

func localizers(t *testing.T) map[string]*locale.Localizer {
	t.Helper()
	b, err := locale.NewBundle()
	if err != nil {
		t.Fatal(err)
	}
	return map[string]*locale.Localizer{"en": b.Localizer("en"), "zh-Hans": b.Localizer("zh-Hans")}
}

// compose composes n and returns the encoded msg and its decoded card; it fails the test
// unless the message is within DingTalk's limits.
func compose(t *testing.T, l *locale.Localizer, n notify.Notice) ([]byte, wireCard) {
	t.Helper()
	m, err := notify.ComposeMessage(l, n)
	if err != nil {
		t.Fatalf("ComposeMessage(%+v): %v", n, err)
	}
	raw, err := m.Encode()
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	var c wireCard
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	checkCard(t, raw, c)
	return raw, c
}

// checkCard asserts what every composed card must be: within 2,048 bytes, valid UTF-8,
// an action card with title, markdown and 1 or 2 buttons of at most 20 characters, and
// a markdown whose every backslash starts a whole escape.
func checkCard(t *testing.T, raw []byte, c wireCard) {
	t.Helper()
	if len(raw) > dingtalk.MaxMessageBytes {
		t.Errorf("msg is %d bytes, over %d", len(raw), dingtalk.MaxMessageBytes)
	}
	if !utf8.Valid(raw) || !utf8.ValidString(c.ActionCard.Title) || !utf8.ValidString(c.ActionCard.Markdown) {
		t.Errorf("invalid UTF-8 in %s", raw)
	}
	if c.MsgType != "action_card" || c.ActionCard.Title == "" || c.ActionCard.Markdown == "" {
		t.Errorf("not a complete action card: %s", raw)
	}
	if n := utf8.RuneCountInString(c.ActionCard.Title); n > notify.MaxCardTitleChars {
		t.Errorf("card title of %d characters: %q", n, c.ActionCard.Title)
	}
	bs := c.buttons()
	if len(bs) < 1 || len(bs) > 2 || (len(bs) == 2) != (c.ActionCard.BtnOrientation == "1") {
		t.Errorf("buttons %+v with orientation %q", bs, c.ActionCard.BtnOrientation)
	}
	for _, b := range bs {
		if b.Title == "" || utf8.RuneCountInString(b.Title) > dingtalk.MaxButtonTitleChars || b.ActionURL == "" {
			t.Errorf("button %+v", b)
		}
	}
	md := []rune(c.ActionCard.Markdown)
	for i := 0; i < len(md); i++ {
		if md[i] == '\\' {
			if i+1 == len(md) || !strings.ContainsRune("\\`*_[](){}#~<>|!&", md[i+1]) {
				t.Errorf("a backslash that escapes nothing at %d: %q", i, c.ActionCard.Markdown)
				return
			}
			i++
		}
	}
}

func TestComposeMessageVariants(t *testing.T) {
	ls := localizers(t)
	base := notify.Notice{Title: "Install guide", SpaceKey: "ENG", SpaceName: "Engineering", Version: 7,
		ActorName: "Alice Wong", Edits: 1, WebURL: pageURL, DiffURL: diffURL}
	with := func(edit func(*notify.Notice)) notify.Notice {
		n := base
		edit(&n)
		return n
	}
	type want struct {
		title   string
		has     []string // in the markdown
		hasNot  []string
		buttons []dingtalk.CardButton
	}
	tests := []struct {
		name   string
		notice notify.Notice
		want   map[string]want
	}{
		{"page updated, with a diff", base, map[string]want{
			"en": {"Page updated: Install guide",
				[]string{"#### Page updated: Install guide", "Edited by: Alice Wong", "Space: Engineering", "Version 7"},
				[]string{"Change comment", "covers"},
				[]dingtalk.CardButton{{Title: "View page", ActionURL: pageURL}, {Title: "View changes", ActionURL: diffURL}}},
			"zh-Hans": {"页面已更新：Install guide",
				[]string{"#### 页面已更新：Install guide", "编辑者：Alice Wong", "空间：Engineering", "第 7 版"},
				[]string{"修改说明", "合并"},
				[]dingtalk.CardButton{{Title: "查看页面", ActionURL: pageURL}, {Title: "查看变更", ActionURL: diffURL}}},
		}},
		{"page created", with(func(n *notify.Notice) { n.Created, n.Version, n.DiffURL = true, 1, "" }), map[string]want{
			"en": {"Page created: Install guide", []string{"Created by: Alice Wong", "Version 1"}, []string{"Edited by"},
				[]dingtalk.CardButton{{Title: "View page", ActionURL: pageURL}}},
			"zh-Hans": {"新建页面：Install guide", []string{"创建者：Alice Wong", "第 1 版"}, []string{"编辑者"},
				[]dingtalk.CardButton{{Title: "查看页面", ActionURL: pageURL}}},
		}},
		{"page created with a diff link: no View changes", with(func(n *notify.Notice) { n.Created = true }), map[string]want{
			"en":      {"Page created: Install guide", nil, nil, []dingtalk.CardButton{{Title: "View page", ActionURL: pageURL}}},
			"zh-Hans": {"新建页面：Install guide", nil, nil, []dingtalk.CardButton{{Title: "查看页面", ActionURL: pageURL}}},
		}},
		{"blog post updated", with(func(n *notify.Notice) { n.Blog, n.Title = true, "Sprint 42" }), map[string]want{
			"en": {"Blog post updated: Sprint 42", []string{"#### Blog post updated: Sprint 42", "Version 7"}, nil,
				[]dingtalk.CardButton{{Title: "View page", ActionURL: pageURL}, {Title: "View changes", ActionURL: diffURL}}},
			"zh-Hans": {"博文已更新：Sprint 42", []string{"第 7 版"}, nil,
				[]dingtalk.CardButton{{Title: "查看页面", ActionURL: pageURL}, {Title: "查看变更", ActionURL: diffURL}}},
		}},
		{"blog post created", with(func(n *notify.Notice) { n.Blog, n.Created, n.Title, n.DiffURL = true, true, "Sprint 42", "" }), map[string]want{
			"en":      {"Blog post created: Sprint 42", []string{"Created by: Alice Wong"}, nil, []dingtalk.CardButton{{Title: "View page", ActionURL: pageURL}}},
			"zh-Hans": {"新建博文：Sprint 42", []string{"创建者：Alice Wong"}, nil, []dingtalk.CardButton{{Title: "查看页面", ActionURL: pageURL}}},
		}},
		{"updated without a diff link", with(func(n *notify.Notice) { n.DiffURL = "" }), map[string]want{
			"en":      {"Page updated: Install guide", []string{"Version 7"}, nil, []dingtalk.CardButton{{Title: "View page", ActionURL: pageURL}}},
			"zh-Hans": {"页面已更新：Install guide", []string{"第 7 版"}, nil, []dingtalk.CardButton{{Title: "查看页面", ActionURL: pageURL}}},
		}},
		{"change comment", with(func(n *notify.Notice) { n.VersionMessage = "Fixed the\nproxy  section" }), map[string]want{
			"en":      {"Page updated: Install guide", []string{"Change comment: Fixed the proxy section"}, nil, nil},
			"zh-Hans": {"页面已更新：Install guide", []string{"修改说明：Fixed the proxy section"}, nil, nil},
		}},
		{"coalesced edits", with(func(n *notify.Notice) { n.Edits = 3 }), map[string]want{
			"en":      {"Page updated: Install guide", []string{"Version 7", "This notification covers 3 edits."}, nil, nil},
			"zh-Hans": {"页面已更新：Install guide", []string{"第 7 版", "本条通知合并了 3 次编辑。"}, nil, nil},
		}},
		{"no space name: the key", with(func(n *notify.Notice) { n.SpaceName = "" }), map[string]want{
			"en":      {"Page updated: Install guide", []string{"Space: ENG"}, nil, nil},
			"zh-Hans": {"页面已更新：Install guide", []string{"空间：ENG"}, nil, nil},
		}},
		{"no actor: no editor line", with(func(n *notify.Notice) { n.ActorName = "" }), map[string]want{
			"en":      {"Page updated: Install guide", []string{"Version 7"}, []string{"Edited by"}, nil},
			"zh-Hans": {"页面已更新：Install guide", []string{"第 7 版"}, []string{"编辑者"}, nil},
		}},
		{"Chinese text", with(func(n *notify.Notice) {
			n.Title, n.SpaceName, n.ActorName, n.VersionMessage = "安装指南", "研发部", "张三", "更新了代理设置"
		}), map[string]want{
			"zh-Hans": {"页面已更新：安装指南", []string{"#### 页面已更新：安装指南", "编辑者：张三", "空间：研发部", "修改说明：更新了代理设置"}, nil, nil},
		}},
		{"markdown in user text is escaped", with(func(n *notify.Notice) {
			n.Title, n.ActorName, n.VersionMessage = `**Big** [news](x) #1`, "a_b", "see <b>`code`</b> & \\o/ ~~x~~ | !"
		}), map[string]want{
			"en": {"Page updated: **Big** [news](x) #1", []string{
				`#### Page updated: \*\*Big\*\* \[news\]\(x\) \#1`, `Edited by: a\_b`,
				"Change comment: see \\<b\\>\\`code\\`\\</b\\> \\& \\\\o/ \\~\\~x\\~\\~ \\| \\!",
			}, []string{"**Big**", "[news](x)"}, nil},
			"zh-Hans": {"页面已更新：**Big** [news](x) #1", []string{
				`#### 页面已更新：\*\*Big\*\* \[news\]\(x\) \#1`, `编辑者：a\_b`, "修改说明：see \\<b\\>",
			}, []string{"**Big**", "[news](x)"}, nil},
		}},
	}
	for _, tt := range tests {
		for lang, w := range tt.want {
			t.Run(tt.name+"/"+lang, func(t *testing.T) {
				raw, c := compose(t, ls[lang], tt.notice)
				if c.ActionCard.Title != w.title {
					t.Errorf("title %q, want %q", c.ActionCard.Title, w.title)
				}
				for _, s := range w.has {
					if !strings.Contains(c.ActionCard.Markdown, s) {
						t.Errorf("markdown lacks %q:\n%s", s, c.ActionCard.Markdown)
					}
				}
				for _, s := range w.hasNot {
					if strings.Contains(c.ActionCard.Markdown, s) {
						t.Errorf("markdown has %q:\n%s", s, c.ActionCard.Markdown)
					}
				}
				if strings.Contains(string(raw), "…") {
					t.Errorf("a short notice was cut: %s", raw)
				}
				if w.buttons != nil {
					if got := fmt.Sprint(c.buttons()); got != fmt.Sprint(w.buttons) {
						t.Errorf("buttons %s, want %s", got, fmt.Sprint(w.buttons))
					}
				}
			})
		}
	}
}

// The same edit composed twice differs only if the version does, and the version is
// always there: DingTalk drops identical content to one person within a day.
func TestComposeMessageAlwaysCarriesTheVersion(t *testing.T) {
	for lang, l := range localizers(t) {
		n := notify.Notice{Title: strings.Repeat("长", 300), VersionMessage: strings.Repeat("评", 700), ActorName: "张三",
			SpaceName: "研发", Version: 12345, Edits: 1, WebURL: pageURL, DiffURL: diffURL}
		_, a := compose(t, l, n)
		n.Version++
		_, b := compose(t, l, n)
		for _, c := range []wireCard{a, b} {
			if !strings.Contains(c.ActionCard.Markdown, "12345") && !strings.Contains(c.ActionCard.Markdown, "12346") {
				t.Errorf("%s: no version in a cut card: %s", lang, c.ActionCard.Markdown)
			}
		}
		if a.ActionCard.Markdown == b.ActionCard.Markdown {
			t.Errorf("%s: versions 12345 and 12346 give the same text", lang)
		}
	}
}

// Over many lengths of every kind of text, the card stays within DingTalk's limits, is
// valid UTF-8, never splits an escape, and is cut in order: the comment first, then the
// title, then the names.
func TestComposeMessageSizeBounds(t *testing.T) {
	pieces := map[string]string{
		"ascii":    "a",
		"cjk":      "页",
		"emoji":    "👩‍💻",
		"specials": `*_[]()#\`,
		"mixed":    "标题*_[x](y)#\\🙂&<",
	}
	ls := localizers(t)
	for name, piece := range pieces {
		for _, lang := range []string{"en", "zh-Hans"} {
			l := ls[lang]
			for n := 0; n <= 1200; n += 43 {
				text := strings.Repeat(piece, n)
				for _, notice := range []notify.Notice{
					{Title: text, VersionMessage: "short comment", ActorName: "Alice", SpaceName: "ENG", Version: 7, Edits: 1, WebURL: pageURL, DiffURL: diffURL},
					{Title: "Install guide", VersionMessage: text, ActorName: "Alice", SpaceName: "ENG", Version: 7, Edits: 2, WebURL: pageURL, DiffURL: diffURL},
					{Title: text, VersionMessage: text, ActorName: text, SpaceName: text, Version: 7, Edits: 9, WebURL: pageURL, DiffURL: diffURL},
					{Created: true, Blog: true, Title: text, VersionMessage: text, ActorName: "李四", SpaceName: "研发", Version: 1, Edits: 1, WebURL: pageURL},
				} {
					raw, c := compose(t, l, notice)
					md := c.ActionCard.Markdown
					heading, _, _ := strings.Cut(md, "\n\n")
					titleCut := strings.HasSuffix(heading, "…")
					commentShown := strings.Contains(md, l.T("notice.body.comment", map[string]any{"Comment": ""}))
					if titleCut && commentShown {
						t.Fatalf("%s/%s/%d: the title was cut while a comment is shown: %s", name, lang, n, raw)
					}
					if !strings.Contains(md, l.T("notice.body.version", map[string]any{"Version": 7})) && !strings.Contains(md, l.T("notice.body.version", map[string]any{"Version": 1})) {
						t.Fatalf("%s/%s/%d: no version: %s", name, lang, n, raw)
					}
					if notice.Edits > 1 && !strings.Contains(md, l.N("notice.body.edits", notice.Edits)) {
						t.Fatalf("%s/%s/%d: no edit count: %s", name, lang, n, raw)
					}
					if t.Failed() {
						t.Fatalf("%s/%s/%d: %s", name, lang, n, raw)
					}
				}
			}
		}
	}
}

// A cut leaves as much as fits: a long comment fills the message to near the limit.
func TestComposeMessageCutsNoMoreThanNeeded(t *testing.T) {
	l := localizers(t)["zh-Hans"]
	raw, c := compose(t, l, notify.Notice{Title: "安装指南", VersionMessage: strings.Repeat("评论", 2000), ActorName: "张三",
		SpaceName: "研发", Version: 3, Edits: 1, WebURL: pageURL, DiffURL: diffURL})
	if len(raw) < dingtalk.MaxMessageBytes-8 {
		t.Errorf("cut to %d bytes; a character more would have fitted", len(raw))
	}
	if !strings.Contains(c.ActionCard.Markdown, "#### 页面已更新：安装指南\n") || !strings.HasSuffix(c.ActionCard.Markdown, "…") {
		t.Errorf("want the title whole and the comment cut: %s", c.ActionCard.Markdown)
	}
}

// A link too long for a button (Confluence puts the URL-encoded title in it) is replaced
// by Confluence's short link to the same page.
func TestComposeMessageShortensLongLinks(t *testing.T) {
	l := localizers(t)["en"]
	title := strings.Repeat("页", 200)
	long := "https://wiki.example/confluence/spaces/ENG/pages/98765/" + strings.Repeat("%E9%A1%B5", 200)
	for _, diff := range []string{"", diffURL} {
		_, c := compose(t, l, notify.Notice{Title: title, Version: 2, Edits: 1, WebURL: long, DiffURL: diff})
		if got := c.buttons()[0].ActionURL; got != "https://wiki.example/confluence/pages/viewpage.action?pageId=98765" {
			t.Errorf("View page opens %q", got)
		}
	}
	if _, err := notify.ComposeMessage(l, notify.Notice{Title: "x", Version: 1, WebURL: "https://wiki.example/display/ENG/" + strings.Repeat("a", 600)}); !errors.Is(err, notify.ErrNoticeTooLarge) {
		t.Errorf("a link that cannot be shortened: error %v, want ErrNoticeTooLarge", err)
	}
	if _, err := notify.ComposeMessage(l, notify.Notice{Title: "x", Version: 1}); !errors.Is(err, notify.ErrNoticeWithoutURL) {
		t.Errorf("no link: error %v, want ErrNoticeWithoutURL", err)
	}
}

// DingTalk (as dingtalktest models its action_card rules) takes every variant.
func TestComposedMessagesAreAcceptedByDingTalk(t *testing.T) {
	srv := dingtalktest.Start(t, dingtalktest.Options{})
	client := dingtalk.New(dingtalk.Config{AppKey: srv.AppKey(), AppSecret: srv.AppSecret(), AgentID: srv.AgentID(), Endpoints: srv.Endpoints()})
	long := strings.Repeat("页*_[", 400)
	sends := 0
	for lang, l := range localizers(t) {
		for _, n := range []notify.Notice{
			{Title: "Install guide", Version: 7, Edits: 1, ActorName: "Alice", SpaceName: "ENG", WebURL: pageURL, DiffURL: diffURL},
			{Created: true, Title: "Install guide", Version: 1, Edits: 1, WebURL: pageURL},
			{Blog: true, Title: long, VersionMessage: long, ActorName: long, SpaceName: long, Version: 9, Edits: 4, WebURL: pageURL, DiffURL: diffURL},
		} {
			m, err := notify.ComposeMessage(l, n)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := client.SendWorkNotification(t.Context(), []string{"alice"}, m); err != nil {
				t.Errorf("%s: DingTalk refused %+v: %v", lang, n, err)
			}
			sends++
		}
	}
	if got := len(srv.Sent()); got != sends {
		t.Errorf("DingTalk took %d messages, want %d", got, sends)
	}
}
