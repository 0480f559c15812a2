package urlbuild

import (
	"errors"
	"fmt"
	"strings"
)

// Allowlist is a fixed set of return URIs, matched by exact string
// (SECURITY.md B6). It is safe for concurrent use.
type Allowlist struct {
	set map[string]struct{}
}

// NewAllowlist returns an allowlist of uris. Each must pass [CheckReturnURI];
// the first that does not stops construction with an error naming its
// position and wrapping [ErrUnsafeURI]. An empty list is an error too.
func NewAllowlist(uris ...string) (*Allowlist, error) {
	if len(uris) == 0 {
		return nil, errors.New("urlbuild: NewAllowlist: no URIs")
	}
	set := make(map[string]struct{}, len(uris))
	for i, u := range uris {
		if err := CheckReturnURI(u); err != nil {
			return nil, &entryError{index: i, err: err}
		}
		set[u] = struct{}{}
	}
	return &Allowlist{set: set}, nil
}

// Contains reports whether uri is in the list, byte for byte: nothing is
// normalised, so "https://app.example/x/" does not match
// "https://app.example/x", nor "HTTPS://app.example/x". A nil list contains
// nothing.
func (a *Allowlist) Contains(uri string) bool {
	if a == nil {
		return false
	}
	_, ok := a.set[uri]
	return ok
}

// entryError names the allowlist entry that failed [CheckReturnURI].
type entryError struct {
	index int
	err   error
}

func (e *entryError) Error() string {
	return fmt.Sprintf("urlbuild: allowlist entry %d: %s", e.index, strings.TrimPrefix(e.err.Error(), "urlbuild: "))
}

func (e *entryError) Unwrap() error { return e.err }
