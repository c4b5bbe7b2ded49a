package locale

import (
	"context"
	"testing"
)

func TestMatch(t *testing.T) {
	b, err := NewBundle()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		preferred, accept, want string
	}{
		{"", "zh-CN,zh;q=0.9,en;q=0.8", "zh-Hans"},
		{"", "en-US,en;q=0.9", "en"},
		{"", "fr-FR", "en"},
		{"", "", "en"},
		{"en", "zh-CN", "en"},
		{"zh-Hans", "en-US", "zh-Hans"},
		{"klingon", "zh-TW;q=0.5,zh-CN", "zh-Hans"},
	}
	for _, tt := range tests {
		if got := b.Match(tt.preferred, tt.accept); got != tt.want {
			t.Errorf("Match(%q, %q) = %q, want %q", tt.preferred, tt.accept, got, tt.want)
		}
	}
}

func TestTranslate(t *testing.T) {
	b, err := NewBundle()
	if err != nil {
		t.Fatal(err)
	}
	ctx := WithLocalizer(context.Background(), b.Localizer("zh-Hans"))
	if got := T(ctx, "settings.title"); got != "钉钉设置" {
		t.Fatalf("zh settings.title = %q", got)
	}
	if got := T(ctx, "login.throttled", map[string]any{"Seconds": 30}); got != "失败次数过多，请等待 30 秒后再试。" {
		t.Fatalf("template data not applied: %q", got)
	}
	if got := T(ctx, "no.such.message"); got != "no.such.message" {
		t.Fatalf("missing message = %q, want its id", got)
	}
}

// Every English message has a Chinese translation and the other way round,
// so no screen falls back to English piecemeal.
func TestCataloguesHaveTheSameMessages(t *testing.T) {
	read := func(tag string) map[string]any {
		m, err := readMessages(tag)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	en, zh := read("en"), read("zh-Hans")
	for id := range en {
		if _, ok := zh[id]; !ok {
			t.Errorf("zh-Hans lacks %q", id)
		}
	}
	for id := range zh {
		if _, ok := en[id]; !ok {
			t.Errorf("en lacks %q", id)
		}
	}
}

// A count picks the plural form of the language; Chinese has one form.
func TestPluralForms(t *testing.T) {
	b, err := NewBundle()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		tag   string
		count int
		want  string
	}{
		{"en", 1, "1 sub-department"},
		{"en", 0, "0 sub-departments"},
		{"en", 2, "2 sub-departments"},
		{"zh-Hans", 1, "1 个子部门"},
		{"zh-Hans", 7, "7 个子部门"},
	}
	for _, tt := range tests {
		ctx := WithLocalizer(context.Background(), b.Localizer(tt.tag))
		if got := N(ctx, "departments.children", tt.count); got != tt.want {
			t.Errorf("%s %d: %q, want %q", tt.tag, tt.count, got, tt.want)
		}
	}
}

func TestParseMessage(t *testing.T) {
	tests := []struct {
		raw string
		ok  bool
	}{
		{`"plain"`, true},
		{`{"one": "1 x", "other": "{{.Count}} x"}`, true},
		{`{"one": "1 x"}`, false},
		{`{"one": "1 x", "other": "n x", "plenty": "lots"}`, false},
		{`3`, false},
	}
	for _, tt := range tests {
		if _, err := parseMessage([]byte(tt.raw)); (err == nil) != tt.ok {
			t.Errorf("parseMessage(%s) error %v, want ok %v", tt.raw, err, tt.ok)
		}
	}
}
