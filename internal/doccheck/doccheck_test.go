// Package doccheck holds tests that keep the repository's docs honest: every
// citation of a rule, a contract section or a doc resolves inside the
// repository, and every name of the kit's packages that a doc mentions
// exists.
package doccheck

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// root is the repository's top directory: the one holding go.work.
func root(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.work above the test's directory")
		}
		dir = parent
	}
}

// file is one .go or .md file of the repository, its text with Go comment
// markers and line breaks folded into spaces, so a citation that wraps
// reads as one.
type file struct {
	rel  string // slash-separated, from the root
	raw  string
	flat string
}

var goComment = regexp.MustCompile(`\n[ \t]*//[ \t]?`)
var spaces = regexp.MustCompile(`\s+`)

// sources returns every .go and .md file under the root, skipping .git and
// testdata.
func sources(t *testing.T, top string) []file {
	t.Helper()
	var out []file
	err := filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		ext := filepath.Ext(p)
		if d.IsDir() || (ext != ".go" && ext != ".md") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(top, p)
		raw := string(b)
		flat := raw
		if ext == ".go" {
			flat = goComment.ReplaceAllString(flat, " ")
		}
		out = append(out, file{rel: filepath.ToSlash(rel), raw: raw, flat: spaces.ReplaceAllString(flat, " ")})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 50 {
		t.Fatalf("found only %d .go and .md files under %s", len(out), top)
	}
	return out
}

// headings reads a markdown file's headings (outside code fences): their
// GitHub anchors, their texts, and the numbers of numbered ones ("## 3. ...").
type headings struct {
	anchors, texts, numbers map[string]bool
}

var numbered = regexp.MustCompile(`^([0-9]+)\.\s`)

func readHeadings(md string) headings {
	h := headings{map[string]bool{}, map[string]bool{}, map[string]bool{}}
	fence := false
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "```") {
			fence = !fence
			continue
		}
		if fence || !strings.HasPrefix(line, "#") {
			continue
		}
		text := strings.TrimSpace(strings.TrimLeft(line, "#"))
		h.texts[text] = true
		h.anchors[anchor(text)] = true
		if m := numbered.FindStringSubmatch(text); m != nil {
			h.numbers[m[1]] = true
		}
	}
	return h
}

// anchor is GitHub's anchor for a heading: lower case, spaces to hyphens,
// punctuation other than '-' and '_' dropped.
func anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// rules reads the rule ids of docs/SECURITY.md: "A1" is item 1 of "## A.".
func rules(md string) map[string]bool {
	ids := map[string]bool{}
	letter := ""
	item := regexp.MustCompile(`^([0-9]+)\. `)
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "## ") {
			letter = ""
			if len(line) > 4 && line[4] == '.' {
				letter = line[3:4]
			}
		}
		if m := item.FindStringSubmatch(line); m != nil && letter != "" {
			ids[letter+m[1]] = true
		}
	}
	return ids
}

// expand turns a list of ids ("B1-B5", "A2 to A4", "D3, D4 and D5", "1, 2")
// into each id; an id without a letter takes the previous id's.
func expand(list string) []string {
	var out []string
	letter, last, isRange := "", 0, false
	for _, tok := range listToken.FindAllString(list, -1) {
		if tok == "-" || tok == "–" || tok == "to" {
			isRange = true
			continue
		}
		if tok == "," || tok == "and" || tok == "or" {
			continue
		}
		if tok[0] < '0' || tok[0] > '9' {
			letter, tok = tok[:1], tok[1:]
		}
		var n int
		fmt.Sscan(tok, &n)
		for i := last + 1; isRange && i < n; i++ {
			out = append(out, fmt.Sprintf("%s%d", letter, i))
		}
		out = append(out, fmt.Sprintf("%s%d", letter, n))
		last, isRange = n, false
	}
	return out
}

var listToken = regexp.MustCompile(`[A-Z]?[0-9]+|,|-|–|\band\b|\bor\b|\bto\b`)

var (
	// "SECURITY.md E3", "docs/SECURITY.md B1-B5", "SECURITY A6", "SECURITY.md D3, D4, D5".
	ruleCite = regexp.MustCompile(`\bSECURITY(?:\.md)? ([A-Z][0-9]+(?:(?:, | and | or | to |-|–)[A-Z]?[0-9]+\b)*)`)
	// "BLUENEXUS.md section 6", "docs/BLUENEXUS.md sections 1, 2 and 6", "BLUENEXUS.md 6".
	contractCite = regexp.MustCompile(`\bBLUENEXUS(?:\.md)? (?:sections? )?([0-9]+(?:(?:, | and | or | to |-)[0-9]+\b)*)`)
	// Any other doc: a path ending in .md, with an optional anchor, then an
	// optional "section N" or `, "Heading"`.
	docCite = regexp.MustCompile(`((?:\.\.?/)*(?:[A-Za-z0-9_-]+/)*[A-Za-z0-9_.-]+\.md)(#[A-Za-z0-9_-]+)?(?:,? sections? ([0-9]+)|, "([^"]+)")?`)
)

