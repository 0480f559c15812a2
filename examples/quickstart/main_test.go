package main

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeQuickStart: the README's first go block is this file, byte for
// byte, so the quick start people copy is the program `go build ./...`
// compiles.
func TestReadmeQuickStart(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```go\n")
	block, _, closed := strings.Cut(rest, "```\n")
	if !ok || !closed {
		t.Fatal("README.md has no ```go block")
	}
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	if block != string(src) {
		t.Errorf("the README's first go block differs from examples/quickstart/main.go; copy main.go into the README")
	}
}

// TestMainFitsOneScreen: main, the part people copy, is at most 35 lines
// without comments and blank lines.
func TestMainFitsOneScreen(t *testing.T) {
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	_, body, ok := strings.Cut(string(src), "\nfunc main() {\n")
	body, _, closed := strings.Cut(body, "\n}\n")
	if !ok || !closed {
		t.Fatal("main.go has no func main")
	}
	n := 2 // the func line and the closing brace
	for _, line := range strings.Split(body, "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "//") {
			n++
		}
	}
	if n > 35 {
		t.Errorf("main is %d lines without comments and blank lines, want at most 35", n)
	}
}
