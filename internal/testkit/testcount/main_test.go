package main

import (
	"strings"
	"testing"
)

// ev builds one go test -json line.
func ev(action, pkg, test, output string) string {
	line := `{"Action":"` + action + `","Package":"` + pkg + `"`
	if test != "" {
		line += `,"Test":"` + test + `"`
	}
	if output != "" {
		line += `,"Output":` + strings.ReplaceAll(`"`+strings.ReplaceAll(output, "\n", `\n`)+`"`, "\t", `\t`)
	}
	return line + "}\n"
}

// run counts the events with o and returns the report and exit status.
func run(o options, events ...string) (string, int) {
	var out strings.Builder
	code := count(strings.NewReader(strings.Join(events, "")), &out, o)
	return out.String(), code
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// TestCountsAndClosingLine: tests and subtests are counted, a failing
// test's output is printed and a passing one's is not, and the last line is
// "N passed, N failed, N skipped".
func TestCountsAndClosingLine(t *testing.T) {
	out, code := run(options{},
		ev("run", "p", "TestA", ""), ev("output", "p", "TestA", "    a_test.go:3: quiet\n"), ev("pass", "p", "TestA", ""),
		ev("run", "p", "TestB", ""), ev("output", "p", "TestB", "    b_test.go:9: boom\n"), ev("fail", "p", "TestB", ""),
		ev("run", "p", "TestC", ""), ev("run", "p", "TestC/x", ""), ev("output", "p", "TestC/x", "    c_test.go:1: no redis\n"),
		ev("skip", "p", "TestC/x", ""), ev("pass", "p", "TestC", ""),
		ev("output", "p", "", "FAIL\tp\t0.1s\n"), ev("fail", "p", "", ""),
	)
	if code != 1 || lastLine(out) != "2 passed, 1 failed, 1 skipped" {
		t.Errorf("exit %d, report:\n%s", code, out)
	}
	if strings.Contains(out, "quiet") || !strings.Contains(out, "boom") || !strings.Contains(out, "p TestC/x: c_test.go:1: no redis") {
		t.Errorf("report:\n%s", out)
	}
}

// TestCIFailsOnSkipsAndEmptyPackages: a skip passes locally and fails
// under CI; so does an expected package that ran no test. A package that
// did not run at all, or failed to build, fails everywhere.
func TestCIFailsOnSkipsAndEmptyPackages(t *testing.T) {
	skip := []string{ev("run", "p", "TestA", ""), ev("skip", "p", "TestA", ""), ev("pass", "p", "", "")}
	if _, code := run(options{expect: []string{"p"}}, skip...); code != 0 {
		t.Errorf("a skip without CI: exit %d, want 0", code)
	}
	if out, code := run(options{ci: true, expect: []string{"p"}}, skip...); code != 1 || !strings.Contains(out, "skipped under CI=true") {
		t.Errorf("a skip under CI: exit %d, report:\n%s", code, out)
	}
	empty := []string{ev("output", "p", "", "ok  \tp\t0.01s [no tests to run]\n"), ev("pass", "p", "", "")}
	if _, code := run(options{expect: []string{"p"}}, empty...); code != 0 {
		t.Errorf("an empty package without CI: exit %d, want 0", code)
	}
	if out, code := run(options{ci: true, expect: []string{"p"}}, empty...); code != 1 || !strings.Contains(out, "p has test files but ran no test") {
		t.Errorf("an empty package under CI: exit %d, report:\n%s", code, out)
	}
	if out, code := run(options{expect: []string{"p", "q"}}, ev("run", "p", "TestA", ""), ev("pass", "p", "TestA", ""), ev("pass", "p", "", "")); code != 1 || !strings.Contains(out, "q has test files but did not run") {
		t.Errorf("a package left out: exit %d, report:\n%s", code, out)
	}
	out, code := run(options{}, `{"Action":"build-output","ImportPath":"q [q.test]","Output":"q/a_test.go:1:1: syntax error\n"}`+"\n", ev("output", "q", "", "FAIL\tq [build failed]\n"), ev("fail", "q", "", ""))
	if code != 1 || !strings.Contains(out, "syntax error") || lastLine(out) != "0 passed, 1 failed, 0 skipped" {
		t.Errorf("a build failure: exit %d, report:\n%s", code, out)
	}
}
