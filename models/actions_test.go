package models_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/latchkey/latchkey/models"
)

// TestEveryActionIsListed: every audited action declared in models is in
// AllActions, so the audit page's filter accepts it (a new action added
// elsewhere, such as the streams page's, was once refused by the filter).
func TestEveryActionIsListed(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var declared []string
	for _, f := range files {
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok {
				return true
			}
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Action" {
				return true
			}
			for _, v := range vs.Values {
				if lit, ok := v.(*ast.BasicLit); ok {
					s, _ := strconv.Unquote(lit.Value)
					declared = append(declared, s)
				}
			}
			return true
		})
	}
	if len(declared) < 10 {
		t.Fatalf("found only %d Action constants; the test reads the wrong files", len(declared))
	}
	for _, a := range declared {
		if !slices.Contains(models.AllActions, models.Action(a)) {
			t.Errorf("action %q is declared but missing from AllActions", a)
		}
		if _, err := models.ParseAction(a); err != nil {
			t.Errorf("ParseAction(%q): %v", a, err)
		}
	}
}
