package views

import (
	"bytes"
	"go/format"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/a-h/templ"
	"github.com/a-h/templ/generator"
	parser "github.com/a-h/templ/parser/v2"
)

// The committed *_templ.go files must be what `make generate` makes of the
// *.templ files, or the app would run views that differ from their source.
// This generates each one in memory, exactly as `templ generate` run from
// the repository root does, and compares.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	sources, err := filepath.Glob("*.templ")
	if err != nil || len(sources) == 0 {
		t.Fatalf("no .templ files found: %v", err)
	}
	for _, src := range sources {
		t.Run(src, func(t *testing.T) {
			tf, err := parser.Parse(src)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			var b bytes.Buffer
			if _, err := generator.Generate(tf, &b, generator.WithVersion(templ.Version()), generator.WithFileName("views/"+src)); err != nil {
				t.Fatalf("generate: %v", err)
			}
			want, err := format.Source(b.Bytes())
			if err != nil {
				t.Fatalf("format: %v", err)
			}
			got, err := os.ReadFile(strings.TrimSuffix(src, ".templ") + "_templ.go")
			if err != nil {
				t.Fatalf("read generated file: %v (run make generate)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s_templ.go is stale: run `make generate` and commit the result", strings.TrimSuffix(src, ".templ"))
			}
		})
	}
}
