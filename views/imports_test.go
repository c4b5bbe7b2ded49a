package views

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// services are the packages that load, decide or send; a view that imports
// one has started to do their work (or to show their types as they are).
var services = []string{"settings", "orgsync", "auth", "dingtalk", "confluence", "jobs", "notify", "matching", "directory", "handlers"}

const module = "github.com/dingfluence/dingfluence/"

// refused reports whether path is a service package or one inside it.
func refused(path string) bool {
	rest, ok := strings.CutPrefix(path, module)
	if !ok {
		return false
	}
	for _, s := range services {
		if rest == s || strings.HasPrefix(rest, s+"/") {
			return true
		}
	}
	return false
}

// templImport is a quoted import path in a .templ file, whose header is Go's
// import syntax.
var templImport = regexp.MustCompile(`"(` + regexp.QuoteMeta(module) + `[^"]*)"`)

// Views get plain values from the handlers: neither a .templ file nor the Go
// beside it (generated or not) imports a service package.
func TestViewsImportNoService(t *testing.T) {
	for _, tt := range []struct{ path string }{{module + "settings"}, {module + "handlers/forms"}, {module + "models"}, {module + "locale"}} {
		want := !strings.HasSuffix(tt.path, "models") && !strings.HasSuffix(tt.path, "locale")
		if refused(tt.path) != want {
			t.Fatalf("refused(%q) = %v, want %v", tt.path, !want, want)
		}
	}
	goFiles, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	templFiles, err := filepath.Glob("*.templ")
	if err != nil {
		t.Fatal(err)
	}
	if len(goFiles) == 0 || len(templFiles) == 0 {
		t.Fatalf("found %d .go and %d .templ files; run in the views directory", len(goFiles), len(templFiles))
	}
	fset := token.NewFileSet()
	for _, name := range goFiles {
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if refused(path) {
				t.Errorf("%s imports %s", name, path)
			}
		}
	}
	for _, name := range templFiles {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range templImport.FindAllStringSubmatch(string(src), -1) {
			if refused(m[1]) {
				t.Errorf("%s imports %s", name, m[1])
			}
		}
	}
}