// TestCitationsResolve: every citation of a rule ("docs/SECURITY.md E3"), a
// contract section ("docs/BLUENEXUS.md section 6"), a doc, a doc's anchor,
// numbered section or quoted heading, in any .go or .md file, names something
// that exists in the repository.
func TestCitationsResolve(t *testing.T) {
	top := root(t)
	files := sources(t, top)
	read := func(rel string) string {
		b, err := os.ReadFile(filepath.Join(top, filepath.FromSlash(rel)))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	ruleIDs := rules(read("docs/SECURITY.md"))
	for _, id := range []string{"A1", "A9", "B7", "C5", "D5", "E1", "E9"} {
		if !ruleIDs[id] {
			t.Fatalf("docs/SECURITY.md has no rule %s: the rule reader is broken or the rules moved", id)
		}
	}
	contract := readHeadings(read("docs/BLUENEXUS.md"))
	for n := 1; n <= 6; n++ {
		if !contract.numbers[fmt.Sprint(n)] {
			t.Fatalf("docs/BLUENEXUS.md has no section %d", n)
		}
	}
	docs := map[string]headings{}
	resolve := func(from, path string) (string, bool) {
		for _, rel := range []string{
			filepath.ToSlash(filepath.Join(filepath.Dir(from), path)),
			filepath.ToSlash(filepath.Clean(path)),
			"docs/" + filepath.Base(path),
		} {
			if _, err := os.Stat(filepath.Join(top, filepath.FromSlash(rel))); err == nil {
				return rel, true
			}
		}
		return "", false
	}
	var cites int
	for _, f := range files {
		for _, m := range ruleCite.FindAllStringSubmatch(f.flat, -1) {
			cites++
			for _, id := range expand(m[1]) {
				if !ruleIDs[id] {
					t.Errorf("%s: %q: docs/SECURITY.md has no rule %s", f.rel, m[0], id)
				}
			}
		}
		for _, m := range contractCite.FindAllStringSubmatch(f.flat, -1) {
			cites++
			for _, n := range expand(m[1]) {
				if !contract.numbers[n] {
					t.Errorf("%s: %q: docs/BLUENEXUS.md has no section %s", f.rel, m[0], n)
				}
			}
		}
		for _, loc := range docCite.FindAllStringSubmatchIndex(f.flat, -1) {
			if loc[0] > 0 && strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:-", rune(f.flat[loc[0]-1])) {
				continue // part of a URL or a longer name
			}
			sub := func(i int) string {
				if loc[2*i] < 0 {
					return ""
				}
				return f.flat[loc[2*i]:loc[2*i+1]]
			}
			cites++
			rel, ok := resolve(f.rel, sub(1))
			if !ok {
				t.Errorf("%s: %q: no such file in the repository", f.rel, sub(0))
				continue
			}
			h, seen := docs[rel]
			if !seen {
				h = readHeadings(read(rel))
				docs[rel] = h
			}
			if a := sub(2); a != "" && !h.anchors[a[1:]] {
				t.Errorf("%s: %q: %s has no heading with anchor %s", f.rel, sub(0), rel, a)
			}
			if n := sub(3); n != "" && !h.numbers[n] {
				t.Errorf("%s: %q: %s has no section %s", f.rel, sub(0), rel, n)
			}
			if q := sub(4); q != "" && !h.texts[q] {
				t.Errorf("%s: %q: %s has no heading %q", f.rel, sub(0), rel, q)
			}
		}
	}
	t.Logf("checked %d citations", cites)
	if cites < 100 {
		t.Errorf("found only %d citations: the patterns no longer match how the repository cites", cites)
	}
}

// kitPackages are the kit's packages that docs name as pkg.Name, by the
// directory that holds each.
var kitPackages = map[string]string{
	"bluenexus":     "bluenexus",
	"bluenexustest": "bluenexus/bluenexustest",
	"handlers":      "handlers",
	"session":       "session",
	"redisflow":     "session/redisflow",
	"pgtokens":      "pgtokens",
	"middleware":    "middleware",
	"urlbuild":      "internal/urlbuild",
	"metrics":       "metrics",
	"tracing":       "tracing",
}

