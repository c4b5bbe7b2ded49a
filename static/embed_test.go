package static

import (
	"io/fs"
	"path"
	"regexp"
	"strings"
	"testing"
)

func TestLayoutAssetsEmbedded(t *testing.T) {
	for _, name := range append(Stylesheets(), Scripts()...) {
		b, err := fs.ReadFile(FS(), name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(b) == 0 {
			t.Errorf("%s is empty", name)
		}
	}
	for _, dir := range []string{"vendor/aui", "vendor/jquery", "vendor/htmx"} {
		if _, err := fs.Stat(FS(), dir+"/LICENSE"); err != nil {
			t.Errorf("%s has no LICENSE: %v", dir, err)
		}
	}
}

// Every relative url() in a stylesheet must be embedded too, or the browser
// gets a 404 (AUI's icon fonts).
func TestCSSRelativeURLsResolve(t *testing.T) {
	urlRE := regexp.MustCompile(`url\(\s*["']?([^"')]+)["']?\s*\)`)
	for _, css := range Stylesheets() {
		b, err := fs.ReadFile(FS(), css)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range urlRE.FindAllStringSubmatch(string(b), -1) {
			ref := m[1]
			if strings.HasPrefix(ref, "data:") || strings.HasPrefix(ref, "#") || strings.Contains(ref, "//") {
				continue
			}
			if i := strings.IndexAny(ref, "?#"); i >= 0 {
				ref = ref[:i]
			}
			p := path.Join(path.Dir(css), ref)
			if _, err := fs.Stat(FS(), p); err != nil {
				t.Errorf("%s references %s: %v", css, p, err)
			}
		}
	}
}

func TestNoSourceMaps(t *testing.T) {
	err := fs.WalkDir(FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasSuffix(p, ".map") {
			t.Errorf("source map embedded: %s", p)
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".js") || strings.HasSuffix(p, ".css")) {
			b, err := fs.ReadFile(FS(), p)
			if err != nil {
				return err
			}
			if strings.Contains(string(b), "sourceMappingURL=") {
				t.Errorf("%s points at a source map that is not vendored", p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAppJSSendsCSRFHeader(t *testing.T) {
	b, err := fs.ReadFile(FS(), "app.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"htmx:configRequest", `meta[name="csrf-token"]`, "X-CSRF-Token"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("app.js does not mention %q", want)
		}
	}
}
