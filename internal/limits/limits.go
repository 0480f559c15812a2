// Package limits holds the length limits that urlbuild checks and the flow
// cookie relies on, in one place: together they keep a full set of flows
// well inside the 4096-byte cookie limit (SECURITY.md C4).
package limits

const (
	// Next is the longest `next` path, in bytes.
	Next = 1024
	// ReturnURI is the longest return URI (redirectUri), in bytes.
	ReturnURI = 512
	// Intent is the longest handoff intent, in bytes.
	Intent = 64
)
