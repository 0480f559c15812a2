// Command testcount reads `go test -json` on stdin, prints what plain
// `go test` prints (the output of failing tests and one line per package;
// every line with -v), and ends with a line CI reads:
//
//	N passed, N failed, N skipped
//
// It exits 1 when a test or a package failed, or a package of -expect (one
// import path a line: the packages with test files) did not pass. With -ci
// it also fails on a skipped test and on an expected package that ran no
// test. scripts/test.sh runs it.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

func main() {
	ci := flag.Bool("ci", false, "fail on a skipped test and on a package that ran no test")
	verbose := flag.Bool("v", false, "print every test's output")
	expect := flag.String("expect", "", "file of the import paths that have test files")
	flag.Parse()
	var want []string
	if *expect != "" {
		b, err := os.ReadFile(*expect)
		if err != nil {
			fmt.Fprintln(os.Stderr, "testcount:", err)
			os.Exit(2)
		}
		want = strings.Fields(string(b))
	}
	os.Exit(count(os.Stdin, os.Stdout, options{ci: *ci, verbose: *verbose, expect: want}))
}

type options struct {
	ci, verbose bool
	expect      []string
}

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	ImportPath string // build-output events
	Test       string
	Output     string
}

type pkgState struct {
	result string // pass, fail or skip (no test files); "" if none came
	ran    int    // tests, subtests and examples that ran
	failed bool   // one of its tests failed
}

// count reads events from r, writes the report to w and returns the exit
// status.
func count(r io.Reader, w io.Writer, o options) int {
	pkgs := map[string]*pkgState{}
	pkg := func(name string) *pkgState {
		if pkgs[name] == nil {
			pkgs[name] = &pkgState{}
		}
		return pkgs[name]
	}
	held := map[string][]string{} // output of running tests, by package and test
	var passed, failed, skipped int
	var skips, problems []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil || e.Action == "" {
			fmt.Fprintln(w, string(line)) // not an event: go's own error text
			continue
		}
		key := e.Package + " " + e.Test
		switch {
		case e.Action == "build-output":
			fmt.Fprint(w, e.Output)
		case e.Test == "" && e.Action == "output":
			if o.verbose || !(e.Output == "PASS\n" || strings.HasPrefix(e.Output, "=== ")) {
				fmt.Fprint(w, e.Output)
			}
		case e.Test == "" && (e.Action == "pass" || e.Action == "fail" || e.Action == "skip"):
			pkg(e.Package).result = e.Action
		case e.Action == "run":
			pkg(e.Package).ran++
		case e.Action == "output":
			if o.verbose {
				fmt.Fprint(w, e.Output)
			} else {
				held[key] = append(held[key], e.Output)
			}
		case e.Action == "pass":
			passed++
			delete(held, key)
		case e.Action == "fail":
			failed++
			pkg(e.Package).failed = true
			if !o.verbose {
				fmt.Fprint(w, strings.Join(held[key], ""))
			}
			delete(held, key)
		case e.Action == "skip":
			skipped++
			skips = append(skips, fmt.Sprintf("%s %s%s", e.Package, e.Test, reason(held[key])))
			delete(held, key)
		}
	}
	if err := sc.Err(); err != nil {
		problems = append(problems, "reading go test -json: "+err.Error())
	}
	// A package that failed with no failing test: a build failure, a
	// crash or a timeout outside any test.
	for name, p := range pkgs {
		if p.result == "fail" && !p.failed {
			failed++
			problems = append(problems, name+" failed outside any test (build, crash or timeout)")
		}
	}
	for _, name := range o.expect {
		p := pkgs[name]
		switch {
		case p == nil || p.result == "":
			problems = append(problems, name+" has test files but did not run")
		case p.result == "pass" && p.ran == 0 && o.ci:
			problems = append(problems, name+" has test files but ran no test")
		}
	}
	slices.Sort(skips)
	slices.Sort(problems)
	if len(skips) > 0 {
		fmt.Fprintln(w, "skipped:")
		for _, s := range skips {
			fmt.Fprintln(w, "  "+s)
		}
		if o.ci {
			problems = append(problems, fmt.Sprintf("skipped under CI=true: %d (a test that cannot run must fail)", len(skips)))
		}
	}
	for _, p := range problems {
		fmt.Fprintln(w, "test:", p)
	}
	fmt.Fprintf(w, "%d passed, %d failed, %d skipped\n", passed, failed, skipped)
	if failed > 0 || len(problems) > 0 {
		return 1
	}
	return 0
}

// reason is a skipped test's message, on one line: its output other than
// the "=== RUN" and "--- SKIP" lines.
func reason(out []string) string {
	var msg []string
	for _, l := range out {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "=== ") && !strings.HasPrefix(t, "--- SKIP") {
			msg = append(msg, t)
		}
	}
	if len(msg) == 0 {
		return ""
	}
	return ": " + strings.Join(msg, " ")
}
