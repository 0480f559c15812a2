package browsertest

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// docsDir holds the committed walkthrough images, relative to this package.
const docsDir = "../../../docs/screenshots"

// docShots are the steps whose screenshots docs/demo.md shows, taken from
// the plain-http run (`make demo` serves plain http too).
var docShots = map[string]bool{
	"1-sign-in":           true,
	"2-home":              true,
	"3-white-label":       true,
	"4-back-home":         true,
	"5-bluenexus-error":   true,
	"6-return-used-twice": true,
}

// shotDir is where every run writes its screenshots: $HANDOFFKIT_SCREENSHOTS,
// or a new temporary folder that outlives the test so it can be looked at.
var shotDir = sync.OnceValues(func() (string, error) {
	dir := os.Getenv("HANDOFFKIT_SCREENSHOTS")
	if dir == "" {
		return os.MkdirTemp("", "handoffkit-screenshots-")
	}
	return dir, os.MkdirAll(dir, 0o755)
})

// shot saves a full-page screenshot of the tab as <run>-<name>.png. With
// -update-screenshots, a docShots step of the plain-http run is also written
// to docs/screenshots/<name>.png.
func (tb *tab) shot(t *testing.T, st *stack, name string) {
	t.Helper()
	dir, err := shotDir()
	if err != nil {
		t.Fatalf("screenshot folder: %v", err)
	}
	img, err := tb.fullPage()
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, st.name+"-"+name+".png"), img, 0o644); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if !*updateScreenshots || st.secure || !docShots[name] {
		return
	}
	if err := os.MkdirAll(docsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(docsDir, name+".png")
	if err := os.WriteFile(dst, img, 0o644); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	t.Logf("updated %s (%d KB)", dst, len(img)/1024)
}
