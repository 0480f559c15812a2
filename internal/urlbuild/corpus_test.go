package urlbuild

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// openRedirectsFile is the shared corpus of open-redirect payloads; its header
// documents the format.
var openRedirectsFile = filepath.Join("..", "..", "testdata", "open-redirects.txt")

// readOpenRedirects returns the corpus entries by section.
func readOpenRedirects(t testing.TB) map[string][]string {
	t.Helper()
	f, err := os.Open(openRedirectsFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sections := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
		default:
			v, err := strconv.Unquote(line)
			if err != nil || !strings.HasPrefix(line, `"`) {
				t.Fatalf("%s:%d: not a Go double-quoted string: %s", openRedirectsFile, n, line)
			}
			if section == "" {
				t.Fatalf("%s:%d: entry before any [section]", openRedirectsFile, n)
			}
			sections[section] = append(sections[section], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return sections
}

// TestOpenRedirectCorpus_B6 runs every payload of testdata/open-redirects.txt
// through CheckNext and CheckReturnURI; none equals an allowlisted URI.
func TestOpenRedirectCorpus_B6(t *testing.T) {
	sections := readOpenRedirects(t)
	reject, nextOnly := sections["reject"], sections["next-only"]
	if len(reject) < 60 || len(nextOnly) < 5 || len(sections) != 2 {
		t.Fatalf("corpus has %d [reject] and %d [next-only] entries in %d sections; want >= 60, >= 5, exactly 2",
			len(reject), len(nextOnly), len(sections))
	}
	app := map[string]bool{"https://app.example/connections/return": true, "http://localhost:8080/connections/return": true, "myapp://connections": true}
	for _, p := range append(append([]string(nil), reject...), nextOnly...) {
		if err := CheckNext(p); err == nil {
			t.Errorf("CheckNext(%q) = %v, want a rejection", p, err)
		}
		if app[p] {
			t.Errorf("the app's allowlist contains %q", p)
		}
	}
	for _, p := range reject {
		if err := CheckReturnURI(p, false); err == nil {
			t.Errorf("[reject] CheckReturnURI(%q) = %v, want a rejection", p, err)
		}
	}
	for _, p := range nextOnly {
		if err := CheckReturnURI(p, false); err != nil {
			t.Errorf("[next-only] CheckReturnURI(%q) = %v: the entry belongs in [reject]", p, err)
		}
	}
}
