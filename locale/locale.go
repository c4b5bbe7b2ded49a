// Package locale translates the user interface. Every string a person reads
// goes through it, so adding a language is adding one message file.
package locale

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

// Each language has a folder of message files, one per area of the app
// (messages/en/core.json, messages/en/audit.json, …); a message id is defined
// in exactly one file of its language. A message is a string, or for a count
// the CLDR plural forms of its language ({"one": "1 member", "other":
// "{{.Count}} members"}; Chinese has only "other", so a string will do).
//
//go:embed messages
var messageFiles embed.FS

// Supported lists the languages the interface is translated into, in the
// order a language picker shows them; the first is the fallback.
func Supported() []Language {
	return []Language{
		{Tag: "en", Name: "English"},
		{Tag: "zh-Hans", Name: "简体中文"},
	}
}

// fallback is the language used when nothing better matches.
const fallback = "en"

// Language is one interface language: its BCP 47 tag and its own name.
type Language struct {
	Tag  string
	Name string
}

// Bundle holds the parsed message catalogues.
type Bundle struct {
	bundle  *i18n.Bundle
	matcher language.Matcher
}

// NewBundle parses the embedded message files.
func NewBundle() (*Bundle, error) {
	b := i18n.NewBundle(language.English)
	b.RegisterUnmarshalFunc("json", json.Unmarshal)
	tags := make([]language.Tag, 0, len(Supported()))
	for _, l := range Supported() {
		messages, err := readMessages(l.Tag)
		if err != nil {
			return nil, err
		}
		data, err := json.Marshal(messages)
		if err != nil {
			return nil, fmt.Errorf("encode messages for %s: %w", l.Tag, err)
		}
		if _, err := b.ParseMessageFileBytes(data, l.Tag+".json"); err != nil {
			return nil, fmt.Errorf("parse messages for %s: %w", l.Tag, err)
		}
		tags = append(tags, language.Make(l.Tag))
	}
	return &Bundle{bundle: b, matcher: language.NewMatcher(tags)}, nil
}

// readMessages merges the message files of one language, refusing an id
// that two files define (one would silently win).
func readMessages(tag string) (map[string]any, error) {
	dir := "messages/" + tag
	entries, err := fs.ReadDir(messageFiles, dir)
	if err != nil {
		return nil, fmt.Errorf("read messages for %s: %w", tag, err)
	}
	merged := map[string]any{}
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".json" {
			continue
		}
		data, err := messageFiles.ReadFile(dir + "/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("read %s/%s: %w", dir, e.Name(), err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("parse %s/%s: %w", dir, e.Name(), err)
		}
		for id, raw := range m {
			text, err := parseMessage(raw)
			if err != nil {
				return nil, fmt.Errorf("parse %s/%s: %q: %w", dir, e.Name(), id, err)
			}
			if _, dup := merged[id]; dup {
				return nil, fmt.Errorf("messages for %s: %q is defined twice (again in %s)", tag, id, e.Name())
			}
			merged[id] = text
		}
	}
	return merged, nil
}

// pluralForms are the CLDR plural categories a message may give.
var pluralForms = []string{"zero", "one", "two", "few", "many", "other"}

// parseMessage reads one message: a string, or plural forms with at least "other".
func parseMessage(raw json.RawMessage) (any, error) {
	var text string
	if err := json.Unmarshal(raw, &text); err == nil {
		return text, nil
	}
	var forms map[string]string
	if err := json.Unmarshal(raw, &forms); err != nil {
		return nil, fmt.Errorf("neither a string nor plural forms: %w", err)
	}
	for form := range forms {
		if !slices.Contains(pluralForms, form) {
			return nil, fmt.Errorf("unknown plural form %q", form)
		}
	}
	if forms["other"] == "" {
		return nil, errors.New(`plural forms without "other"`)
	}
	return forms, nil
}

// Match picks the supported language for an explicit preference (may be
// empty) and an Accept-Language header. The explicit preference wins.
func (b *Bundle) Match(preferred, acceptLanguage string) string {
	for _, l := range Supported() {
		if preferred == l.Tag {
			return l.Tag
		}
	}
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(tags) == 0 {
		return fallback
	}
	_, index, confidence := b.matcher.Match(tags...)
	if confidence == language.No {
		return fallback
	}
	return Supported()[index].Tag
}

// IsSupported reports whether tag is one of the interface languages.
func IsSupported(tag string) bool {
	for _, l := range Supported() {
		if l.Tag == tag {
			return true
		}
	}
	return false
}

// Localizer translates message ids into one language.
type Localizer struct {
	tag string
	loc *i18n.Localizer
}

// Localizer returns a translator for tag (one of Supported).
func (b *Bundle) Localizer(tag string) *Localizer {
	return &Localizer{tag: tag, loc: i18n.NewLocalizer(b.bundle, tag)}
}

// Tag is the language this localizer translates into.
func (l *Localizer) Tag() string { return l.tag }

// T translates id; data fills the message's {{.Name}} placeholders. A
// missing translation falls back to English, and a missing message shows its
// id so the gap is visible instead of an empty label.
func (l *Localizer) T(id string, data ...map[string]any) string {
	cfg := &i18n.LocalizeConfig{MessageID: id}
	if len(data) > 0 {
		cfg.TemplateData = data[0]
	}
	s, err := l.loc.Localize(cfg)
	if err != nil && s == "" {
		return id
	}
	return s
}

// N translates id for a count: the plural form of the language for count is
// chosen, and count fills {{.Count}}.
func (l *Localizer) N(id string, count int, data ...map[string]any) string {
	filled := map[string]any{"Count": count}
	if len(data) > 0 {
		for k, v := range data[0] {
			filled[k] = v
		}
	}
	s, err := l.loc.Localize(&i18n.LocalizeConfig{MessageID: id, PluralCount: count, TemplateData: filled})
	if err != nil && s == "" {
		return id
	}
	return s
}

type contextKey struct{}

// WithLocalizer returns ctx carrying l, for templates to translate with.
func WithLocalizer(ctx context.Context, l *Localizer) context.Context {
	return context.WithValue(ctx, contextKey{}, l)
}

// From returns the localizer in ctx, or nil.
func From(ctx context.Context) *Localizer {
	l, _ := ctx.Value(contextKey{}).(*Localizer)
	return l
}

// T translates id with the localizer in ctx; without one it returns id.
func T(ctx context.Context, id string, data ...map[string]any) string {
	l := From(ctx)
	if l == nil {
		return id
	}
	return l.T(id, data...)
}

// N translates id for count with the localizer in ctx (see Localizer.N);
// without one it returns id.
func N(ctx context.Context, id string, count int, data ...map[string]any) string {
	l := From(ctx)
	if l == nil {
		return id
	}
	return l.N(id, count, data...)
}

// Tag returns the language of the localizer in ctx, for <html lang>.
func Tag(ctx context.Context) string {
	if l := From(ctx); l != nil {
		return l.tag
	}
	return fallback
}

// CookieName is the cookie that remembers a signed-out visitor's choice.
const CookieName = "df_lang"

// FromRequest reads a visitor's explicit choice from the language cookie.
func FromRequest(r *http.Request) string {
	c, err := r.Cookie(CookieName)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(c.Value)
}
