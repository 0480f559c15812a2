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