// exported reads a package's exported names from its non-test files: "Name"
// for top-level declarations and "Type.Name" for methods and fields.
func exported(t *testing.T, dir string) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil {
					names[d.Name.Name] = true
					continue
				}
				typ := d.Recv.List[0].Type
				if s, ok := typ.(*ast.StarExpr); ok {
					typ = s.X
				}
				switch x := typ.(type) {
				case *ast.IndexExpr:
					typ = x.X
				case *ast.IndexListExpr:
					typ = x.X
				}
				if id, ok := typ.(*ast.Ident); ok {
					names[id.Name+"."+d.Name.Name] = true
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.ValueSpec:
						for _, n := range s.Names {
							names[n.Name] = true
						}
					case *ast.TypeSpec:
						names[s.Name.Name] = true
						var fields *ast.FieldList
						switch x := s.Type.(type) {
						case *ast.StructType:
							fields = x.Fields
						case *ast.InterfaceType:
							fields = x.Methods
						}
						if fields == nil {
							continue
						}
						for _, fl := range fields.List {
							for _, n := range fl.Names {
								names[s.Name.Name+"."+n.Name] = true
							}
							if len(fl.Names) == 0 { // embedded: its name
								typ := fl.Type
								if st, ok := typ.(*ast.StarExpr); ok {
									typ = st.X
								}
								switch x := typ.(type) {
								case *ast.Ident:
									names[s.Name.Name+"."+x.Name] = true
								case *ast.SelectorExpr:
									names[s.Name.Name+"."+x.Sel.Name] = true
								}
							}
						}
					}
				}
			}
		}
	}
	return names
}

var (
	codeSpan = regexp.MustCompile("(?s)```.*?```|`[^`\n]+`")
	bareName = regexp.MustCompile("^`(?:((?:Err|With|New)[A-Z][A-Za-z0-9_]*)|([A-Z][A-Za-z0-9_]*)(\\.[A-Z][A-Za-z0-9_]*)|((?:Test|Benchmark|Fuzz)[A-Z][A-Za-z0-9_]*))(?:\\(.*\\))?`$")
	docLink  = regexp.MustCompile(`\[\*?([a-z]+\.[A-Z][A-Za-z0-9_]*(?:\.[A-Z][A-Za-z0-9_]*)?)\]`)
	kitName  = regexp.MustCompile(`(?:^|[^A-Za-z0-9_./])(bluenexustest|bluenexus|handlers|session|redisflow|pgtokens|middleware|urlbuild|metrics|tracing)\.([A-Z][A-Za-z0-9_]*)(?:\.([A-Z][A-Za-z0-9_]*))?`)
)

// TestNamesExist: every pkg.Name (and pkg.Type.Name) of the kit's packages
// that a doc names in backticks, or a Go doc comment names as a [doc link],
// exists. CHANGELOG.md is left out: it names removed names on purpose.
func TestNamesExist(t *testing.T) {
	top := root(t)
	pkgs := map[string]map[string]bool{}
	for name, dir := range kitPackages {
		pkgs[name] = exported(t, filepath.Join(top, dir))
		if len(pkgs[name]) == 0 {
			t.Fatalf("package %s (%s) has no exported names", name, dir)
		}
	}
	var checked int
	check := func(where, text string) {
		for _, m := range kitName.FindAllStringSubmatch(text, -1) {
			names := pkgs[m[1]]
			checked++
			switch {
			case !names[m[2]]:
				t.Errorf("%s: %s.%s does not exist", where, m[1], m[2])
			case m[3] != "" && !names[m[2]+"."+m[3]] && startsUpper(m[3]) && isType(names, m[2]):
				t.Errorf("%s: %s.%s.%s does not exist", where, m[1], m[2], m[3])
			}
		}
	}
	// A bare `ErrX`, `WithX` or `NewX`, or `Type.Name` for a type of the
	// kit: it exists in some package of the kit. A `TestX`, `BenchmarkX` or
	// `FuzzX`: some test file has it.
	tests := testFuncs(t, top)
	anywhere := func(where, span string) {
		m := bareName.FindStringSubmatch(span)
		if m == nil {
			return
		}
		checked++
		found, typed := false, false
		for _, names := range pkgs {
			switch {
			case m[1] != "" && names[m[1]]:
				found = true
			case m[2] != "" && names[m[2]] && isType(names, m[2]):
				typed = true
				found = found || names[m[2]+m[3]]
			}
		}
		switch {
		case m[4] != "" && !tests[m[4]]:
			t.Errorf("%s: no test file has `%s`", where, m[4])
		case m[1] != "" && !found:
			t.Errorf("%s: `%s` is not a name of the kit's packages", where, m[1])
		case typed && !found:
			t.Errorf("%s: `%s%s` is not a name of the kit's packages", where, m[2], m[3])
		}
	}
	for _, f := range sources(t, top) {
		switch {
		case f.rel == "CHANGELOG.md":
		case strings.HasSuffix(f.rel, ".md"):
			for _, span := range codeSpan.FindAllString(f.raw, -1) {
				check(f.rel, span)
				anywhere(f.rel, span)
			}
		default:
			for _, m := range docLink.FindAllStringSubmatch(f.raw, -1) {
				check(f.rel, " "+m[1])
			}
		}
	}
	t.Logf("checked %d names", checked)
	if checked < 100 {
		t.Errorf("checked only %d names: the patterns no longer match how the docs name things", checked)
	}
}

