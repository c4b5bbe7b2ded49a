package views

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Views format what they are given; they never call a service. A view that
// imports one has started to decide things a handler or service should, so
// only these of the app's own packages may be imported here.
func TestViewsImportNoService(t *testing.T) {
	const module = "github.com/dingfluence/dingfluence/"
	allowed := map[string]bool{module + "locale": true, module + "models": true, module + "static": true}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no Go files found")
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, module) && !allowed[path] {
				t.Errorf("%s imports %s; give the view a plain view struct instead", name, path)
			}
		}
	}
}
