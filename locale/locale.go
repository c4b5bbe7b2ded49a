// Package locale translates the user interface. Every string a person reads
// goes through it, so adding a language is adding one message file.
package locale

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

//go:embed messages/*.json
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
		data, err := messageFiles.ReadFile("messages/" + l.Tag + ".json")
		if err != nil {
			return nil, fmt.Errorf("read messages for %s: %w", l.Tag, err)
		}
		if _, err := b.ParseMessageFileBytes(data, l.Tag+".json"); err != nil {
			return nil, fmt.Errorf("parse messages for %s: %w", l.Tag, err)
		}
		tags = append(tags, language.Make(l.Tag))
	}
	return &Bundle{bundle: b, matcher: language.NewMatcher(tags)}, nil
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