// testFuncs returns the names of the Test, Benchmark and Fuzz functions of
// every test file under top.
func testFuncs(t *testing.T, top string) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	decl := regexp.MustCompile(`(?m)^func ((?:Test|Benchmark|Fuzz)[A-Za-z0-9_]*)\(`)
	err := filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, "_test.go") {
			return err
		}
		b, err := os.ReadFile(p)
		for _, m := range decl.FindAllStringSubmatch(string(b), -1) {
			names[m[1]] = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func startsUpper(s string) bool { return s != "" && s[0] >= 'A' && s[0] <= 'Z' }

// isType reports whether name has methods or fields among names, so that
// name.X is a selector on a type rather than on a value.
func isType(names map[string]bool, name string) bool {
	for k := range names {
		if strings.HasPrefix(k, name+".") {
			return true
		}
	}
	return false
}

// TestExpand pins how cited id lists are read.
func TestExpand(t *testing.T) {
	for in, want := range map[string][]string{
		"E3":         {"E3"},
		"B1-B5":      {"B1", "B2", "B3", "B4", "B5"},
		"A2 to A4":   {"A2", "A3", "A4"},
		"D3, D4, D5": {"D3", "D4", "D5"},
		"A3 and A6":  {"A3", "A6"},
		"1, 2 and 6": {"1", "2", "6"},
		"1 and 3":    {"1", "3"},
	} {
		if got := expand(in); !slices.Equal(got, want) {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCheckersFail: the checkers find a rule, a section, a file, an anchor
// and a heading that do not exist, so the tests above can fail.
func TestCheckersFail(t *testing.T) {
	ids := rules("## E. Tokens\n\n1. one\n2. two\n")
	if !ids["E2"] || ids["E3"] {
		t.Errorf("rules: %v", ids)
	}
	h := readHeadings("# Top\n\n## 3. What the operator sees\n```\n# not a heading\n```\n### Check it through your proxies\n")
	if !h.numbers["3"] || h.numbers["4"] || !h.anchors["check-it-through-your-proxies"] || h.texts["not a heading"] || !h.texts["Check it through your proxies"] {
		t.Errorf("headings: %+v", h)
	}
	if m := ruleCite.FindStringSubmatch("(docs/SECURITY.md E6 and E8 at the routes)"); m == nil || m[1] != "E6 and E8" {
		t.Errorf("rule citation: %q", m)
	}
	if m := contractCite.FindStringSubmatch("(BLUENEXUS.md sections 1, 2 and 6)."); m == nil || m[1] != "1, 2 and 6" {
		t.Errorf("contract citation: %q", m)
	}
	if m := docCite.FindStringSubmatch(`see docs/client-ip.md, "Check it through your proxies"`); m == nil || m[4] != "Check it through your proxies" {
		t.Errorf("doc citation: %q", m)
	}
	if !kitName.MatchString("`bluenexus.TokenSource`") || kitName.MatchString("`chi/middleware.Recoverer`") {
		t.Error("kit name pattern")
	}
}

// TestTestingGuideExample: the first go block of docs/testing.md is
// Example_integration of bluenexustest, which `go test` runs and checks
// against its Output, so the guide's first test is one that passes.
func TestTestingGuideExample(t *testing.T) {
	top := root(t)
	guide, err := os.ReadFile(filepath.Join(top, "docs", "testing.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(guide), "```go\n")
	block, _, closed := strings.Cut(rest, "```\n")
	if !ok || !closed || !strings.HasPrefix(block, "func Example_integration() {") {
		t.Fatal("docs/testing.md's first go block is not func Example_integration")
	}
	src, err := os.ReadFile(filepath.Join(top, "bluenexus", "bluenexustest", "example_integration_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), "\n"+block) {
		t.Error("docs/testing.md's Example_integration differs from bluenexus/bluenexustest/example_integration_test.go; copy the function into the guide")
	}
}
