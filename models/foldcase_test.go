package models_test

import (
	"testing"

	"github.com/dingfluence/dingfluence/models"
)

// FoldCase folds exactly what both databases' collations fold for the
// values we compare: ASCII letters, nothing else.
func TestFoldCase(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Zhang.San@ACME.example", "zhang.san@acme.example"},
		{"A0001", "a0001"},
		{"张三", "张三"},
		{"ÄÖ", "ÄÖ"}, // not ASCII: SQLite's NOCASE leaves it, so must we
		{"", ""},
	}
	for _, tt := range tests {
		if got := models.FoldCase(tt.in); got != tt.want {
			t.Errorf("FoldCase(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
