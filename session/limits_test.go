package session

import (
	"testing"

	"github.com/handoffkit/handoffkit/urlbuild"
)

// TestLimitsMatchURLBuild keeps every next path and return URI that urlbuild
// accepts storable in a flow.
func TestLimitsMatchURLBuild(t *testing.T) {
	if MaxNextLength != urlbuild.MaxNextLength || MaxReturnURILength != urlbuild.MaxReturnURILength {
		t.Fatalf("session limits %d/%d, urlbuild %d/%d", MaxNextLength, MaxReturnURILength,
			urlbuild.MaxNextLength, urlbuild.MaxReturnURILength)
	}
}
