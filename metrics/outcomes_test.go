package metrics

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/handoffkit/handoffkit/handlers"
)

// TestOutcomesAreTheHandlers: the outcome label values are exactly the
// constants of type handlers.Outcome, read from the handlers' source, so a
// new outcome there fails here until metrics counts it.
func TestOutcomesAreTheHandlers(t *testing.T) {
	files, err := filepath.Glob("../handlers/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("handlers source: %v", err)
	}
	var declared []handlers.Outcome
	fset := token.NewFileSet()
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Outcome" {
					continue
				}
				for _, v := range vs.Values {
					s, err := strconv.Unquote(v.(*ast.BasicLit).Value)
					if err != nil {
						t.Fatal(err)
					}
					declared = append(declared, handlers.Outcome(s))
				}
			}
		}
	}
	got := slices.Clone(outcomes)
	slices.Sort(got)
	slices.Sort(declared)
	if len(declared) < 20 || !slices.Equal(got, declared) {
		t.Fatalf("metrics counts outcomes %v,\nhandlers declares %v", got, declared)
	}
}
